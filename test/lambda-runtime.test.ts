/**
 * Bundles as `dogear build` writes them and `dogear/serverless` zips and configures them, run by
 * AWS's own Lambda runtime for Node.js (the native `aws-lambda-ric`) under AWS's runtime
 * interface emulator, with state on DynamoDB Local. Nothing here is skipped: without the client
 * or the emulator the suite fails and says how to install them (`npm test` installs them first).
 */
import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Admin } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { consoleConsume } from '../infra/kafka.ts';
import {
  type LambdaEmulator,
  type LambdaRuntime,
  LambdaRuntimeMissingError,
  requireLambdaRuntime,
  startLambdaEmulator,
} from '../infra/lambda-runtime.ts';
import { type BuiltConsumer, buildConsumers } from '../src/build/index.ts';
import { eventOf, eventRecordOf, type NdjsonRecord } from '../src/event/index.ts';
import type { DogearServerlessOptions } from '../src/serverless/index.ts';
import { planService, zipDirectory } from '../src/serverless/index.ts';
import { type DynamoStateStore, openDynamoStateStore } from '../src/state/index.ts';
import { wordCountOracle } from './fixtures/oracle.ts';
import { readZip } from './fixtures/serverless/zip-reader.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const fixtureRoot = fileURLToPath(new URL('./fixtures/lambda-runtime', import.meta.url));
/** Inside each root, so each bundle's path in its zip is what a deploy gives it. */
const outDir = `.dogear/lambda-runtime-test-${process.pid}`;

let scratch: string;
const started: LambdaEmulator[] = [];
/**
 * Asked for by each test rather than in beforeAll, so a missing runtime fails every test that
 * needs it with the install hint, where a failing hook would report them as skipped.
 */
let installed: Promise<LambdaRuntime> | undefined;
const runtime = () => {
  installed ??= requireLambdaRuntime();
  return installed;
};

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'dogear-lambda-runtime-'));
});

afterAll(async () => {
  await Promise.all(started.map((emulator) => emulator.stop()));
  await Promise.all(
    [repoRoot, fixtureRoot].map((root) => rm(join(root, outDir), { recursive: true, force: true })),
  );
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

interface Deployed {
  readonly consumer: BuiltConsumer;
  readonly emulator: LambdaEmulator;
  readonly store: DynamoStateStore;
}

/**
 * Builds one consumer, zips it and plans its function as `serverless package` does, unpacks the
 * zip into a task root as Lambda does, and starts the emulator on it with the function's
 * handler, memory, timeout and environment, its table on DynamoDB Local.
 */
async function deploy(
  root: string,
  name: string,
  custom: Omit<DogearServerlessOptions, 'table'> = {},
): Promise<Deployed> {
  const lambda = await runtime();
  const manifest = await buildConsumers({ root, outDir, consumers: [name] });
  const consumer = manifest.consumers[0]!;
  const table = `dogear-ric-${name}-${Date.now()}`;
  const plan = planService({
    manifest,
    options: { ...custom, table: { name: table } },
    service: {
      service: 'ric',
      stage: 'test',
      artifactDir: await mkdtemp(join(scratch, `${name}-artifacts-`)),
    },
  });
  const fn = plan.consumers[0]!.function;

  const artifact = fn.package.artifact;
  await zipDirectory(join(root, consumer.dir), root, artifact);
  const taskRoot = await mkdtemp(join(scratch, `${name}-task-`));
  for (const file of readZip(await readFile(artifact))) {
    const path = join(taskRoot, file.name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, file.data);
    if (file.mode) await chmod(path, file.mode & 0o777);
  }

  const environment: Record<string, string> = {};
  for (const [key, value] of Object.entries(fn.environment)) {
    if (typeof value !== 'string') throw new Error(`${fn.name}: ${key} is not a plain string`);
    environment[key] = value;
  }
  const endpoint = inject('dynamodbEndpoint');
  const store = await openDynamoStateStore({ endpoint, table });
  const emulator = await startLambdaEmulator({
    runtime: lambda,
    taskRoot,
    handler: fn.handler,
    functionName: fn.name,
    memorySize: fn.memorySize,
    timeout: fn.timeout,
    environment: {
      ...environment,
      // Only what differs from AWS: where DynamoDB is, and DynamoDB Local's credentials.
      DOGEAR_DYNAMODB_ENDPOINT: endpoint,
      AWS_ACCESS_KEY_ID: 'dogear',
      AWS_SECRET_ACCESS_KEY: 'local',
    },
  });
  started.push(emulator);
  return { consumer, emulator, store };
}

function recordsOf(lines: readonly NdjsonRecord[], file: string) {
  return lines.map((line, i) => eventRecordOf(line, `${file}:${i + 1}`));
}

async function checkpoints(d: Deployed, partitions: readonly number[]) {
  return Object.fromEntries(
    await Promise.all(
      partitions.map(async (partition) => {
        const { offset, version } = await d.store.readCheckpoint({
          group: d.consumer.group,
          topic: d.consumer.topic,
          partition,
        });
        return [partition, { offset, version }] as const;
      }),
    ),
  );
}

/** The first `count` messages of `topic`, read with Kafka's own kafka-console-consumer. */
async function consoleConsumer(brokers: string, topic: string, count: number) {
  const messages = await consoleConsume(brokers, topic, { maxMessages: count });
  return messages.map(({ key, value, headers }) => ({ key, value, headers }));
}

/** The EMF documents among the function's output lines. */
function metricLines(
  output: string,
): Array<Record<string, unknown> & { _aws: { CloudWatchMetrics: unknown[] } }> {
  return output.split('\n').flatMap((line) => {
    const start = line.indexOf('{"_aws"');
    if (start < 0) return [];
    return [JSON.parse(line.slice(start))];
  });
}

describe("a bundle under AWS's Lambda runtime (aws-lambda-ric under aws-lambda-rie)", () => {
  test('word-count counts an MSK batch into DynamoDB Local, and the same batch again changes nothing', async () => {
    const d = await deploy(repoRoot, 'word-count');
    const lines = readFileSync(join(repoRoot, 'functions/events/book-pages.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .slice(0, 60)
      .map((line) => JSON.parse(line) as NdjsonRecord);
    const event = eventOf(recordsOf(lines, 'book-pages.ndjson'));
    const partitions = [...new Set(lines.map((l) => l.partition))].sort();
    expect(partitions.length).toBeGreaterThan(1);

    const first = await d.emulator.invoke(event);
    expect(first, d.emulator.output()).toEqual({ status: 200, payload: null });
    const counts = Object.fromEntries(await d.store.scanTable(d.consumer.group, 'counts'));
    expect(counts).toEqual(wordCountOracle(lines));
    const after = await checkpoints(d, partitions);
    for (const partition of partitions) {
      const last = Math.max(...lines.filter((l) => l.partition === partition).map((l) => l.offset));
      expect(after[partition]?.offset, `partition ${partition}`).toBe(last);
    }

    // Lambda delivers at least once: a redelivered batch is skipped whole.
    const again = await d.emulator.invoke(event);
    expect(again, d.emulator.output()).toEqual({ status: 200, payload: null });
    expect(Object.fromEntries(await d.store.scanTable(d.consumer.group, 'counts'))).toEqual(counts);
    expect(await checkpoints(d, partitions)).toEqual(after);

    // In Lambda, each invocation writes one CloudWatch EMF line to stdout, from its report.
    const metrics = metricLines(d.emulator.output());
    expect(metrics, d.emulator.output()).toHaveLength(2);
    expect(metrics[0]).toMatchObject({ consumer: 'word-count', Records: 60, Processed: 60 });
    expect(metrics[1]).toMatchObject({ Records: 60, Processed: 0, Duplicates: 60, Commits: 0 });
    expect(metrics[0]!._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'dogear',
      Dimensions: [['consumer']],
    });
  });

  const deposits: NdjsonRecord[] = [
    { topic: 'deposits', partition: 0, offset: 100, key: 'a', value: { account: 'a', amount: 10 } },
    { topic: 'deposits', partition: 0, offset: 101, key: 'b', value: { account: 'b', amount: 5 } },
    {
      topic: 'deposits',
      partition: 0,
      offset: 102,
      key: 'a',
      value: { account: 'a', amount: 'lots' },
    },
    { topic: 'deposits', partition: 0, offset: 103, key: 'b', value: { account: 'b', amount: 7 } },
    { topic: 'deposits', partition: 1, offset: 200, key: 'c', value: { account: 'c', amount: 1 } },
    { topic: 'deposits', partition: 1, offset: 201, key: 'a', value: { account: 'a', amount: 2 } },
  ];

  test('a partial batch response names the failing partition and offset; the rest commits, exactly once', async () => {
    const d = await deploy(fixtureRoot, 'deposits');
    const event = eventOf(recordsOf(deposits, 'deposits'));
    const failed = {
      status: 200,
      payload: {
        batchItemFailures: [{ itemIdentifier: { partition: 'deposits-0', offset: 102 } }],
      },
    };

    expect(await d.emulator.invoke(event), d.emulator.output()).toEqual(failed);
    // Partition 0 stops before the failed record, partition 1 moves on.
    const balances = { a: 12, b: 5, c: 1 };
    expect(Object.fromEntries(await d.store.scanTable(d.consumer.group, 'balances'))).toEqual(
      balances,
    );
    const after = await checkpoints(d, [0, 1]);
    expect(after[0]?.offset).toBe(101);
    expect(after[1]?.offset).toBe(201);
    expect(d.emulator.output()).toContain('amount \\"lots\\" is not a number');

    // Lambda retries partition 0 from the failed offset; the record fails again, nothing moves.
    const retry = eventOf(recordsOf(deposits.slice(2, 4), 'deposits'));
    expect(await d.emulator.invoke(retry), d.emulator.output()).toEqual(failed);
    // And a redelivery of the whole batch adds nothing twice.
    expect(await d.emulator.invoke(event), d.emulator.output()).toEqual(failed);
    expect(Object.fromEntries(await d.store.scanTable(d.consumer.group, 'balances'))).toEqual(
      balances,
    );
    expect(await checkpoints(d, [0, 1])).toEqual(after);
  });

  test('without partial batch responses, the failing record fails the invocation as Lambda reports it', async () => {
    const d = await deploy(fixtureRoot, 'deposits', {
      consumers: { deposits: { reportBatchItemFailures: false } },
    });
    const event = eventOf(recordsOf(deposits, 'deposits'));
    const first = await d.emulator.invoke(event);
    expect(first.status).toBe(200);
    expect(first.payload, d.emulator.output()).toMatchObject({
      errorType: 'BatchFailedError',
      errorMessage: expect.stringMatching(/deposits-0@102.*amount "lots" is not a number/),
    });
    // Each partition's slice commits on its own: partition 0 up to the failed record, and all of
    // partition 1. Lambda then retries the whole batch, which fails at the same record and adds
    // nothing twice.
    const balances = { a: 12, b: 5, c: 1 };
    expect(Object.fromEntries(await d.store.scanTable(d.consumer.group, 'balances'))).toEqual(
      balances,
    );
    const after = await checkpoints(d, [0, 1]);
    expect(after[0]?.offset).toBe(101);
    const retried = await d.emulator.invoke(event);
    expect(retried.payload).toMatchObject({
      errorType: 'BatchFailedError',
      errorMessage: (first.payload as { errorMessage: string }).errorMessage,
    });
    expect(Object.fromEntries(await d.store.scanTable(d.consumer.group, 'balances'))).toEqual(
      balances,
    );
    expect(await checkpoints(d, [0, 1])).toEqual(after);
  });

  test("outputs and a dead letter reach the event's cluster from inside the runtime, each with dogear-origin; the same batch again sends nothing new", async () => {
    const brokers = inject('kafkaBrokers');
    const admin = new Admin({
      clientId: 'lambda-runtime-test',
      bootstrapBrokers: brokers.split(','),
    });
    try {
      await admin.createTopics({
        topics: ['ric-alerts', 'ric-dead-letters'],
        partitions: 1,
        replicas: 1,
      });
    } finally {
      await admin.close();
    }
    const d = await deploy(fixtureRoot, 'alerts');
    const readings: NdjsonRecord[] = [
      {
        topic: 'ric-readings',
        partition: 0,
        offset: 0,
        key: 's1',
        value: { sensor: 's1', celsius: 31 },
      },
      {
        topic: 'ric-readings',
        partition: 0,
        offset: 1,
        key: 's2',
        value: { sensor: 's2', celsius: 'hot' },
      },
      {
        topic: 'ric-readings',
        partition: 0,
        offset: 2,
        key: 's2',
        value: { sensor: 's2', celsius: 35 },
      },
    ];
    // What Lambda puts in the event: the brokers the relay then connects to.
    const event = eventOf(recordsOf(readings, 'readings'), { bootstrapServers: brokers });
    expect(await d.emulator.invoke(event), d.emulator.output()).toEqual({
      status: 200,
      payload: null,
    });
    expect(await d.emulator.invoke(event), d.emulator.output()).toEqual({
      status: 200,
      payload: null,
    });

    const alerts = await consoleConsumer(brokers, 'ric-alerts', 2);
    expect(alerts).toEqual([
      {
        key: 's1',
        value: '{"sensor":"s1","celsius":31}',
        headers: 'dogear-origin:alerts|ric-readings|0|0|0',
      },
      {
        key: 's2',
        value: '{"sensor":"s2","celsius":35}',
        headers: 'dogear-origin:alerts|ric-readings|0|2|0',
      },
    ]);
    const [letter] = await consoleConsumer(brokers, 'ric-dead-letters', 1);
    expect(letter!.key).toBe('s2');
    expect(letter!.value).toBe('{"sensor":"s2","celsius":"hot"}');
    const facts = JSON.parse(
      letter!.headers!.match(/^dogear-dead-letter:(.*),dogear-origin:/)![1]!,
    );
    expect(facts).toMatchObject({
      consumer: 'alerts',
      topic: 'ric-readings',
      partition: 0,
      offset: 1,
      attempts: 1,
    });
    expect(facts.error.message).toBe('s2: celsius is not a number');
    const metrics = metricLines(d.emulator.output());
    expect(metrics[0]).toMatchObject({ DeadLettered: 1, OutputsRelayed: 3, OutputsPending: 0 });
    expect(metrics[1]).toMatchObject({ Duplicates: 3, OutputsRelayed: 0 });
  });

  test('without the client or the emulator, the suite fails and says how to install them', async () => {
    const empty = await mkdtemp(join(scratch, 'empty-'));
    const missing = requireLambdaRuntime({ dir: empty });
    await expect(missing).rejects.toThrow(LambdaRuntimeMissingError);
    await expect(missing).rejects.toThrow(
      /aws-lambda-ric .* and the runtime interface emulator aws-lambda-rie .*bash infra\/apt-packages\.sh && npm run lambda-runtime/,
    );
  });
});
