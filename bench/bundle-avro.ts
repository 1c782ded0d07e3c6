/**
 * The bundle benchmark's Avro pair: a dogear consumer of Avro payments (bench/avro/functions/
 * payment-totals.ts, each account's amounts summed into `ctx.table('totals')`) beside the same
 * consumer written with Powertools' kafka utility and its Avro deserializer, idempotency and
 * one DynamoDB UpdateItem per payment (bench/baseline/payment-totals.ts). Bytes (and gzip), the
 * import alone and start → first 500-record event handled on DynamoDB Local, each side checked
 * against a plain sum.
 *
 *   npm run bench -- --only bundle-avro     (also part of --only bundle)
 *
 * Powertools decodes Avro with its peer dependency avro-js. When avro-js is not installed, the
 * Powertools side is bundled with avsc standing in for it (the same `parse(schema)` and
 * `fromBuffer()` calls), and every figure and label says so.
 */
import { strict as assert } from 'node:assert';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import avsc from 'avsc';
import { freePort, startDynamoDbLocal } from '../infra/dynamodb-local.ts';
import { type BuildManifest, buildConsumers, REQUIRE_SHIM } from '../src/build/index.ts';
import { eventOf, eventRecordOf } from '../src/event/index.ts';
import { frameConfluent } from '../src/schema/index.ts';
import { openDynamoStateStore } from '../src/state/index.ts';
import { PAYMENT_SCHEMA_ID, PAYMENTS_TOPIC, Payment } from './avro/payment.ts';
import { buildBaseline, faster, kib, ratio, rotate, staleDist } from './bundle.bench.ts';
import { type ColdStart, coldStart } from './cold-start.ts';
import {
  assertSameCounts,
  type BenchOptions,
  type BenchResult,
  type BenchRow,
  median,
  rowOf,
} from './harness.ts';
import { assertAllCompleted, createTable, readNumbers } from './tables.ts';

const BENCHMARK = 'bundle-avro';
const CONSUMER = 'payment-totals';
const REGISTRY_CONSUMER = 'payment-totals-registry';
const RECORDS = 500;
const PARTITIONS = 4;
const ACCOUNTS = 23;
/** As bundle.bench.ts: cold starts are noisy, init-only starts quick. */
const MIN_COLD_STARTS = 7;
const MIN_INITS = 21;

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FUNCTIONS = 'bench/avro/functions';
const POWERTOOLS_ENTRY = fileURLToPath(new URL('./baseline/payment-totals.ts', import.meta.url));

type Subject = 'dogear' | 'powertools';
const SUBJECTS: readonly Subject[] = ['dogear', 'powertools'];

/** The payments of the one event: deterministic, amounts in cents. */
export function payments(count = RECORDS) {
  return Array.from({ length: count }, (_, i) => ({
    id: `payment-${i}`,
    account: `account-${(i * 7) % ACCOUNTS}`,
    amount: 1 + ((i * 7919) % 100_000),
  }));
}

/** Whether Powertools' Avro peer dependency resolves from this repository. */
function avroJsInstalled(): boolean {
  try {
    createRequire(join(ROOT, 'package.json')).resolve('avro-js');
    return true;
  } catch {
    return false;
  }
}

export async function avroBundleBench(options: BenchOptions): Promise<BenchResult> {
  const notes: string[] = [];
  const stale = await staleDist();
  if (stale.length > 0) {
    notes.push(
      `WARNING (${BENCHMARK}): dist/ is older than ${stale.length} src/ file(s), e.g. ${stale.slice(0, 3).join(', ')}: dogear's bundles take the runtime from dist/; run \`npm run build:lib\` first.`,
    );
  }
  const realAvroJs = avroJsInstalled();
  const powertoolsLabel = realAvroJs
    ? 'Powertools kafka + avro-js'
    : 'Powertools kafka + avsc as avro-js (STAND-IN)';
  if (!realAvroJs) {
    notes.push(
      `BLOCKED (${BENCHMARK}): avro-js, the Avro peer dependency Powertools' kafka utility documents (\`npm install @aws-lambda-powertools/kafka avro-js\`, https://docs.powertools.aws.dev/lambda/typescript/latest/features/kafka), is not installed here, and this run did not install it. The Powertools side below is bundled with esbuild's alias avro-js → avsc ${avscVersion()} (dogear's own Avro library; Powertools calls only \`parse(schema)\` and \`type.fromBuffer()\`, which avsc has too). Its bytes and cold starts are therefore NOT those of Powertools with avro-js; with the npm package \`avro-js\` installed, the next run measures it.`,
    );
  }

  const scratch = await mkdtemp(join(tmpdir(), 'dogear-bundle-avro-'));
  try {
    // ———————————————————————— sizes
    options.progress(`${BENCHMARK}: building ${CONSUMER} (dogear, twice) and with Powertools`);
    const manifest = await buildConsumers({
      root: ROOT,
      functions: FUNCTIONS,
      outDir: join(scratch, 'dogear'),
      consumers: [CONSUMER, REGISTRY_CONSUMER],
    });
    const dogear = built(manifest, CONSUMER);
    const withRegistry = built(manifest, REGISTRY_CONSUMER);
    const powertoolsDir = join(scratch, 'powertools');
    const powertools = await buildBaseline(powertoolsDir, 'bundle', {
      entry: POWERTOOLS_ENTRY,
      // avro-js 1.12.2 loads its deprecated validator, which requires underscore, a package
      // avro-js does not list as a dependency: empty here, as only the validator uses it.
      empty: ['protobufjs', 'underscore'],
      alias: realAvroJs ? {} : { 'avro-js': 'avsc' },
    });
    for (const dir of [join(ROOT, dogear.dir), powertoolsDir]) {
      const code = await readFile(join(dir, 'index.mjs'), 'utf8');
      assert.ok(code.startsWith(REQUIRE_SHIM), `${dir}/index.mjs does not begin with the banner`);
    }

    // ———————————————————————— events: the same payloads, framed for dogear, bare for Powertools
    const values = payments();
    const type = avsc.Type.forSchema(Payment as unknown as avsc.Schema);
    const eventOfPayloads = (frame: (bare: Uint8Array) => Uint8Array) =>
      eventOf(
        values.map((value, i) =>
          eventRecordOf(
            {
              topic: PAYMENTS_TOPIC,
              partition: i % PARTITIONS,
              offset: Math.floor(i / PARTITIONS),
              valueBase64: Buffer.from(frame(new Uint8Array(type.toBuffer(value)))).toString(
                'base64',
              ),
            },
            `payment ${i}`,
          ),
        ),
      );
    const eventFiles: Record<Subject, string> = {
      dogear: join(scratch, 'framed.json'),
      powertools: join(scratch, 'bare.json'),
    };
    await writeFile(
      eventFiles.dogear,
      JSON.stringify(eventOfPayloads((bare) => frameConfluent(PAYMENT_SCHEMA_ID, bare))),
    );
    await writeFile(eventFiles.powertools, JSON.stringify(eventOfPayloads((bare) => bare)));
    const oracle = new Map<string, number>();
    for (const { account, amount } of values)
      oracle.set(account, (oracle.get(account) ?? 0) + amount);

    const bundles: Record<Subject, string> = {
      dogear: join(ROOT, dogear.dir, 'index.mjs'),
      powertools: join(powertoolsDir, 'index.mjs'),
    };
    const cold = await coldStarts(options, scratch, bundles, eventFiles, dogear.group, oracle);

    // ———————————————————————— the report
    const label = (s: Subject) => (s === 'dogear' ? 'dogear (schemasInCode)' : powertoolsLabel);
    const sizes = [
      { label: label('dogear'), ...dogear },
      { label: 'dogear (confluentRegistry), size only', ...withRegistry },
      { label: powertoolsLabel, ...powertools },
    ];
    notes.push(
      [
        `${BENCHMARK}: ${CONSUMER}, Avro values summed per account, SDK bundled on both sides, same esbuild options as src/build/bundle.ts. dogear: \`avro({ schema: Payment, registry: schemasInCode({ wire: 'confluent', … }) })\`, so the cold starts need no registry process and the run is offline; 'dogear (confluentRegistry)' is the same consumer with \`confluentRegistry({ url })\`, the way it is deployed against a registry: built for its bytes only, never run. Powertools: \`kafkaConsumer(…, { value: { type: 'avro', schema: JSON.stringify(Payment) } })\` + makeIdempotent (DynamoDBPersistenceLayer keyed by [topic, partition, offset]) + one UpdateItem ADD per payment, in middy; protobufjs an empty module. Sizes (index.mjs; gzip: zlib default level):`,
        ...aligned(
          sizes.map((s) => [
            s.label,
            `${s.bytes.toLocaleString('en-US')} B`,
            kib(s.bytes),
            `${s.gzipBytes.toLocaleString('en-US')} B gzip`,
            `${ratio(s.bytes / powertools.bytes)} of Powertools' bytes`,
            `${ratio(s.gzipBytes / powertools.gzipBytes)} gzipped`,
          ]),
        ),
      ].join('\n'),
      ...cold.notes(label),
    );
    return { rows: cold.rows(label), notes };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function built(manifest: BuildManifest, name: string) {
  const consumer = manifest.consumers.find((c) => c.name === name);
  assert.ok(consumer, `no ${name} in the build`);
  return {
    bytes: consumer.bytes,
    gzipBytes: consumer.gzipBytes,
    dir: consumer.dir,
    group: consumer.group,
  };
}

function avscVersion(): string {
  return (createRequire(import.meta.url)('avsc/package.json') as { version: string }).version;
}

/**
 * Init (import only, nothing listening at the endpoint), then import and one event against
 * DynamoDB Local on new tables per run, each run's totals checked against the plain sum.
 */
async function coldStarts(
  options: BenchOptions,
  scratch: string,
  bundles: Record<Subject, string>,
  eventFiles: Record<Subject, string>,
  group: string,
  oracle: ReadonlyMap<string, number>,
) {
  const home = join(scratch, 'home');
  await mkdir(home);
  const common = {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'dogear',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_LAMBDA_FUNCTION_NAME: CONSUMER,
    HOME: home,
  };
  const envOf = (subject: Subject, run: string, endpoint: string) =>
    subject === 'dogear'
      ? { ...common, DOGEAR_DYNAMODB_TABLE: `state-${run}`, DOGEAR_DYNAMODB_ENDPOINT: endpoint }
      : {
          ...common,
          TOTALS_TABLE: `totals-${run}`,
          IDEMPOTENCY_TABLE: `idempotency-${run}`,
          BASELINE_DYNAMODB_ENDPOINT: endpoint,
        };

  const closed = `http://127.0.0.1:${await freePort()}`;
  const init = await rotate(
    options,
    'init',
    Math.max(options.rounds, MIN_INITS),
    SUBJECTS,
    (subject) =>
      coldStart({
        bundle: bundles[subject],
        eventFile: eventFiles[subject],
        functionName: CONSUMER,
        env: envOf(subject, 'init', closed),
        mode: 'import-only',
      }),
    BENCHMARK,
  );

  options.progress(`${BENCHMARK}: starting DynamoDB Local`);
  const local = await startDynamoDbLocal();
  const admin = new DynamoDBClient({
    region: 'us-east-1',
    endpoint: local.endpoint,
    credentials: { accessKeyId: 'dogear', secretAccessKey: 'local' },
  });
  let invoke: Record<Subject, ColdStart[]>;
  try {
    let run = 0;
    invoke = await rotate(
      options,
      'cold start',
      Math.max(options.rounds, MIN_COLD_STARTS),
      SUBJECTS,
      async (subject) => {
        const id = `${subject}-${++run}`;
        let collect: () => Promise<Map<string, unknown>>;
        let tables: string[];
        if (subject === 'powertools') {
          await createTable(admin, `totals-${id}`, 'account');
          await createTable(admin, `idempotency-${id}`, 'id');
          tables = [`totals-${id}`, `idempotency-${id}`];
          collect = async () => {
            const totals = await readNumbers(admin, `totals-${id}`, 'account', 'total');
            await assertAllCompleted(admin, `idempotency-${id}`, RECORDS, `Powertools ${id}`);
            return totals;
          };
        } else {
          const store = await openDynamoStateStore({
            endpoint: local.endpoint,
            table: `state-${id}`,
          });
          tables = [`state-${id}`];
          collect = () => store.scanTable(group, 'totals');
        }
        const times = await coldStart({
          bundle: bundles[subject],
          eventFile: eventFiles[subject],
          functionName: CONSUMER,
          env: envOf(subject, id, local.endpoint),
        });
        const failures = (times.result as { batchItemFailures?: unknown[] } | null)
          ?.batchItemFailures;
        assert.ok(
          !failures || failures.length === 0,
          `${subject} ${id}: the handler returned failures ${JSON.stringify(times.result)}`,
        );
        assertSameCounts(await collect(), oracle, `${BENCHMARK} ${subject} ${id} totals`);
        for (const table of tables) await admin.send(new DeleteTableCommand({ TableName: table }));
        return times;
      },
      BENCHMARK,
    );
  } finally {
    admin.destroy();
    await local.stop();
  }

  type Field = 'startMs' | 'importMs' | 'totalMs' | 'invokeMs';
  const med = (times: Record<Subject, ColdStart[]>, s: Subject, field: Field) =>
    median(times[s].map((t) => t[field]));
  const table = (
    label: (s: Subject) => string,
    times: Record<Subject, ColdStart[]>,
    fields: ReadonlyArray<readonly [string, Field]>,
  ) =>
    aligned([
      ['median ms', ...fields.map(([title]) => title)],
      ...SUBJECTS.map((s) => [label(s), ...fields.map(([, f]) => med(times, s, f).toFixed(1))]),
      [
        'dogear ÷ Powertools',
        ...fields.map(([, f]) => ratio(med(times, 'dogear', f) / med(times, 'powertools', f))),
      ],
    ]);

  return {
    rows: (label: (s: Subject) => string): BenchRow[] => {
      const pair = (
        title: string,
        times: Record<Subject, ColdStart[]>,
        field: Field,
        items: number,
        unit: string,
      ) => {
        const [mine, base] = SUBJECTS.map((s) =>
          rowOf(
            BENCHMARK,
            `${title}: ${label(s)}`,
            items,
            unit,
            times[s].map((t) => t[field]),
          ),
        );
        return [faster(mine!, base!), base!];
      };
      return [
        ...pair('init (import only)', init, 'importMs', 1, 'imports/s'),
        ...pair('start → 1st event', invoke, 'totalMs', RECORDS, 'records/s'),
      ];
    },
    notes: (label: (s: Subject) => string) => [
      [
        `${BENCHMARK} init: ${init.dogear.length} fresh \`node\` processes per side (Node ${process.version}, ${cpus().length} CPUs), ${options.warmups} untimed warm-up each, rotating which goes first; each imports its bundle and exits. Medians of the child's performance.now():`,
        ...table(label, init, [
          ['node start', 'startMs'],
          ['import', 'importMs'],
          ['start → imported', 'totalMs'],
        ]),
      ].join('\n'),
      [
        `${BENCHMARK} start → 1st event: ${invoke.dogear.length} more processes per side, each handling ONE event of ${RECORDS} payments (${PARTITIONS} partitions, ${ACCOUNTS} accounts) against DynamoDB Local on the same CPUs. The same Avro payloads on both sides: Confluent-framed (magic byte, schema id ${PAYMENT_SCHEMA_ID}) for dogear, which is what its producers write; bare for Powertools, which cannot read the frame (https://github.com/aws-powertools/powertools-lambda-typescript/issues/5278). The first invocation is mostly DynamoDB Local's time for the requests (dogear: TransactWriteItems of ≤ 100 items; Powertools: per payment an idempotency PutItem and UpdateItem plus the totals UpdateItem), not start-up. Medians:`,
        ...table(label, invoke, [
          ['node start', 'startMs'],
          ['import', 'importMs'],
          ['1st invoke', 'invokeMs'],
          ['start → handled', 'totalMs'],
        ]),
      ].join('\n'),
      `${BENCHMARK} checked: every start → 1st event run gets new tables, and after it each account's total must equal a plain sum of the event's amounts (${oracle.size} accounts), Powertools' idempotency table must hold ${RECORDS} COMPLETED records, and the handler must return no batchItemFailures; any difference fails the run.`,
    ],
  };
}

/** Rows of cells as indented lines, the first column left-aligned, the rest right-aligned. */
function aligned(lines: readonly string[][]): string[] {
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  return lines.map(
    (l) =>
      `    ${l.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')}`,
  );
}
