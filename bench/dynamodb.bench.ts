/**
 * DynamoDB requests per record: dogear's `word-count` beside the same consumer written with
 * Powertools (`@aws-lambda-powertools/kafka` + `@aws-lambda-powertools/idempotency`, see
 * bench/dynamodb-baseline.ts), on the same MSK events, against one DynamoDB Local, each from
 * empty tables. Both final counts must equal a plain loop's, or the run fails.
 *
 *   npx tsx bench/dynamodb.bench.ts [--records 2000]
 *
 * Every HTTP request a subject's DynamoDB clients send is counted by a middleware in the
 * `finalizeRequest` step, which runs after the SDK's retryMiddleware: each attempt, retries
 * included. A probe at the start proves it (one send to a closed port, three attempts counted).
 */
import { strict as assert } from 'node:assert';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { freePort, startDynamoDbLocal } from '../infra/dynamodb-local.ts';
import { type EventRecord, eventRecordOf, eventsOf } from '../src/event/index.ts';
import {
  consumerOf,
  createHandler,
  createLogger,
  type InvocationReport,
} from '../src/runtime/index.ts';
import { type DynamoApi, DynamoStateStore, StateCache } from '../src/state/index.ts';
import { bookPages } from '../test/fixtures/book.ts';
import { CapacityRules, itemBytes } from './capacity.ts';
import { createBaselineHandler } from './dynamodb-baseline.ts';
import { assertSameCounts, runEvents } from './harness.ts';
import { resolveDogearToSource } from './source-tree.ts';
import { assertAllCompleted, createTable, readNumbers, scanAll } from './tables.ts';

export const DEFAULT_RECORDS = 2_000;
const PARTITIONS = 4;
const BATCH_SIZE = 500;
/** Records each subject runs on scratch tables first, uncounted: JIT, sockets, the JVM's. */
const WARMUP_RECORDS = 200;
const WORD = /\p{L}+/gu;
const COUNTER_STEP = 'finalizeRequest';
const COMMAND = 'npx tsx bench/dynamodb.bench.ts';
const CREDENTIALS = { accessKeyId: 'dogear', secretAccessKey: 'local' };

/** Requests one subject sent while it ran. */
export interface Requests {
  /** HTTP requests sent (each attempt, SDK retries included), counted at `finalizeRequest`. */
  total: number;
  /** `client.send` calls, counted at `initialize`: `total - sends` is the SDK's retries. */
  sends: number;
  /** HTTP requests by command, e.g. `{ TransactWriteItemsCommand: 16 }`. */
  byCommand: Record<string, number>;
  /** Items in the `TransactWriteItems` that succeeded. */
  transactItems: number;
  /**
   * Write units the successful sends cost by AWS's rules for items under 1 KB (checked): 1 per
   * PutItem, UpdateItem or DeleteItem, 2 per item of a TransactWriteItems. DynamoDB Local reports
   * 2 for a whole transaction, so this is computed, not read back.
   */
  writeUnits: number;
  /** Read units likewise: 1 per strongly consistent GetItem of an item under 4 KB. */
  readUnits: number;
}

const TALLIES = ['total', 'sends', 'transactItems', 'writeUnits', 'readUnits'] as const;

export interface SubjectFigures {
  readonly subject: string;
  readonly records: number;
  readonly ms: number;
  readonly recordsPerSecond: number;
  readonly requests: Requests;
  readonly requestsPerRecord: number;
  readonly writeUnitsPerRecord: number;
  readonly readUnitsPerRecord: number;
  /** Where the requests went (baseline: idempotency layer and counts table apart). */
  readonly parts: Record<string, Requests>;
}

export interface DynamoDbFigures {
  readonly benchmark: 'dynamodb';
  readonly records: number;
  readonly partitions: number;
  readonly batchSize: number;
  readonly events: number;
  readonly distinctWords: number;
  readonly totalWords: number;
  /** Distinct words of a page, on average: the baseline's UpdateItems per record. */
  readonly distinctWordsPerRecord: number;
  readonly dogear: SubjectFigures;
  readonly baseline: SubjectFigures;
  /** baseline requests/record ÷ dogear requests/record. */
  readonly requestRatio: number;
  /** baseline write units/record ÷ dogear write units/record (below 1: dogear writes more). */
  readonly writeUnitRatio: number;
  /** The largest item either subject left, in bytes (the unit figures assume under 1 KB). */
  readonly largestItemBytes: number;
  /** dogear records/s ÷ baseline records/s (DynamoDB Local's latency, not AWS's). */
  readonly throughputRatio: number;
  readonly counterStep: typeof COUNTER_STEP;
  /** The probe: one `send` to a closed port, attempts seen at each step. */
  readonly retryProbe: { readonly maxAttempts: number; sends: number; requests: number };
  readonly command: string;
  readonly node: string;
}

export interface DynamoDbBenchOptions {
  /** Records of `bookPages(records, 4)`. @default 2000 */
  records?: number;
  /** Progress lines. @default stderr */
  progress?: (line: string) => void;
}

/** Prints the section: requests per record and records per second, dogear beside the baseline. */
export async function run(options: DynamoDbBenchOptions = {}): Promise<void> {
  const figures = await measureDynamoDb(options);
  console.log(formatDynamoDb(figures));
}

/** Starts DynamoDB Local, runs both subjects, checks their counts, stops it. */
export async function measureDynamoDb(
  options: DynamoDbBenchOptions = {},
): Promise<DynamoDbFigures> {
  const records = options.records ?? DEFAULT_RECORDS;
  assert.ok(Number.isInteger(records) && records > 0, `records: ${records} is not a count`);
  const progress = options.progress ?? ((line: string) => process.stderr.write(`${line}\n`));

  // functions/word-count.ts imports 'dogear': point it at src/ (one copy of the runtime).
  resolveDogearToSource();
  const { WordCount } = await import('../functions/word-count.ts');
  const definition = consumerOf(WordCount);
  assert.ok(definition, "WordCount is not a consumer: 'dogear' resolved to another copy?");
  assert.equal(definition.value, 'string', 'word-count no longer declares value: string');

  // The same events for both; each subject gets its own deep copy, so neither can alter the other's.
  const pages = bookPages(records, PARTITIONS);
  const eventRecords: EventRecord[] = pages.map((r, i) => eventRecordOf(r, `record ${i}`));
  const events = eventsOf(eventRecords, BATCH_SIZE);
  const warmupEvents = eventsOf(
    bookPages(WARMUP_RECORDS, PARTITIONS).map((r, i) => eventRecordOf(r, `warm-up ${i}`)),
    BATCH_SIZE,
  );
  const oracle = new Map<string, number>();
  let distinctPerPage = 0;
  for (const page of pages) {
    const words = String(page.value).toLowerCase().match(WORD) ?? [];
    for (const word of words) oracle.set(word, (oracle.get(word) ?? 0) + 1);
    distinctPerPage += new Set(words).size;
  }
  const totalWords = [...oracle.values()].reduce((a, b) => a + b, 0);
  progress(
    `dynamodb: ${records} records of bookPages(${records}, ${PARTITIONS}) in ${events.length} events of ${BATCH_SIZE}; ${totalWords} words, ${oracle.size} distinct`,
  );

  const retryProbe = await probeRetryCounting();
  progress(
    `dynamodb: counter probe: 1 send to a closed port, maxAttempts ${retryProbe.maxAttempts}: initialize saw ${retryProbe.sends}, ${COUNTER_STEP} saw ${retryProbe.requests}`,
  );

  progress('dynamodb: starting DynamoDB Local');
  const local = await startDynamoDbLocal();
  try {
    const admin = clientFor(local.endpoint);
    const tables = {
      state: 'dogear-state',
      warmState: 'warmup-dogear-state',
      counts: 'baseline-counts',
      idempotency: 'baseline-idempotency',
      warmCounts: 'warmup-baseline-counts',
      warmIdempotency: 'warmup-baseline-idempotency',
    };
    for (const table of [tables.state, tables.warmState]) {
      await new DynamoStateStore({ api: sdkApi(admin), table }).ensureTable();
    }
    for (const table of [tables.counts, tables.warmCounts]) await createTable(admin, table, 'word');
    for (const table of [tables.idempotency, tables.warmIdempotency]) {
      await createTable(admin, table, 'id');
    }

    // dogear: one client; a warm-up event on scratch tables with a scratch cache, then the run.
    const dogearClient = clientFor(local.endpoint);
    const dogearCount = countRequests(dogearClient);
    const dogearHandler = (table: string, reports: InvocationReport[]) =>
      createHandler(definition, {
        store: new DynamoStateStore({ api: sdkApi(dogearClient), table }),
        cache: new StateCache(),
        log: createLogger(() => {}),
        onReport: (report) => reports.push(report),
      });
    // Powertools: the persistence layer gets its own client, as it would build one by default.
    const idempotencyClient = clientFor(local.endpoint);
    const countsClient = clientFor(local.endpoint);
    const idempotencyCount = countRequests(idempotencyClient);
    const countsCount = countRequests(countsClient);
    const baselineHandler = (counts: string, idempotency: string) =>
      createBaselineHandler({
        idempotencyClient,
        idempotencyTable: idempotency,
        countsClient,
        countsTable: counts,
        keyPrefix: definition.name,
      });

    progress('dynamodb: warm-up (scratch tables, not counted)');
    await runEvents(dogearHandler(tables.warmState, []), structuredClone(warmupEvents), definition);
    await runEvents(
      baselineHandler(tables.warmCounts, tables.warmIdempotency),
      structuredClone(warmupEvents),
      definition,
    );

    progress('dynamodb: dogear');
    const reports: InvocationReport[] = [];
    const dogearEvents = structuredClone(events);
    const dogearRun = await measured({ all: dogearCount }, () =>
      runEvents(dogearHandler(tables.state, reports), dogearEvents, definition),
    );
    const sum = (pick: (r: InvocationReport) => number) => reports.reduce((n, r) => n + pick(r), 0);
    assert.equal(
      sum((r) => r.processed),
      records,
      'dogear: records processed',
    );
    assert.equal(
      sum((r) => r.duplicates),
      0,
      'dogear: duplicates',
    );
    assert.equal(
      sum((r) => r.failed),
      0,
      'dogear: failures',
    );

    progress('dynamodb: baseline (Powertools kafka + idempotency)');
    const baselineEvents = structuredClone(events);
    const baselineRun = await measured({ idempotency: idempotencyCount, counts: countsCount }, () =>
      runEvents(baselineHandler(tables.counts, tables.idempotency), baselineEvents, definition),
    );

    // Counts: both from the tables, both equal to the plain loop's.
    const adminStore = new DynamoStateStore({ api: sdkApi(admin), table: tables.state });
    const dogearCounts = await adminStore.scanTable(definition.group, 'counts');
    assertSameCounts(dogearCounts, oracle, 'dogear');
    const baselineCounts = await readNumbers(admin, tables.counts, 'word', 'n');
    assertSameCounts(baselineCounts, oracle, 'baseline');
    // And each marked every record: dogear's checkpoints at each partition's last offset,
    // the baseline's idempotency table one COMPLETED item per record.
    const lastOffsets = new Map<number, number>();
    for (const r of eventRecords) {
      lastOffsets.set(r.partition, Math.max(lastOffsets.get(r.partition) ?? -1, r.offset));
    }
    const checkpoints = await adminStore.scanCheckpoints(definition.group);
    assert.deepEqual(
      new Map(checkpoints.map((c) => [c.partition, c.offset])),
      lastOffsets,
      'dogear: checkpoints',
    );
    await assertAllCompleted(admin, tables.idempotency, records, 'baseline');
    progress(`dynamodb: counts identical (${oracle.size} words) and equal to the plain loop's`);
    // The unit figures count 1 KB per write: make sure no item is larger.
    let largestItemBytes = 0;
    for (const table of [tables.state, tables.counts, tables.idempotency]) {
      for await (const item of scanAll(admin, table)) {
        largestItemBytes = Math.max(largestItemBytes, itemBytes(item));
      }
    }
    assert.ok(largestItemBytes < 1024, `an item of ${largestItemBytes} bytes: units undercounted`);

    const dogear = subject(`dogear ${definition.name}`, records, dogearRun);
    const baseline = subject('baseline (Powertools)', records, baselineRun);
    return {
      benchmark: 'dynamodb',
      records,
      partitions: PARTITIONS,
      batchSize: BATCH_SIZE,
      events: events.length,
      distinctWords: oracle.size,
      totalWords,
      distinctWordsPerRecord: distinctPerPage / records,
      dogear,
      baseline,
      requestRatio: baseline.requestsPerRecord / dogear.requestsPerRecord,
      writeUnitRatio: baseline.writeUnitsPerRecord / dogear.writeUnitsPerRecord,
      largestItemBytes,
      throughputRatio: dogear.recordsPerSecond / baseline.recordsPerSecond,
      counterStep: COUNTER_STEP,
      retryProbe,
      command: records === DEFAULT_RECORDS ? COMMAND : `${COMMAND} --records ${records}`,
      node: process.version,
    };
  } finally {
    await local.stop();
  }
}

/** The section, as printed. */
export function formatDynamoDb(f: DynamoDbFigures): string {
  const n = (x: number, digits = 0) =>
    x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const small = (x: number) => n(x, x < 1 ? 4 : 2);
  const rows = [
    ['subject', 'requests', 'requests/record', 'write units/record', 'records/s', 'ms'],
    ...[f.dogear, f.baseline].map((s) => [
      s.subject,
      n(s.requests.total),
      small(s.requestsPerRecord),
      small(s.writeUnitsPerRecord),
      n(s.recordsPerSecond),
      n(s.ms),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const table = rows.map((r) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '),
  );
  table.splice(1, 0, widths.map((w) => '─'.repeat(w)).join('  '));
  const commands = (r: Requests) =>
    Object.entries(r.byCommand)
      .map(([name, count]) => `${name.replace(/Command$/, '')} ${n(count)}`)
      .join(', ');
  const retries = (s: SubjectFigures) => s.requests.total - s.requests.sends;
  const transactions = f.dogear.requests.byCommand.TransactWriteItemsCommand ?? 0;
  const baselineParts = Object.entries(f.baseline.parts)
    .map(([part, r]) => `${part} ${n(r.total / f.records, 2)}/record (${commands(r)})`)
    .join('; ');
  const units = (s: SubjectFigures) =>
    `${n(s.requests.writeUnits)} write units, ${n(s.requests.readUnits)} read units`;
  const writeVerdict =
    f.writeUnitRatio >= 1
      ? `${n(f.writeUnitRatio, 2)}× fewer with dogear`
      : `dogear writes ${n(1 / f.writeUnitRatio, 2)}× MORE`;
  return [
    'DynamoDB requests per record: dogear vs Powertools kafka + idempotency (same events, same DynamoDB Local)',
    '',
    ...table.map((line) => `  ${line}`),
    '',
    `- requests/record, baseline ÷ dogear: ${n(f.requestRatio, 1)}× fewer with dogear (target ≥ 50× on ${f.batchSize}-record batches)`,
    `- write units/record, baseline ÷ dogear: ${n(f.writeUnitRatio, 2)} (${writeVerdict}): a transaction costs 2 write units per item; dogear writes each word once per partition slice, the baseline once per page (dogear ${units(f.dogear)}; baseline ${units(f.baseline)}; every state item under 1 KB, the largest ${f.largestItemBytes} bytes; a checkpoint carrying an intent is billed by its size)`,
    `- records/s, dogear ÷ baseline: ${n(f.throughputRatio, 1)}×`,
    `- events: bookPages(${f.records}, ${f.partitions}) → eventRecordOf → eventsOf(records, ${f.batchSize}): ${f.events} MSK events, ${n(f.totalWords)} words (${f.distinctWords} distinct, ${n(f.distinctWordsPerRecord, 1)} per page); each subject gets a deep copy of the same events and starts from empty tables (a ${WARMUP_RECORDS}-record warm-up on scratch tables first, not counted).`,
    `- dogear: createHandler(consumerOf(WordCount), { store: DynamoStateStore }) with a fresh StateCache: ${commands(f.dogear.requests)}; ${n(f.dogear.requests.transactItems / transactions, 1)} items and ${n(f.records / transactions, 1)} records per transaction (a slice that writes more than 99 items commits its checkpoint with an intent, then applies the intent in transactions of up to 100 items and clears it with one UpdateItem: see docs/state.md).`,
    `- baseline: kafkaConsumer + makeIdempotent(per record, eventKeyJmesPath '[topic, partition, offset]', DynamoDBPersistenceLayer on its own table) + one UpdateItem ADD per distinct word of a page (a page's words sent concurrently, records in order): ${baselineParts}.`,
    `- checked: both counts tables identical to a plain loop's (${f.distinctWords} words); dogear's checkpoints at each partition's last offset; ${n(f.records)} COMPLETED idempotency items.`,
    `- counted: every HTTP request, by a middleware in the '${f.counterStep}' step (after the SDK's retryMiddleware), so SDK retries count; probe: 1 send to a closed port with maxAttempts ${f.retryProbe.maxAttempts} → ${f.retryProbe.sends} at 'initialize', ${f.retryProbe.requests} at '${f.counterStep}'. SDK retries during the runs: dogear ${retries(f.dogear)}, baseline ${retries(f.baseline)}.`,
    "- DynamoDB Local's latency is not AWS's (and its TransactWriteItems are slow): records/s only ranks the two on this machine. Requests and capacity units per record are the portable figures.",
    `- Reproduce: ${f.command}   (Node ${f.node})`,
  ].join('\n');
}

// ———————————————————————————————————————————— helpers

/**
 * dogear's store on the SDK client, so the same middleware counts both subjects' requests (the
 * Lambda bundle sends the same calls over fetch: src/state/dynamo/api.ts).
 */
function sdkApi(client: DynamoDBClient): DynamoApi {
  const commands: Record<string, new (input: never) => unknown> = {
    GetItem: GetItemCommand,
    PutItem: PutItemCommand,
    UpdateItem: UpdateItemCommand,
    DeleteItem: DeleteItemCommand,
    TransactWriteItems: TransactWriteItemsCommand,
    BatchWriteItem: BatchWriteItemCommand,
    Scan: ScanCommand,
    DescribeTable: DescribeTableCommand,
    CreateTable: CreateTableCommand,
    UpdateTimeToLive: UpdateTimeToLiveCommand,
  };
  return {
    send: async (operation) => {
      const Command = commands[operation.action];
      if (!Command) throw new Error(`No SDK command for ${operation.action}`);
      return (await client.send(new Command(operation.input as never) as never)) as never;
    },
  };
}

function clientFor(endpoint: string, extra: { maxAttempts?: number } = {}): DynamoDBClient {
  return new DynamoDBClient({ region: 'us-east-1', endpoint, credentials: CREDENTIALS, ...extra });
}

/**
 * Counts what `client` sends: `total` in `finalizeRequest`, after retryMiddleware (each HTTP
 * attempt), `sends` in `initialize` (each `client.send`), and the capacity units of each send
 * that succeeded.
 */
function countRequests(client: DynamoDBClient): Requests {
  const counter = zero();
  const rules = new CapacityRules();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      counter.sends++;
      const output = await next(args);
      const units = rules.unitsOf(
        (context.commandName ?? '').replace(/Command$/, ''),
        args.input as Record<string, unknown>,
        output.output as unknown as Record<string, unknown>,
      );
      counter.transactItems += units.transactItems;
      counter.writeUnits += units.write;
      counter.readUnits += units.read;
      return output;
    },
    { step: 'initialize', name: 'benchSendCounter' },
  );
  client.middlewareStack.add(
    (next, context) => async (args) => {
      counter.total++;
      const command = context.commandName ?? 'unknown';
      counter.byCommand[command] = (counter.byCommand[command] ?? 0) + 1;
      return next(args);
    },
    { step: COUNTER_STEP, name: 'benchRequestCounter' },
  );
  return counter;
}

function zero(): Requests {
  return { total: 0, sends: 0, byCommand: {}, transactItems: 0, writeUnits: 0, readUnits: 0 };
}

function copy(r: Requests): Requests {
  return { ...r, byCommand: { ...r.byCommand } };
}

function minus(after: Requests, before: Requests): Requests {
  const d = zero();
  for (const key of TALLIES) d[key] = after[key] - before[key];
  for (const [name, count] of Object.entries(after.byCommand)) {
    const n = count - (before.byCommand[name] ?? 0);
    if (n > 0) d.byCommand[name] = n;
  }
  return d;
}

interface Run {
  ms: number;
  parts: Record<string, Requests>;
}

/** Times `work` and takes what each counter counted meanwhile. */
async function measured(counters: Record<string, Requests>, work: () => Promise<void>) {
  const before = Object.fromEntries(Object.entries(counters).map(([k, c]) => [k, copy(c)]));
  const started = performance.now();
  await work();
  const ms = performance.now() - started;
  const parts = Object.fromEntries(
    Object.entries(counters).map(([k, c]) => [k, minus(c, before[k]!)]),
  );
  return { ms, parts } satisfies Run;
}

function subject(name: string, records: number, run: Run): SubjectFigures {
  const requests = zero();
  for (const part of Object.values(run.parts)) {
    for (const key of TALLIES) requests[key] += part[key];
    for (const [command, count] of Object.entries(part.byCommand)) {
      requests.byCommand[command] = (requests.byCommand[command] ?? 0) + count;
    }
  }
  return {
    subject: name,
    records,
    ms: Math.round(run.ms * 10) / 10,
    recordsPerSecond: Math.round((records / run.ms) * 1000),
    requests,
    requestsPerRecord: requests.total / records,
    writeUnitsPerRecord: requests.writeUnits / records,
    readUnitsPerRecord: requests.readUnits / records,
    parts: run.parts,
  };
}

/** One send to a port nobody listens on: ECONNREFUSED is retryable, so the SDK tries again. */
async function probeRetryCounting() {
  const maxAttempts = 3;
  const client = clientFor(`http://127.0.0.1:${await freePort()}`, { maxAttempts });
  const counter = countRequests(client);
  await assert.rejects(
    client.send(new GetItemCommand({ TableName: 'none', Key: { pk: { S: 'x' } } })),
  );
  client.destroy();
  assert.equal(counter.sends, 1, 'probe: sends counted at initialize');
  assert.equal(counter.total, maxAttempts, `probe: attempts counted at ${COUNTER_STEP}`);
  return { maxAttempts, sends: counter.sends, requests: counter.total };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { records: { type: 'string' } } });
  await run(values.records === undefined ? {} : { records: Number(values.records) });
}
