import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import type { KafkaSaslOptions } from '../local/index.ts';
import { COMMANDS, type CommandName } from './options.ts';

const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

const SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'AWS_MSK_IAM'];

const VERBS: Record<CommandName, string> = {
  build: 'building',
  dev: 'running',
  produce: 'producing',
  record: 'recording',
  invoke: 'invoking',
  state: 'reading state of',
  events: 'converting',
  'dead-letters': 'reading the dead letters of',
};

/** Builds the CLI from the options table; exported so tests can parse without spawning. */
export function program(): Command {
  const cli = new Command('dogear')
    .description('Kafka consumers on AWS Lambda, with exactly-once state.')
    .version(VERSION, '-v, --version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (text, write) => write(`dogear: ${text}`) });
  for (const [name, spec] of Object.entries(COMMANDS) as [
    CommandName,
    (typeof COMMANDS)[CommandName],
  ][]) {
    const command = cli.command(`${name} ${spec.args}`.trim()).description(spec.summary);
    for (const flag of spec.flags) {
      const option = new Option(flag.flags, flag.description);
      if ('default' in flag && flag.default !== undefined && flag.default !== false)
        option.default(flag.default);
      if ('env' in flag && flag.env) option.env(flag.env as string);
      if ('required' in flag && flag.required) option.makeOptionMandatory();
      command.addOption(option);
    }
    command.addHelpText('after', `\nExample:\n  ${spec.example.replace(/\n/g, '\n  ')}`);
    // Commander passes the arguments, then the flags, then the command itself.
    command.action(async (...params: unknown[]) => {
      const flags = params.at(-2) as Record<string, unknown>;
      const arg = (spec.args ? params[0] : '') as string;
      const what = Array.isArray(arg)
        ? arg.join(', ') || 'all consumers'
        : arg || String(flags.topic ?? flags.consumer ?? '');
      try {
        await ACTIONS[name](arg, flags);
      } catch (error) {
        process.stderr.write(`dogear: error when ${VERBS[name]} ${what}: ${describe(error)}\n`);
        process.exitCode = 1;
      }
    });
  }
  return cli;
}

/**
 * The message, then each cause on its own line, without stack traces for our own errors. An
 * error that names several failures (`InvokeFailedError`) gets its headline, then one line each.
 */
function describe(error: unknown): string {
  const many = error as { headline?: unknown; failures?: unknown };
  if (
    error instanceof Error &&
    typeof many.headline === 'string' &&
    Array.isArray(many.failures) &&
    many.failures.length > 1
  ) {
    return [
      `${many.headline}:`,
      ...(many.failures as Error[]).map((failure) => `  - ${failure.message}`),
    ].join('\n');
  }
  const lines: string[] = [];
  let current: unknown = error;
  while (current instanceof Error && lines.length < 5) {
    const line = current.message;
    if (!lines.some((l) => l.includes(line))) lines.push(line);
    current = current.cause;
  }
  if (lines.length === 0) lines.push(String(error));
  return lines.join('\n  caused by: ');
}

function storeFlags(flags: Record<string, unknown>) {
  return {
    stateDir: flags.stateDir as string,
    ...(typeof flags.dynamodb === 'string' ? { dynamodb: flags.dynamodb } : {}),
    ...(typeof flags.dynamodbTable === 'string' ? { dynamodbTable: flags.dynamodbTable } : {}),
  };
}

/**
 * Brokers, TLS and SASL from the connection flags. With --cluster the brokers come from the MSK
 * API, for the mechanism asked for (IAM when the cluster offers it and none is asked for).
 */
async function kafkaConnection(
  flags: Record<string, unknown>,
): Promise<{ brokers: string[]; tls: boolean | { ca: string }; sasl?: KafkaSaslOptions }> {
  let brokers = String(flags.brokers)
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  let tls: boolean | { ca: string } = Boolean(flags.tls);
  if (typeof flags.tlsCa === 'string') tls = { ca: await readTlsCa(flags.tlsCa) };
  let mechanism = flags.saslMechanism as string | undefined;
  if (mechanism && !SASL_MECHANISMS.includes(mechanism)) {
    throw new Error(`--sasl-mechanism must be ${SASL_MECHANISMS.join(', ')}, not '${mechanism}'`);
  }
  if (typeof flags.cluster === 'string') {
    const { bootstrapBrokers, mskClient, resolveClusterArn } = await import('../serverless/msk.ts');
    const client = mskClient();
    const arn = flags.cluster.startsWith('arn:')
      ? flags.cluster
      : await resolveClusterArn(flags.cluster, client);
    const found = await bootstrapBrokers(arn, client);
    // Without a mechanism, IAM when the cluster offers it: MSK Serverless offers nothing else.
    mechanism ??= found.iam ? 'AWS_MSK_IAM' : undefined;
    const list =
      mechanism === 'AWS_MSK_IAM'
        ? found.iam
        : mechanism?.startsWith('SCRAM')
          ? found.scram
          : (found.tls ?? found.scram);
    if (!list) {
      throw new Error(
        `MSK cluster ${flags.cluster} offers no brokers for ${mechanism ?? 'TLS'}; pick another --sasl-mechanism`,
      );
    }
    brokers = list.split(',');
    tls ||= true;
  }
  if (!mechanism) return { brokers, tls };
  if (mechanism === 'AWS_MSK_IAM') return { brokers, tls, sasl: { mechanism: 'AWS_MSK_IAM' } };
  if (!flags.saslUsername || !flags.saslPassword) {
    throw new Error(
      `--sasl-mechanism ${mechanism} needs --sasl-username and --sasl-password (or DOGEAR_SASL_USERNAME and DOGEAR_SASL_PASSWORD)`,
    );
  }
  return {
    brokers,
    tls,
    sasl: {
      mechanism: mechanism as 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512',
      username: String(flags.saslUsername),
      password: String(flags.saslPassword),
    },
  };
}

/**
 * The deploy options `custom.dogear` in serverless.yml sets, so that `dogear dev` batches and
 * retries as the deployed mapping does. A missing default file means none; a named one must exist.
 */
async function deployFromServerless(named: string | undefined) {
  const file = named ?? 'serverless.yml';
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (named === undefined && (error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`--serverless ${file} cannot be read (${(error as Error).message})`);
  }
  const [{ parse }, { deployOverrides }] = await Promise.all([
    import('yaml'),
    import('../serverless/index.ts'),
  ]);
  // Short-form intrinsics (!Ref, !ImportValue) stay unresolved: only defaults and consumers matter.
  const doc = parse(text, { logLevel: 'silent' }) as { custom?: { dogear?: unknown } } | null;
  if (doc?.custom?.dogear === undefined) return undefined;
  try {
    return deployOverrides(doc.custom.dogear);
  } catch (error) {
    throw new Error(`${file}: ${(error as Error).message}`, { cause: error });
  }
}

async function readTlsCa(file: string): Promise<string> {
  const pem = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new Error(`--tls-ca ${file} cannot be read (${error.code ?? error.message})`);
  });
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new Error(`--tls-ca ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
  return pem;
}

/** The writer schema ids of --value-schema-id / --key-schema-id. */
async function schemaIdFlags(flags: Record<string, unknown>) {
  const { schemaIdOf } = await import('../local/index.ts');
  return {
    ...(typeof flags.valueSchemaId === 'string'
      ? { valueSchemaId: schemaIdOf(flags.valueSchemaId) }
      : {}),
    ...(typeof flags.keySchemaId === 'string'
      ? { keySchemaId: schemaIdOf(flags.keySchemaId) }
      : {}),
  };
}

/**
 * How `produce` and `events` encode NDJSON values given as JSON: with --consumer, through its
 * schema codecs; without it, not at all (and schema id flags alone are a mistake).
 */
async function encodingFlags(flags: Record<string, unknown>) {
  const ids = await schemaIdFlags(flags);
  if (typeof flags.consumer !== 'string') {
    if (Object.keys(ids).length > 0) {
      throw new Error(
        '--value-schema-id and --key-schema-id need --consumer <name>: its codecs write the values',
      );
    }
    return undefined;
  }
  const [{ findConsumer }, { encodingOf }] = await Promise.all([
    import('../build/index.ts'),
    import('../local/index.ts'),
  ]);
  const { definition } = await findConsumer(flags.consumer, flags.functions as string);
  return encodingOf(definition, ids, true);
}

const stderr = (line: string) => process.stderr.write(`${line}\n`);

/** Rows as columns on stdout, two spaces apart, the first row a header. */
function printTable(rows: readonly (readonly string[])[]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows) {
    process.stdout.write(
      `${row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd()}\n`,
    );
  }
}
const json = (value: unknown): void => {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
};

const ACTIONS: Record<CommandName, (arg: string, flags: Record<string, unknown>) => Promise<void>> =
  {
    async dev(consumers, flags) {
      const { dev } = await import('../local/index.ts');
      const stop = new AbortController();
      const onSignal = () => {
        stderr('stopping after the batches in flight (Ctrl-C again to force)');
        stop.abort();
        process.once('SIGINT', () => process.exit(130));
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const deploy = await deployFromServerless(flags.serverless as string | undefined);
      await dev({
        ...(await kafkaConnection(flags)),
        ...(deploy ? { deploy } : {}),
        consumers: consumers as unknown as string[],
        ...storeFlags(flags),
        functions: flags.functions as string,
        watch: flags.watch !== false,
        progress: stderr,
        log: flags.verbose ? stderr : () => {},
        signal: stop.signal,
      });
    },

    async record(_, flags) {
      const { recordTopic } = await import('../local/index.ts');
      const from = String(flags.from);
      const where =
        from === 'earliest' || from === 'latest'
          ? from
          : /^\d+$/.test(from)
            ? Number(from)
            : new Date(from);
      if (where instanceof Date && Number.isNaN(where.getTime())) {
        throw new Error(`--from '${from}' is not earliest, latest, an offset or an ISO 8601 time`);
      }
      if (flags.decode && typeof flags.consumer !== 'string') {
        throw new Error('--decode needs --consumer <name>: its key and value formats decode');
      }
      const found =
        typeof flags.consumer === 'string'
          ? await (await import('../build/index.ts')).findConsumer(
              flags.consumer,
              flags.functions as string,
            )
          : undefined;
      const topic = (flags.topic as string | undefined) ?? found?.definition.topic;
      if (!topic) throw new Error('Which topic? Pass --topic <topic>, or --consumer <name>');
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      const result = await recordTopic({
        ...(await kafkaConnection(flags)),
        topic,
        ...(flags.decode && found ? { decode: found.definition } : {}),
        from: where,
        ...(flags.max !== undefined ? { max: Number(flags.max) } : {}),
        idleMs: Number(flags.idleMs),
        ...(typeof flags.out === 'string' ? { out: flags.out } : {}),
        progress: stderr,
        signal: stop.signal,
      });
      stderr(
        `recorded ${result.records} records from ${result.partitions} partitions of ${result.topic}${result.file ? ` to ${result.file}` : ''} (stopped by ${result.stoppedBy}, ${result.durationMs} ms)`,
      );
    },

    async produce(file, flags) {
      const { produceRecords, readEventsFile } = await import('../local/index.ts');
      const parsed = await readEventsFile(file, await encodingFlags(flags));
      const all =
        parsed.kind === 'ndjson'
          ? parsed.records
          : parsed.events.flatMap((event) => Object.values(event.records).flat());
      const records = flags.topic ? all.filter((r) => r.topic === flags.topic) : all;
      const result = await produceRecords({
        ...(await kafkaConnection(flags)),
        records,
        progress: stderr,
      });
      stderr(`produced ${result.records} records to ${result.topics.join(', ')}`);
    },

    async 'dead-letters'(consumer, flags) {
      const [{ findConsumer }, { deadLetterLine, deadLetters }] = await Promise.all([
        import('../build/index.ts'),
        import('../local/index.ts'),
      ]);
      const { definition } = await findConsumer(consumer, flags.functions as string);
      const idleMs = Number(flags.idleMs);
      if (!Number.isSafeInteger(idleMs) || idleMs <= 0) {
        throw new Error(`--idle-ms ${flags.idleMs} is not a positive whole number of ms`);
      }
      const result = await deadLetters({
        ...(await kafkaConnection(flags)),
        consumer: definition,
        replay: Boolean(flags.replay),
        idleMs,
        progress: stderr,
      });
      for (const entry of result.deadLetters) {
        process.stdout.write(`${flags.json ? JSON.stringify(entry) : deadLetterLine(entry)}\n`);
      }
      stderr(
        `${result.consumer}: ${result.deadLetters.length} dead letters in ${result.topic}${flags.replay ? `, ${result.replayedNow} replayed now` : ''}`,
      );
    },

    async build(consumers, flags) {
      const { buildConsumers, kb } = await import('../build/index.ts');
      const sdk = flags.sdk as string;
      if (sdk !== 'bundle' && sdk !== 'runtime')
        throw new Error(`--sdk must be bundle or runtime, not '${sdk}'`);
      const runtime = flags.runtime as string;
      if (runtime !== 'nodejs22.x' && runtime !== 'nodejs24.x') {
        throw new Error(`--runtime must be nodejs22.x or nodejs24.x, not '${runtime}'`);
      }
      const manifest = await buildConsumers({
        outDir: flags.out as string,
        functions: flags.functions as string,
        consumers: consumers as unknown as string[],
        sdk,
        runtime,
        progress: stderr,
      });
      if (flags.json) return json(manifest);
      printTable([
        ['consumer', 'topic', 'group', 'size', 'gzip'],
        ...manifest.consumers.map((c) => [c.name, c.topic, c.group, kb(c.bytes), kb(c.gzipBytes)]),
      ]);
      stderr(`built ${manifest.consumers.length} bundles in ${manifest.durationMs} ms`);
    },

    async invoke(consumer, flags) {
      const { invokeLocal } = await import('../local/index.ts');
      const { summary, error } = await invokeLocal({
        consumer,
        events: flags.events as string,
        ...storeFlags(flags),
        reset: Boolean(flags.reset),
        functions: flags.functions as string,
        ...(flags.outputs ? { outputs: flags.outputs as string } : {}),
        ...(await schemaIdFlags(flags)),
        progress: stderr,
        log: flags.verbose ? stderr : () => {},
      });
      if (flags.json) json(summary);
      else {
        const { records, batches, invocations, processed, duplicates, failed, notRun } = summary;
        const retries = invocations - batches;
        stderr(
          `${summary.consumer}: ${records} records in ${batches} ${batches === 1 ? 'batch' : 'batches'}${retries > 0 ? ` (and ${retries} ${retries === 1 ? 'retry' : 'retries'})` : ''}: ${processed} processed, ${duplicates} duplicates, ${failed} failed${notRun > 0 ? `, ${notRun} not run` : ''}${summary.deadLettered ? `, ${summary.deadLettered} dead-lettered` : ''} (${summary.durationMs} ms)`,
        );
        if (summary.outputsFile) {
          stderr(
            `${summary.outputsRelayed} outputs and dead letters written to ${summary.outputsFile}`,
          );
        }
      }
      if (error) throw error;
    },

    async state(consumer, flags) {
      const { readOffsets, readTable } = await import('../local/index.ts');
      const where = {
        consumer,
        ...storeFlags(flags),
        functions: flags.functions as string,
      };
      if (flags.offsets) {
        const offsets = await readOffsets(where);
        if (flags.json) return json(offsets);
        const rows = offsets.partitions;
        if (rows.length === 0) {
          stderr(
            `${consumer}: no checkpoints for group ${offsets.group}: no record of ${offsets.topic} has been committed in this store yet`,
          );
          return;
        }
        printTable([
          ['partition', 'next offset', 'last processed'],
          ...rows.map((r) => [
            `${r.topic}-${r.partition}`,
            String(r.nextOffset),
            String(r.lastProcessedOffset),
          ]),
        ]);
        return;
      }
      if (typeof flags.table !== 'string')
        throw new Error("Which table? Pass --table <name> (ctx.state is 'state'), or --offsets");
      const value = await readTable({
        ...where,
        table: flags.table,
        key: flags.key as string | undefined,
      });
      if (flags.json || flags.key !== undefined) return json(value);
      for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
        process.stdout.write(`${key}\t${JSON.stringify(v)}\n`);
      }
    },

    async events(file, flags) {
      const { readEventsFile } = await import('../local/index.ts');
      const { eventsOf } = await import('../event/index.ts');
      const batchSize = Number(flags.batchSize);
      if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
        throw new Error(`--batch-size ${flags.batchSize} is not an integer from 1 to 10,000`);
      }
      const parsed = await readEventsFile(file, await encodingFlags(flags));
      if (parsed.kind === 'events') throw new Error(`${file} already holds event JSON`);
      const records = flags.topic
        ? parsed.records.filter((r) => r.topic === flags.topic)
        : parsed.records;
      const events = eventsOf(records, batchSize, {
        eventSource: flags.selfManaged ? 'SelfManagedKafka' : 'aws:kafka',
      });
      const text = `${JSON.stringify(events, null, 2)}\n`;
      if (typeof flags.out === 'string') {
        await writeFile(flags.out, text);
        stderr(`wrote ${events.length} events (${records.length} records) to ${flags.out}`);
      } else process.stdout.write(text);
    },
  };

/**
 * Runs the CLI, then exits once the command is done, as Lambda freezes a function's process
 * after it answers: a consumer module that holds a socket or a timer (a client at module
 * scope) must not keep `dogear invoke` alive after its summary.
 */
export async function main(argv: string[] = process.argv): Promise<void> {
  await program().parseAsync(argv);
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit();
}

/** Resolves once everything written to `stream` so far has been handed to the OS. */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => stream.write('', () => resolve()));
}
