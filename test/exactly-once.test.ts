/**
 * The promise, proven against DynamoDB Local: 20,000 records (100,000 with `npm run soak`) over
 * 8 partitions through word-count and thermometer, with injected handler errors, redelivered
 * events, overlapping invocations of one partition, and a worker process SIGKILLed during commits. The final
 * tables must equal an oracle computed here: nothing lost, nothing applied twice.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, inject, test } from 'vitest';
import { Thermometer } from '../functions/thermometer.ts';
import { WordCount } from '../functions/word-count.ts';
import { eventRecordOf, eventsOf, type KafkaEvent, type NdjsonRecord } from '../src/event/index.ts';
import {
  BatchFailedError,
  type ConsumerDefinition,
  consumerOf,
  createHandler,
  createLogger,
  type InvocationReport,
  lambdaContext,
} from '../src/runtime/index.ts';
import { type DynamoStateStore, openDynamoStateStore } from '../src/state/index.ts';
import { shortPages, temperatureReadings } from './fixtures/book.ts';
import { thermometerOracle, wordCountOracle } from './fixtures/oracle.ts';

/**
 * 20,000 records in `npm test` (word-count about 2 minutes on an idle 2-core machine, well inside a
 * third of its timeout); `npm run soak` runs the full 100,000 (about 11 minutes here).
 */
const RECORDS = Number(process.env.DOGEAR_SOAK_RECORDS ?? 20_000);
const TIMEOUT_MS = Number(process.env.DOGEAR_SOAK_TIMEOUT_MS ?? 900_000);
const PARTITIONS = 8;
const TABLE = 'dogear-exactly-once';
let store: DynamoStateStore;
const dir = mkdtempSync(join(tmpdir(), 'dogear-eo-'));

beforeAll(async () => {
  store = await openDynamoStateStore({ endpoint: inject('dynamodbEndpoint'), table: TABLE });
});

interface Tally {
  retries: number;
  fences: number;
  conflicts: number;
  kills: number;
  duplicates: number;
}

/** A random generator with a seed, so a failing run can be replayed. */
function random(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Wraps a consumer so chosen records throw the first time they are handled. */
function flaky(
  definition: ConsumerDefinition,
  group: string,
  failOnce: Set<string>,
): ConsumerDefinition {
  return {
    ...definition,
    group,
    create: () => {
      const handle = definition.create() as (
        record: { partition: number; offset: number },
        ctx: unknown,
      ) => unknown;
      return (record: { partition: number; offset: number }, ctx: unknown) => {
        if (failOnce.delete(`${record.partition}@${record.offset}`))
          throw new Error('injected failure');
        return handle(record, ctx);
      };
    },
  } as ConsumerDefinition;
}

/** One Lambda instance: its own handler and warm cache, collecting reports. */
function instance(definition: ConsumerDefinition, tally: Tally) {
  const handler = createHandler(definition, {
    store,
    log: createLogger(() => {}),
    onReport: (report: InvocationReport) => {
      tally.fences += report.fences;
      tally.conflicts += report.reruns - report.fences;
      tally.duplicates += report.duplicates;
    },
  });
  /** Delivers an event until it succeeds, as Lambda retries a failed batch. */
  return async (event: KafkaEvent) => {
    for (;;) {
      try {
        return await handler(event, lambdaContext(definition));
      } catch (error) {
        if (!(error instanceof BatchFailedError)) throw error;
        tally.retries++;
      }
    }
  };
}

/**
 * Runs a worker process from `from` and SIGKILLs it partway through the event after its
 * `killAfterEvents`-th (at `fraction` of the time the event before it took, so the kill lands
 * while it commits whatever the machine's pace); 0 lets it finish. Returns the last event it
 * finished.
 */
function runWorker(
  consumer: string,
  group: string,
  file: string,
  from: number,
  killAfterEvents: number,
  fraction = 0.5,
) {
  return new Promise<{ lastDone: number; killed: boolean }>((resolve, reject) => {
    const child = spawn(
      'node_modules/.bin/tsx',
      [
        'test/fixtures/worker.ts',
        inject('dynamodbEndpoint'),
        TABLE,
        consumer,
        group,
        file,
        String(from),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let lastDone = from - 1;
    let stderr = '';
    let done = 0;
    let previousAt: number | undefined;
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      for (const match of chunk.toString().matchAll(/done (\d+)/g)) {
        lastDone = Number(match[1]);
        done += 1;
        const now = performance.now();
        // The first event's time includes tsx booting; the pace is measured from the second on.
        const pace = previousAt === undefined ? 200 : now - previousAt;
        previousAt = now;
        if (killAfterEvents > 0 && done === killAfterEvents && timer === undefined) {
          timer = setTimeout(() => child.kill('SIGKILL'), fraction * pace);
        }
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') resolve({ lastDone, killed: true });
      else if (code === 0) resolve({ lastDone, killed: false });
      else reject(new Error(`worker exited with ${code}: ${stderr}`));
    });
  });
}

async function exactlyOnce(
  name: 'word-count' | 'thermometer',
  consumerClass: unknown,
  records: NdjsonRecord[],
  oracle: Record<string, number>,
  table: string,
) {
  // The oracle folds every record: a record that fails is retried until it succeeds, never given
  // up, so thermometer runs without its deadLetter here (test/pipeline.test.ts proves those).
  const { deadLetter: _, ...definition } = consumerOf(consumerClass)!;
  const group = `${name}-eo`;
  const events = eventsOf(
    records.map((r, i) => eventRecordOf(r, `record ${i}`)),
    500,
  );
  const half = Math.floor(events.length / 2);
  const next = random(2026);
  const tally: Tally = { retries: 0, fences: 0, conflicts: 0, kills: 0, duplicates: 0 };

  // (a) handler errors at about one record in 500, (c) three instances with stale caches, and
  // every 8th event delivered to two instances at once, so one of them must be fenced.
  const failOnce = new Set(
    events
      .slice(0, half)
      .flatMap((event) => Object.values(event.records).flat())
      .filter(() => next() < 1 / 500)
      .map((r) => `${r.partition}@${r.offset}`),
  );
  const injected = failOnce.size;
  const instances = [0, 1, 2].map(() => instance(flaky(definition, group, failOnce), tally));
  for (let i = 0; i < half; i++) {
    const event = events[i]!;
    if (i % 8 === 7) await Promise.all([instances[i % 3]!(event), instances[(i + 1) % 3]!(event)]);
    else await instances[i % 3]!(event);
    // (b) an earlier event comes back, as after a rebalance.
    if (next() < 0.1) await instances[(i + 2) % 3]!(events[Math.floor(next() * (i + 1))]!);
  }
  expect(failOnce.size).toBe(0);

  // (d) a worker process killed with SIGKILL at random moments, restarted where Lambda would:
  // at the first event it did not finish.
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(events));
  let from = half;
  while (from < events.length) {
    const { lastDone, killed } = await runWorker(
      name,
      group,
      file,
      from,
      2 + Math.floor(next() * 3),
      next(),
    );
    if (killed) tally.kills++;
    from = lastDone + 1;
    if (tally.kills >= 6) break;
  }
  if (from < events.length) await runWorker(name, group, file, from, 0);

  // (b) everything once more: all duplicates, nothing changes.
  const before = tally.duplicates;
  const again = instance(definition.group === group ? definition : { ...definition, group }, tally);
  for (const event of events) await again(event);
  expect(tally.duplicates - before).toBe(records.length);

  const actual = Object.fromEntries(await store.scanTable(group, table));
  expect(actual).toEqual(oracle);
  const offsets = await store.scanCheckpoints(group);
  expect(offsets).toHaveLength(PARTITIONS);
  process.stderr.write(
    `${name}: ${records.length} records over ${PARTITIONS} partitions; injected ${injected} handler errors, ${tally.retries} batch retries, ${tally.fences} fences, ${tally.conflicts} item conflicts, ${tally.kills} SIGKILLs; final table equals the oracle (${Object.keys(oracle).length} keys)\n`,
  );
  expect(tally.kills).toBeGreaterThan(0);
  expect(tally.fences).toBeGreaterThan(0);
}

test(
  'word-count: exactly once under errors, redelivery, overlap and SIGKILL',
  async () => {
    // Four variants of each word: a slice writes ~180 keys, so commits go through the intent path.
    const records = shortPages(RECORDS, PARTITIONS, 4);
    await exactlyOnce('word-count', WordCount, records, wordCountOracle(records), 'counts');
  },
  TIMEOUT_MS,
);

test(
  'thermometer: exactly once under errors, redelivery, overlap and SIGKILL',
  async () => {
    const records = temperatureReadings(RECORDS, 64, PARTITIONS);
    await exactlyOnce('thermometer', Thermometer, records, thermometerOracle(records), 'state');
  },
  TIMEOUT_MS,
);

afterAll(() => {});
