/**
 * Stateful consumers at DynamoDB's real latency (issue 10): dogear beside the same consumer
 * written with Powertools, and beside a floor, on DynamoDB Local behind a proxy that adds a
 * round trip's latency to every request (bench/latency-proxy.ts, also the meter).
 *
 *   npx tsx bench/latency.bench.ts [--records 4000] [--latency-ms 5] [--sweep 1,5,10|off]
 *                                  [--sweep-records N] [--baseline-records 1000]
 *   npm run bench -- --only latency          the same, with the defaults
 *
 * Two consumers, record mode, on payments `{ id, account, amount }` keyed by account, over 4
 * partitions (an account's partition is a stable hash of its id), in 500-record events:
 * - balance: `ctx.state.update((b) => (b ?? 0) + amount)`, 2 payments per account;
 * - dedup: `ctx.table('seen')` read per payment id, then `seen.set(id, 1)` and
 *   `ctx.table('totals').add(account, amount)`; every 20th payment is delivered again 250
 *   payments later (same id, later offset), and must not count twice.
 * Subjects, each from empty tables, through the same proxy at the same latency:
 * - dogear: `createHandler` with a `DynamoStateStore` over `fetchDynamoApi` (the Lambda transport);
 * - baseline: bench/latency-baseline.ts (kafkaConsumer + makeIdempotent per record + plain SDK calls);
 * - floor: dogear's own trace of the same run, replayed against a fresh table with the same
 *   concurrency (lanes in parallel, each lane's waves in order, invocations one after another)
 *   and no processing at all.
 * Every run's tables are scanned afterwards and must equal a plain loop's sums, or the run fails.
 *
 * The model: from the trace, the round trips on each partition's critical path per invocation
 * (a wave of requests sent before any of them was answered counts once); modeled time =
 * Σ over invocations of the longest lane's round trips × L, plus the same consumer's time in
 * memory (MemoryStateStore) on the same events, measured in the same run.
 *
 * Prices: issue 10 gives $0.625 per million write request units and $0.125 per million read
 * request units (on-demand, Standard table class, US East). Checked on 2026-12-01: AWS's page
 * (PRICES.url) defines the units but its stored copy carries no price table (the page renders
 * it by script); https://airbyte.com/data-engineering-resources/dynamodb-pricing (2025-07-21)
 * quotes the same two figures for US East after AWS's 50% on-demand cut of 2024-11-01.
 */
import { strict as assert } from 'node:assert';
import { cpus } from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { startDynamoDbLocal } from '../infra/dynamodb-local.ts';
import { type EventRecord, eventRecordOf, eventsOf, type KafkaEvent } from '../src/event/index.ts';
import {
  type ConsumerDefinition,
  createHandler,
  createLogger,
  defineConsumer,
  type InvocationReport,
} from '../src/runtime/index.ts';
import {
  type DynamoApi,
  DynamoStateStore,
  fetchDynamoApi,
  MemoryStateStore,
  pkOf,
  StateCache,
} from '../src/state/index.ts';
import { itemBytes } from './capacity.ts';
import {
  assertSameCounts,
  type BenchOptions,
  type BenchResult,
  type BenchRow,
  collectGarbage,
  median,
  rowOf,
  runEvents,
  versus,
} from './harness.ts';
import { createPaymentsBaseline, type Payment } from './latency-baseline.ts';
import { type LatencyProxy, startLatencyProxy } from './latency-proxy.ts';
import {
  type CriticalPath,
  criticalPathOf,
  type LaneOf,
  modeledMs,
  planReplay,
  replay,
  type Tally,
  type Traced,
  tallyOf,
  traceOf,
} from './latency-trace.ts';
import { assertAllCompleted, createTable, readNumbers, scanAll } from './tables.ts';

export const DEFAULT_RECORDS = 4_000;
export const DEFAULT_LATENCY_MS = 5;
export const DEFAULT_SWEEP: readonly number[] = [1, 5, 10];
export const DEFAULT_BASELINE_RECORDS = 1_000;
const BENCHMARK = 'latency';
const TOPIC = 'payments';
const PARTITIONS = 4;
const BATCH_SIZE = 500;
/** Payments each subject runs first on scratch tables, uncounted: JIT, sockets, the JVM's. */
const WARMUP_RECORDS = 200;
/** Every n-th payment is delivered again (dedup), this many payments later. */
const REDELIVER_EVERY = 20;
const REDELIVER_AFTER = 250;
/** Timed rounds of each consumer in memory (the model's CPU term; the median is used). */
const MEMORY_ROUNDS = 3;
const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'dogear', secretAccessKey: 'local' };
const COMMAND = 'npx tsx bench/latency.bench.ts';

export const PRICES = {
  writePerMillion: 0.625,
  readPerMillion: 0.125,
  taken: '2026-12-01',
  url: 'https://aws.amazon.com/dynamodb/pricing/on-demand/',
} as const;

export const TARGETS = {
  requestsPerRecord: 0.03,
  /** dogear's records/s at least the floor's ÷ this. */
  floorRatio: 1.5,
  modeledPerSecond: 5_000,
} as const;

type Kind = 'balance' | 'dedup';

const Balance = defineConsumer(
  { topic: TOPIC, name: 'balance', batchSize: BATCH_SIZE },
  async function balance(record, ctx) {
    const { amount } = record.value as Payment;
    await ctx.state.update((b) => ((b as number | undefined) ?? 0) + amount);
  },
);

const Dedup = defineConsumer(
  {
    topic: TOPIC,
    name: 'dedup',
    batchSize: BATCH_SIZE,
    // The slice reads every record's `seen` item in one batch, at its first read.
    reads: { seen: (record) => (record.value as Payment | null)?.id },
  },
  async function dedup(record, ctx) {
    const { id, account, amount } = record.value as Payment;
    const seen = ctx.table<number>('seen');
    if (await seen.get(id)) return;
    seen.set(id, 1);
    ctx.table<number>('totals').add(account, amount);
  },
);

/** One consumer's events and what its tables must hold after them. */
interface Workload {
  readonly kind: Kind;
  readonly definition: ConsumerDefinition;
  /** The payments in delivery order, redeliveries included. */
  readonly delivered: readonly Payment[];
  readonly records: readonly EventRecord[];
  readonly events: readonly KafkaEvent[];
  readonly accounts: number;
  /** Deliveries of an id already delivered (dedup). */
  readonly redeliveries: number;
  /** dogear table → key → value, from a plain loop. */
  readonly expected: ReadonlyMap<string, ReadonlyMap<string, number>>;
  /** Each partition's last offset: where the checkpoints must end. */
  readonly lastOffsets: ReadonlyMap<number, number>;
  /** Every key dogear may send for it, to its partition. */
  readonly laneOf: LaneOf;
}

export interface LatencyBenchOptions {
  /** Payments of the balance consumer (dedup gets them plus redeliveries). @default 4000 */
  records?: number;
  /** Added per request by the proxy. @default 5 */
  latencyMs?: number;
  /** Latencies at which dogear balance runs again; empty for none. @default [1, 5, 10] */
  sweep?: readonly number[];
  /** Payments of the sweep's runs at other latencies. @default records */
  sweepRecords?: number;
  /**
   * Records of the baseline runs: the workload's first events holding at least this many (its
   * records/s does not depend on how many: it handles one record after another). @default 1000
   */
  baselineRecords?: number;
  progress?: (line: string) => void;
}

export interface SubjectFigures {
  readonly subject: string;
  readonly kind: Kind;
  readonly records: number;
  readonly ms: number;
  readonly recordsPerSecond: number;
  readonly tally: Tally;
  readonly requestsPerRecord: number;
  readonly readUnitsPerRecord: number;
  readonly writeUnitsPerRecord: number;
  /** On-demand price of the units, per million records. */
  readonly dollarsPerMillionRecords: number;
}

export interface ModelFigures {
  readonly kind: Kind;
  readonly records: number;
  readonly path: CriticalPath;
  /** The consumer in memory on the same events: every timed round, and their median. */
  readonly cpuRoundsMs: readonly number[];
  readonly cpuMs: number;
  /** Latency → modeled records/s. */
  readonly modeled: ReadonlyMap<number, number>;
}

export interface SweepPoint {
  readonly latencyMs: number;
  readonly records: number;
  readonly measured: SubjectFigures;
  readonly modeledPerSecond: number;
  readonly roundTrips: number;
}

export interface LatencyFigures {
  readonly benchmark: 'latency';
  readonly latencyMs: number;
  readonly partitions: number;
  readonly batchSize: number;
  readonly workloads: ReadonlyArray<{
    kind: Kind;
    records: number;
    events: number;
    accounts: number;
    redeliveries: number;
  }>;
  readonly subjects: readonly SubjectFigures[];
  readonly models: readonly ModelFigures[];
  readonly sweep: readonly SweepPoint[];
  readonly largestItemBytes: number;
  readonly unrecorded: number;
  readonly command: string;
  readonly node: string;
}

/** `npm run bench -- --only latency`: prints its own section; rows for the JSON line. */
export async function latencyBench(options: BenchOptions): Promise<BenchResult> {
  const figures = await measureLatency({ progress: options.progress });
  console.log(formatLatency(figures));
  return { rows: rowsOf(figures), notes: [] };
}

export async function measureLatency(options: LatencyBenchOptions = {}): Promise<LatencyFigures> {
  const records = options.records ?? DEFAULT_RECORDS;
  const latencyMs = options.latencyMs ?? DEFAULT_LATENCY_MS;
  const sweep = options.sweep ?? DEFAULT_SWEEP;
  const sweepRecords = options.sweepRecords ?? records;
  const baselineRecords = options.baselineRecords ?? DEFAULT_BASELINE_RECORDS;
  assert.ok(
    Number.isInteger(baselineRecords) && baselineRecords > 0,
    `baseline records: ${baselineRecords}`,
  );
  assert.ok(Number.isInteger(records) && records > 0, `records: ${records} is not a count`);
  assert.ok(Number.isInteger(sweepRecords) && sweepRecords > 0, `sweep records: ${sweepRecords}`);
  assert.ok(latencyMs >= 0, `latency: ${latencyMs} ms`);
  const progress = options.progress ?? ((line: string) => process.stderr.write(`${line}\n`));
  const say = (line: string) => progress(`${BENCHMARK}: ${line}`);

  const balance = workloadOf('balance', paymentsOf(records, 1));
  const dedup = workloadOf('dedup', withRedeliveries(paymentsOf(records, 2)));
  const warmups = [
    workloadOf('balance', paymentsOf(WARMUP_RECORDS, 3, 'warm-')),
    workloadOf('dedup', withRedeliveries(paymentsOf(WARMUP_RECORDS, 4, 'warm-'))),
  ];
  for (const w of [balance, dedup]) {
    say(
      `${w.kind}: ${w.records.length} records (${w.accounts} accounts, ${w.redeliveries} redelivered) in ${w.events.length} events of ${BATCH_SIZE} over ${PARTITIONS} partitions`,
    );
  }

  say('in memory (the model’s CPU term)');
  const cpu = new Map<Kind, number[]>();
  for (const w of [balance, dedup]) cpu.set(w.kind, await inMemoryRounds(w));

  say('starting DynamoDB Local');
  const local = await startDynamoDbLocal();
  const proxy = await startLatencyProxy(local.endpoint, latencyMs);
  const admin = new DynamoDBClient({
    region: REGION,
    endpoint: local.endpoint,
    credentials: CREDENTIALS,
  });
  const direct = fetchDynamoApi({ region: REGION, endpoint: local.endpoint, credentials: creds });
  try {
    const run = { proxy, admin, direct };
    say('warm-up (scratch tables, not counted)');
    for (const w of warmups) {
      await dogearRun(run, w, `warmup-dogear-${w.kind}`);
      await baselineRun(run, w, `warmup-baseline-${w.kind}`);
    }

    const subjects: SubjectFigures[] = [];
    const models: ModelFigures[] = [];
    const floorsOf = new Map<Kind, SubjectFigures>();
    const dogearOf = new Map<Kind, { figures: SubjectFigures; path: CriticalPath }>();
    for (const w of [balance, dedup]) {
      say(`dogear ${w.kind} at ${latencyMs} ms`);
      const table = `dogear-${w.kind}`;
      const dogear = await dogearRun(run, w, table);
      const figures = subjectOf(`dogear ${w.kind}`, w, dogear.ms, dogear.tally);
      dogearOf.set(w.kind, { figures, path: dogear.path });

      // The same consumer with reading ahead off: one GetItem per item when a record reads it,
      // as dogear read before batched reads.
      say(`dogear ${w.kind} at ${latencyMs} ms, reading one item at a time (readAhead: false)`);
      const single = await dogearRun(run, w, `single-${w.kind}`, false);
      const singleFigures = subjectOf(
        `dogear ${w.kind}, no read-ahead`,
        w,
        single.ms,
        single.tally,
      );

      say(`baseline ${w.kind} (Powertools kafka + idempotency) at ${latencyMs} ms`);
      const b = prefixOf(w, baselineRecords);
      const baseline = await baselineRun(run, b, `baseline-${w.kind}`);
      subjects.push(
        figures,
        singleFigures,
        subjectOf(`baseline ${w.kind}`, b, baseline.ms, baseline.tally),
      );

      say(`floor ${w.kind}: dogear's ${dogear.path.requests} requests replayed`);
      const floor = await floorRun(run, w, dogear.trace, table, `floor-${w.kind}`);
      const floorFigures = subjectOf(`floor ${w.kind}`, w, floor.ms, floor.tally);
      floorsOf.set(w.kind, floorFigures);
      subjects.push(floorFigures);

      const cpuRoundsMs = cpu.get(w.kind)!;
      const cpuMs = median(cpuRoundsMs);
      const modeled = new Map<number, number>();
      for (const l of new Set([latencyMs, ...sweep])) {
        modeled.set(l, perSecond(w.records.length, modeledMs(dogear.path, l, cpuMs)));
      }
      models.push({
        kind: w.kind,
        records: w.records.length,
        path: dogear.path,
        cpuRoundsMs,
        cpuMs,
        modeled,
      });
    }

    const points: SweepPoint[] = [];
    const balanceModel = models.find((m) => m.kind === 'balance')!;
    for (const l of sweep) {
      if (l === latencyMs && sweepRecords === records) {
        const { figures, path } = dogearOf.get('balance')!;
        points.push({
          latencyMs: l,
          records,
          measured: figures,
          modeledPerSecond: balanceModel.modeled.get(l)!,
          roundTrips: path.roundTrips,
        });
        continue;
      }
      say(`sweep: dogear balance at ${l} ms (${sweepRecords} payments)`);
      const w =
        sweepRecords === records ? balance : workloadOf('balance', paymentsOf(sweepRecords, 1));
      const cpuMs = sweepRecords === records ? balanceModel.cpuMs : median(await inMemoryRounds(w));
      await proxy.setLatency(l);
      try {
        const r = await dogearRun(run, w, `sweep-${l}ms-balance`);
        points.push({
          latencyMs: l,
          records: w.records.length,
          measured: subjectOf(`dogear balance at ${l} ms`, w, r.ms, r.tally),
          modeledPerSecond: perSecond(w.records.length, modeledMs(r.path, l, cpuMs)),
          roundTrips: r.path.roundTrips,
        });
      } finally {
        await proxy.setLatency(latencyMs);
      }
    }

    // The unit rules count 1 KB a write and 4 KB a read past the transactions' own sizing:
    // make sure no item left is larger.
    let largestItemBytes = 0;
    for (const table of await tableNames(direct)) {
      if (table.startsWith('warmup-')) continue;
      for await (const item of scanAll(admin, table)) {
        largestItemBytes = Math.max(largestItemBytes, itemBytes(item));
      }
    }
    assert.ok(largestItemBytes < 1024, `an item of ${largestItemBytes} bytes: units undercounted`);
    const unrecorded = await proxy.unrecorded();
    assert.equal(unrecorded, 0, 'requests went through the proxy outside any recording');

    const argv: string[] = [];
    if (records !== DEFAULT_RECORDS) argv.push(`--records ${records}`);
    if (latencyMs !== DEFAULT_LATENCY_MS) argv.push(`--latency-ms ${latencyMs}`);
    if (sweep.join(',') !== DEFAULT_SWEEP.join(','))
      argv.push(`--sweep ${sweep.join(',') || 'off'}`);
    if (sweepRecords !== records) argv.push(`--sweep-records ${sweepRecords}`);
    if (baselineRecords !== DEFAULT_BASELINE_RECORDS) {
      argv.push(`--baseline-records ${baselineRecords}`);
    }
    return {
      benchmark: 'latency',
      latencyMs,
      partitions: PARTITIONS,
      batchSize: BATCH_SIZE,
      workloads: [balance, dedup].map((w) => ({
        kind: w.kind,
        records: w.records.length,
        events: w.events.length,
        accounts: w.accounts,
        redeliveries: w.redeliveries,
      })),
      subjects,
      models,
      sweep: points,
      largestItemBytes,
      unrecorded,
      command: [COMMAND, ...argv].join(' '),
      node: process.version,
    };
  } finally {
    admin.destroy();
    await proxy.close();
    await local.stop();
  }
}

// ———————————————————————————————————————————— the workloads

async function creds() {
  return CREDENTIALS;
}

/** A small linear congruential generator: the same seed, the same payments. */
function random(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/**
 * `count` payments over `count / 2` accounts: each round visits every account once, in a
 * shuffled order, so each account pays twice (the second time a few events later), with
 * integer amounts of 1 to 1,000.
 */
function paymentsOf(count: number, seed: number, prefix = ''): Payment[] {
  const accounts = Math.max(1, Math.ceil(count / 2));
  const next = random(seed);
  const payments: Payment[] = [];
  while (payments.length < count) {
    const order = Array.from({ length: accounts }, (_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (const a of order) {
      if (payments.length === count) break;
      payments.push({
        id: `${prefix}pay-${payments.length}`,
        account: `${prefix}acct-${a}`,
        amount: 1 + Math.floor(next() * 1000),
      });
    }
  }
  return payments;
}

/** Every `REDELIVER_EVERY`-th payment again, `REDELIVER_AFTER` payments later. */
function withRedeliveries(payments: readonly Payment[]): Payment[] {
  const out: Payment[] = [];
  const pending: Array<{ after: number; payment: Payment }> = [];
  payments.forEach((payment, n) => {
    out.push(payment);
    if (n % REDELIVER_EVERY === 0) pending.push({ after: n + REDELIVER_AFTER, payment });
    while (pending[0]?.after === n) out.push(pending.shift()!.payment);
  });
  for (const { payment } of pending) out.push(payment);
  return out;
}

/** FNV-1a: a stable hash of the account id picks its partition. */
function partitionOf(account: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < account.length; i++) {
    hash = Math.imul(hash ^ account.charCodeAt(i), 0x01000193) >>> 0;
  }
  return hash % PARTITIONS;
}

/** The workload's first events, as many as hold at least `records` records (all, if fewer). */
function prefixOf(w: Workload, records: number): Workload {
  let events = 0;
  let count = 0;
  while (events < w.events.length && count < records) {
    count += Object.values(w.events[events]!.records).reduce((n, r) => n + r.length, 0);
    events++;
  }
  if (events === w.events.length) return w;
  const prefix = workloadOf(w.kind, w.delivered.slice(0, count));
  // The same events, cut short: eventsOf cut the records in delivery order.
  assert.deepEqual(
    prefix.events,
    w.events.slice(0, events),
    `${w.kind}: prefix of ${events} events`,
  );
  return prefix;
}

function workloadOf(kind: Kind, payments: readonly Payment[]): Workload {
  const definition = kind === 'balance' ? Balance : Dedup;
  const group = definition.group;
  const offsets = new Array<number>(PARTITIONS).fill(0);
  const records = payments.map((p, i) => {
    const partition = partitionOf(p.account);
    return eventRecordOf(
      {
        topic: TOPIC,
        partition,
        offset: offsets[partition]!++,
        timestamp: 1_764_000_000_000 + i * 10,
        key: p.account,
        value: p,
      },
      `payment ${i}`,
    );
  });
  const lastOffsets = new Map<number, number>();
  offsets.forEach((next, partition) => {
    if (next > 0) lastOffsets.set(partition, next - 1);
  });

  const lanes = new Map<string, number>();
  for (let partition = 0; partition < PARTITIONS; partition++) {
    lanes.set(pkOf.checkpoint({ group, topic: TOPIC, partition }), partition);
  }
  const sums = new Map<string, number>();
  const seen = new Map<string, number>();
  for (const p of payments) {
    const partition = partitionOf(p.account);
    lanes.set(pkOf.item(group, 'state', p.account), partition);
    lanes.set(pkOf.item(group, 'totals', p.account), partition);
    lanes.set(pkOf.item(group, 'seen', p.id), partition);
    if (kind === 'dedup' && seen.has(p.id)) continue;
    seen.set(p.id, 1);
    sums.set(p.account, (sums.get(p.account) ?? 0) + p.amount);
  }
  const expected =
    kind === 'balance'
      ? new Map([['state', sums]])
      : new Map([
          ['totals', sums],
          ['seen', seen],
        ]);
  return {
    kind,
    definition,
    delivered: payments,
    records,
    events: eventsOf(records, BATCH_SIZE),
    accounts: new Set(payments.map((p) => p.account)).size,
    redeliveries: payments.length - seen.size,
    expected,
    lastOffsets,
    laneOf: (pk) => lanes.get(pk),
  };
}

// ———————————————————————————————————————————— the runs

interface Run {
  readonly proxy: LatencyProxy;
  readonly admin: DynamoDBClient;
  /** DynamoDB Local without the proxy: tables made and checked here are not counted. */
  readonly direct: DynamoApi;
}

/** Each invocation's report, checked: every record processed, none failed. */
function reportsChecked(w: Workload, reports: readonly InvocationReport[], label: string) {
  const sum = (pick: (r: InvocationReport) => number) => reports.reduce((n, r) => n + pick(r), 0);
  assert.equal(
    sum((r) => r.processed),
    w.records.length,
    `${label}: records processed`,
  );
  assert.equal(
    sum((r) => r.failed),
    0,
    `${label}: failures`,
  );
  assert.equal(
    sum((r) => r.duplicates),
    0,
    `${label}: records skipped as below a checkpoint`,
  );
}

/** The consumer on a `MemoryStateStore`: a warm-up, then the timed rounds (each checked). */
async function inMemoryRounds(w: Workload): Promise<number[]> {
  const once = async () => {
    const store = new MemoryStateStore();
    const reports: InvocationReport[] = [];
    const handler = createHandler(w.definition, {
      store,
      cache: new StateCache(),
      log: createLogger(() => {}),
      onReport: (r) => reports.push(r),
    });
    const events = structuredClone(w.events) as KafkaEvent[];
    collectGarbage();
    const started = performance.now();
    await runEvents(handler, events, w.definition);
    const ms = performance.now() - started;
    reportsChecked(w, reports, `in memory ${w.kind}`);
    for (const [table, rows] of w.expected) {
      assertSameCounts(await store.scanTable(w.definition.group, table), rows, `memory ${table}`);
    }
    return ms;
  };
  await once();
  const rounds: number[] = [];
  for (let i = 0; i < MEMORY_ROUNDS; i++) rounds.push(await once());
  return rounds;
}

async function dogearRun(run: Run, w: Workload, table: string, readAhead = true) {
  await new DynamoStateStore({ api: run.direct, table }).ensureTable();
  const reports: InvocationReport[] = [];
  const handler = createHandler(w.definition, {
    readAhead,
    store: new DynamoStateStore({
      api: fetchDynamoApi({ region: REGION, endpoint: run.proxy.url, credentials: creds }),
      table,
    }),
    cache: new StateCache(),
    log: createLogger(() => {}),
    onReport: (r) => reports.push(r),
  });
  const events = structuredClone(w.events) as KafkaEvent[];
  collectGarbage();
  const recording = await run.proxy.record();
  const started = performance.now();
  await runEvents(handler, events, w.definition, (index) => recording.markInvocation(index));
  const ms = performance.now() - started;
  const exchanges = await run.proxy.stop();
  reportsChecked(w, reports, `dogear ${w.kind}`);
  await checkDogearTables(run, w, table, `dogear ${w.kind}`);
  const trace = traceOf(exchanges, w.laneOf);
  return { ms, tally: tallyOf(exchanges), trace, path: criticalPathOf(trace) };
}

/** dogear's tables (or the floor's) equal the plain loop's; checkpoints at the last offsets. */
async function checkDogearTables(run: Run, w: Workload, table: string, label: string) {
  const store = new DynamoStateStore({ api: run.direct, table });
  for (const [name, rows] of w.expected) {
    assertSameCounts(await store.scanTable(w.definition.group, name), rows, `${label}: ${name}`);
  }
  const checkpoints = await store.scanCheckpoints(w.definition.group);
  assert.deepEqual(
    new Map(checkpoints.map((c) => [c.partition, c.offset])),
    w.lastOffsets,
    `${label}: checkpoints`,
  );
}

async function baselineRun(run: Run, w: Workload, prefix: string) {
  const names = {
    idempotency: `${prefix}-idempotency`,
    balances: `${prefix}-balances`,
    seen: `${prefix}-seen`,
    totals: `${prefix}-totals`,
  };
  await createTable(run.admin, names.idempotency, 'id');
  if (w.kind === 'balance') await createTable(run.admin, names.balances, 'account');
  else {
    await createTable(run.admin, names.seen, 'id');
    await createTable(run.admin, names.totals, 'account');
  }
  const client = (maxAttempts?: number) =>
    new DynamoDBClient({
      region: REGION,
      endpoint: run.proxy.url,
      credentials: CREDENTIALS,
      ...(maxAttempts ? { maxAttempts } : {}),
    });
  // The persistence layer gets its own client, as it would build one by default.
  const idempotencyClient = client();
  const tablesClient = client();
  const handler = createPaymentsBaseline({
    idempotencyClient,
    idempotencyTable: names.idempotency,
    client: tablesClient,
    tables:
      w.kind === 'balance'
        ? { kind: 'balance', balances: names.balances }
        : { kind: 'dedup', seen: names.seen, totals: names.totals },
    keyPrefix: w.definition.name,
  });
  const events = structuredClone(w.events) as KafkaEvent[];
  collectGarbage();
  const recording = await run.proxy.record();
  const started = performance.now();
  await runEvents(handler, events, w.definition, (index) => recording.markInvocation(index));
  const ms = performance.now() - started;
  const exchanges = await run.proxy.stop();
  idempotencyClient.destroy();
  tablesClient.destroy();

  const label = `baseline ${w.kind}`;
  const read = (table: string, key: string, value?: string) =>
    readNumbers(run.admin, table, key, value);
  if (w.kind === 'balance') {
    assertSameCounts(
      await read(names.balances, 'account', 'balance'),
      w.expected.get('state')!,
      label,
    );
  } else {
    assertSameCounts(
      await read(names.totals, 'account', 'total'),
      w.expected.get('totals')!,
      label,
    );
    assertSameCounts(await read(names.seen, 'id'), w.expected.get('seen')!, `${label}: seen`);
  }
  await assertAllCompleted(run.admin, names.idempotency, w.records.length, label);
  return { ms, tally: tallyOf(exchanges) };
}

async function floorRun(run: Run, w: Workload, trace: readonly Traced[], from: string, to: string) {
  await new DynamoStateStore({ api: run.direct, table: to }).ensureTable();
  const plan = planReplay(trace, from, to);
  collectGarbage();
  await run.proxy.record();
  const started = performance.now();
  await replay(plan, run.proxy.url);
  const ms = performance.now() - started;
  const exchanges = await run.proxy.stop();
  assert.equal(exchanges.length, trace.length, `floor ${w.kind}: requests replayed`);
  await checkDogearTables(run, w, to, `floor ${w.kind}`);
  return { ms, tally: tallyOf(exchanges) };
}

async function tableNames(api: DynamoApi): Promise<string[]> {
  const out = await api.send<Record<string, never>, { TableNames?: string[] }>({
    action: 'ListTables',
    input: {},
  });
  return out.TableNames ?? [];
}

function perSecond(records: number, ms: number): number {
  return Math.round((records / ms) * 1000);
}

function subjectOf(subject: string, w: Workload, ms: number, tally: Tally): SubjectFigures {
  const records = w.records.length;
  const writeUnitsPerRecord = tally.writeUnits / records;
  const readUnitsPerRecord = tally.readUnits / records;
  return {
    subject,
    kind: w.kind,
    records,
    ms: Math.round(ms * 10) / 10,
    recordsPerSecond: perSecond(records, ms),
    tally,
    requestsPerRecord: tally.requests / records,
    readUnitsPerRecord,
    writeUnitsPerRecord,
    dollarsPerMillionRecords:
      writeUnitsPerRecord * PRICES.writePerMillion + readUnitsPerRecord * PRICES.readPerMillion,
  };
}

// ———————————————————————————————————————————— the section

function rowsOf(f: LatencyFigures): BenchRow[] {
  const rows: BenchRow[] = [];
  for (const kind of ['balance', 'dedup'] as const) {
    const of = (prefix: string) => f.subjects.find((s) => s.subject === `${prefix} ${kind}`)!;
    const row = (s: SubjectFigures) =>
      rowOf(BENCHMARK, `${s.subject} at ${f.latencyMs} ms`, s.records, 'records/s', [s.ms]);
    const floor = row(of('floor'));
    const single = f.subjects.find((s) => s.subject === `dogear ${kind}, no read-ahead`)!;
    rows.push(
      versus(row(of('dogear')), floor),
      versus(row(single), floor),
      versus(row(of('baseline')), floor),
      floor,
    );
  }
  for (const p of f.sweep) {
    if (p.latencyMs === f.latencyMs && p.records === f.subjects[0]!.records) continue;
    rows.push(rowOf(BENCHMARK, p.measured.subject, p.records, 'records/s', [p.measured.ms]));
  }
  return rows;
}

const n = (x: number, digits = 0) =>
  x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const small = (x: number) => n(x, x < 1 ? 4 : 2);

function aligned(rows: string[][], left = 1): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const lines = rows.map((r) =>
    r
      .map((c, i) => (i < left ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
  lines.splice(1, 0, widths.map((w) => '─'.repeat(w)).join('  '));
  return lines.map((l) => `  ${l}`);
}

const upstream = (t: Tally) =>
  Object.entries(t.meanUpstreamMs)
    .map(([name, ms]) => `${name} ${n(ms, 1)} ms`)
    .join(', ');

const actions = (t: Tally) =>
  Object.entries(t.byAction)
    .sort(([, a], [, b]) => b - a)
    .map(([name, count]) => `${name} ${n(count)}`)
    .join(', ');

/** The round trips each invocation waited for, lane by lane: what the model multiplies by L. */
function formatPath(m: ModelFigures, latencyMs: number): string[] {
  const lanes = [...new Set(m.path.invocations.flatMap((i) => [...i.lanes.keys()]))].sort(
    (a, b) => a - b,
  );
  const name = (lane: number) => `p${lane}`;
  const cell = (requests: number, roundTrips: number) =>
    requests === roundTrips ? n(roundTrips) : `${n(roundTrips)} (${n(requests)} req)`;
  const rows = [
    ['invocation', ...lanes.map(name), 'longest'],
    ...m.path.invocations.map((inv) => [
      String(inv.invocation + 1),
      ...lanes.map((lane) => {
        const p = inv.lanes.get(lane);
        return p ? cell(p.requests, p.roundTrips) : '0';
      }),
      n(inv.roundTrips),
    ]),
    [
      'Σ',
      ...lanes.map((lane) => {
        let requests = 0;
        let roundTrips = 0;
        for (const inv of m.path.invocations) {
          requests += inv.lanes.get(lane)?.requests ?? 0;
          roundTrips += inv.lanes.get(lane)?.roundTrips ?? 0;
        }
        return cell(requests, roundTrips);
      }),
      n(m.path.roundTrips),
    ],
  ];
  const roundTripMs = m.path.roundTrips * latencyMs;
  const shared = m.path.shared
    ? [
        `  ${n(m.path.shared)} requests served several partitions: the model counts each on every partition it served; the floor sends each once, in a lane of its own.`,
      ]
    : [];
  const total = roundTripMs + m.cpuMs;
  return [
    `Model, dogear ${m.kind}: round trips on each partition's critical path per invocation (a wave of requests sent before any was answered counts once; "(k req)" where a lane's requests outnumber its round trips)`,
    '',
    ...aligned(rows),
    '',
    ...shared,
    `  modeled at ${latencyMs} ms: Σ longest ${n(m.path.roundTrips)} round trips × ${latencyMs} ms = ${n(roundTripMs)} ms, + ${n(m.cpuMs, 1)} ms in memory (median of ${m.cpuRoundsMs.map((x) => n(x, 1)).join(', ')} ms) = ${n(total, 1)} ms for ${n(m.records)} records → ${n(m.modeled.get(latencyMs)!)} records/s`,
  ];
}

export function formatLatency(f: LatencyFigures): string {
  const table = aligned([
    [
      'subject',
      'records',
      'requests',
      'requests/record',
      'read units/record',
      'write units/record',
      '$ per million records',
      'records/s',
      'ms',
    ],
    ...f.subjects.map((s) => [
      s.subject,
      n(s.records),
      n(s.tally.requests),
      small(s.requestsPerRecord),
      small(s.readUnitsPerRecord),
      small(s.writeUnitsPerRecord),
      n(s.dollarsPerMillionRecords, 2),
      n(s.recordsPerSecond),
      n(s.ms),
    ]),
  ]);
  const subject = (name: string) => f.subjects.find((s) => s.subject === name)!;
  const model = (kind: Kind) => f.models.find((m) => m.kind === kind)!;
  const mark = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const targets: string[] = [];
  for (const kind of ['balance', 'dedup'] as const) {
    const dogear = subject(`dogear ${kind}`);
    const floor = subject(`floor ${kind}`);
    const ratio = floor.recordsPerSecond / dogear.recordsPerSecond;
    const modeled = model(kind).modeled.get(f.latencyMs)!;
    targets.push(
      `  ${kind}: requests/record ${small(dogear.requestsPerRecord)} (target ≤ ${TARGETS.requestsPerRecord}: ${mark(dogear.requestsPerRecord <= TARGETS.requestsPerRecord)}); results exact (checked, else the run fails: met); floor ÷ dogear records/s ${n(ratio, 2)}× (target ≤ ${TARGETS.floorRatio}×: ${mark(ratio <= TARGETS.floorRatio)}); modeled at ${f.latencyMs} ms ${n(modeled)} records/s, measured ${n(dogear.recordsPerSecond)} (target ≥ ${n(TARGETS.modeledPerSecond)}: ${mark(modeled >= TARGETS.modeledPerSecond)})`,
    );
  }
  const sweep = aligned([
    [
      'latency',
      'records',
      'requests/record',
      'measured records/s',
      'round trips',
      'modeled records/s',
    ],
    ...f.sweep.map((p) => [
      `${p.latencyMs} ms`,
      n(p.records),
      small(p.measured.requestsPerRecord),
      n(p.measured.recordsPerSecond),
      n(p.roundTrips),
      n(p.modeledPerSecond),
    ]),
  ]);
  const failures = f.subjects
    .filter((s) => Object.keys(s.tally.failures).length > 0)
    .map(
      (s) =>
        `${s.subject}: ${Object.entries(s.tally.failures)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
    );
  const workloads = f.workloads
    .map(
      (w) =>
        `${w.kind} ${n(w.records)} records (${n(w.accounts)} accounts${w.redeliveries ? `, ${n(w.redeliveries)} redelivered ids` : ''}) in ${w.events} events`,
    )
    .join('; ');
  const sweepRecords = f.sweep.filter((p) => p.records !== f.subjects[0]!.records);
  const baselines = f.subjects.filter((s) => s.subject.startsWith('baseline'));
  return [
    `DynamoDB at ${f.latencyMs} ms a request: dogear vs Powertools kafka + idempotency vs the floor (same events, same DynamoDB Local, same latency proxy)`,
    '',
    ...table,
    '',
    'Targets (measured vs target):',
    ...targets,
    '',
    ...formatPath(model('balance'), f.latencyMs),
    '',
    ...formatPath(model('dedup'), f.latencyMs),
    '',
    `Latency sweep, dogear balance (measured, and modeled from that run's own trace):`,
    '',
    ...sweep,
    '',
    `- events: ${workloads}; ${f.partitions} partitions (account → partition by FNV-1a of its id), eventsOf(records, ${f.batchSize}), handled in order as one warm Lambda; each subject from empty tables, after a ${WARMUP_RECORDS}-payment warm-up of each subject on scratch tables (not counted).`,
    `- requests: dogear balance ${actions(subject('dogear balance').tally)}; dogear dedup ${actions(subject('dogear dedup').tally)}; baseline balance ${actions(subject('baseline balance').tally)}; baseline dedup ${actions(subject('baseline dedup').tally)}.`,
    `- proxy (node:http in a worker thread, its own event loop): every request waits ${f.latencyMs} ms (a timer: ${n(subject('dogear balance').tally.meanDelayMs, 2)} ms on average in the dogear balance run) before it is forwarded to DynamoDB Local; each answer is counted there, retries included. Failed answers (no units counted): ${failures.length ? failures.join('; ') : 'none'}.`,
    `- DynamoDB Local's own time per answer (after the wait), mean: ${f.subjects.map((s) => `${s.subject} ${upstream(s.tally)}`).join('; ')}.`,
    `- units: by AWS's rules (bench/capacity.ts) for the requests that succeeded: a write 1 per KB, a transaction's item 2 per KB, a consistent read 1 per 4 KB (a read finding nothing the minimum), BatchGetItem as one GetItem per key read; the largest item left in any table is ${f.largestItemBytes} bytes.`,
    `- $ per million records: write units × $${PRICES.writePerMillion} + read units × $${PRICES.readPerMillion} per million (on-demand, US East, Standard table class; taken ${PRICES.taken}, ${PRICES.url}).`,
    `- baseline (bench/latency-baseline.ts): kafkaConsumer (JSON values) + makeIdempotent per record (eventKeyJmesPath '[topic, partition, offset]', DynamoDBPersistenceLayer on its own table), then balance: one UpdateItem ADD per record; dedup: a consistent GetItem of the payment id and, when absent, a conditional PutItem (attribute_not_exists) and an UpdateItem ADD; records one by one, in order. It ran on the first ${baselines.map((s) => `${n(s.records)} records of ${s.kind}`).join(' and ')} (the same events, cut short): it handles one record after another, so its records/s and requests per record do not depend on how many.`,
    `- checked: dogear's and the floor's tables equal a plain loop's sums (balances; dedup totals and seen ids, duplicates counted once) and their checkpoints end at each partition's last offset; the baseline's tables equal the same sums and it left one COMPLETED idempotency item per record; the in-memory runs equal them too.`,
    "- dogear: createHandler with a DynamoStateStore over fetchDynamoApi (the Lambda transport) and a fresh StateCache; balance reads ctx.state (read ahead at a slice's first read, BatchGetItem), dedup names its `seen` reads with `reads: { seen: (record) => record.value?.id }`. 'no read-ahead' is the same consumer with createHandler's readAhead: false: one GetItem per item when a record reads it, as dogear read before batched reads.",
    `- floor: dogear's trace of the same run (every request, retries included) replayed through the same proxy to a fresh table: invocations one after another, partitions in parallel, each partition's waves in recorded order, a wave's requests together; no handler, no decoding. Every answer's status must match the run's.`,
    `- model: Σ over invocations of the longest partition's round trips × latency, plus the consumer's time in memory (MemoryStateStore, fresh cache, same events, ${MEMORY_ROUNDS} timed rounds after a warm-up, median). It assumes DynamoDB answers in exactly the latency; DynamoDB Local here takes longer (its transactions tens of ms), which the floor includes.`,
    ...(sweepRecords.length
      ? [
          `- sweep: the runs at ${sweepRecords.map((p) => `${p.latencyMs} ms`).join(', ')} used ${n(sweepRecords[0]!.records)} payments, not ${n(f.subjects[0]!.records)}, to keep the benchmark short; their model uses their own in-memory time.`,
        ]
      : []),
    `- DynamoDB Local (Java) and this benchmark (consumers, proxy, replay) share this machine's ${cpus().length} cores; records/s ranks the subjects here, requests and units per record are the portable figures.`,
    `- Reproduce: ${f.command}   (Node ${f.node})`,
  ].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      records: { type: 'string' },
      'latency-ms': { type: 'string' },
      sweep: { type: 'string' },
      'sweep-records': { type: 'string' },
      'baseline-records': { type: 'string' },
    },
  });
  const numbers = (text: string) =>
    text === 'off' || text === '' ? [] : text.split(',').map((s) => Number(s.trim()));
  const figures = await measureLatency({
    ...(values.records === undefined ? {} : { records: Number(values.records) }),
    ...(values['latency-ms'] === undefined ? {} : { latencyMs: Number(values['latency-ms']) }),
    ...(values.sweep === undefined ? {} : { sweep: numbers(values.sweep) }),
    ...(values['sweep-records'] === undefined
      ? {}
      : { sweepRecords: Number(values['sweep-records']) }),
    ...(values['baseline-records'] === undefined
      ? {}
      : { baselineRecords: Number(values['baseline-records']) }),
  });
  console.log(formatLatency(figures));
}
