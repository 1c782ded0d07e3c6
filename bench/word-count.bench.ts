/**
 * The example `word-count` consumer through dogear's generated handler, beside a hand-written
 * loop over the same MSK events that only decodes and counts. Import this only after
 * `resolveDogearToSource()` (functions/word-count.ts imports `'dogear'`).
 */
import { strict as assert } from 'node:assert';
import { WordCount } from '../functions/word-count.ts';
import { type EventRecord, eventRecordOf, eventsOf, type KafkaEvent } from '../src/event/index.ts';
import {
  type ConsumerDefinition,
  consumerOf,
  createHandler,
  createLogger,
  type InvocationReport,
} from '../src/runtime/index.ts';
import { lambdaContext } from '../src/runtime/lambda-context.ts';
import { MemoryStateStore, StateCache } from '../src/state/index.ts';
import { bookPages } from '../test/fixtures/book.ts';
import {
  assertSameCounts,
  type BenchOptions,
  type BenchResult,
  collectGarbage,
  rowOf,
  versus,
} from './harness.ts';

const BENCHMARK = 'word-count';
const RECORDS = 100_000;
const PARTITIONS = 8;
const DOGEAR = 'dogear handler';
const BASELINE = 'baseline loop';
/** The regex functions/word-count.ts uses. */
const WORD = /\p{L}+/gu;

type LambdaContext = ReturnType<typeof lambdaContext>;

/** Builds the events, then runs both subjects: a warm-up each, then alternating timed rounds. */
export async function wordCountBench(options: BenchOptions): Promise<BenchResult> {
  const definition = consumerOf(WordCount);
  assert.ok(definition, 'WordCount is not a consumer');
  assert.equal(definition.value, 'string', 'word-count no longer declares value: string');

  // Lambda hands the function ready events: build them all before any timing.
  const records: EventRecord[] = bookPages(RECORDS, PARTITIONS).map((r, i) =>
    eventRecordOf(r, `record ${i}`),
  );
  const events = eventsOf(records, definition.batchSize);
  const contexts = events.map(() => lambdaContext(definition));
  options.progress(
    `${BENCHMARK}: ${RECORDS} records in ${events.length} events of ${definition.batchSize} over ${PARTITIONS} partitions`,
  );

  const expected = baselineRound(events).counts;
  assert.ok(expected.size > 0, 'the baseline counted no words');
  const check = async (round: Awaited<ReturnType<typeof dogearRound>>, label: string) => {
    await verify(definition, round, expected, label);
  };

  for (let w = 0; w < options.warmups; w++) {
    collectGarbage();
    assertSameCounts(baselineRound(events).counts, expected, `baseline warm-up ${w + 1}`);
    collectGarbage();
    await check(await dogearRound(definition, events, contexts), `dogear warm-up ${w + 1}`);
  }

  const baselineMs: number[] = [];
  const dogearMs: number[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    // Alternate which goes first, so neither always runs right after the other's garbage.
    const order = round % 2 ? (['baseline', 'dogear'] as const) : (['dogear', 'baseline'] as const);
    for (const subject of order) {
      collectGarbage();
      if (subject === 'baseline') {
        const result = baselineRound(events);
        assertSameCounts(result.counts, expected, `baseline round ${round}`);
        baselineMs.push(result.ms);
      } else {
        const result = await dogearRound(definition, events, contexts);
        await check(result, `dogear round ${round}`);
        dogearMs.push(result.ms);
      }
    }
    options.progress(
      `${BENCHMARK}: round ${round}/${options.rounds}: baseline ${baselineMs.at(-1)!.toFixed(1)} ms, dogear ${dogearMs.at(-1)!.toFixed(1)} ms`,
    );
  }

  const baseline = rowOf(BENCHMARK, BASELINE, RECORDS, 'records/s', baselineMs);
  const dogear = versus(rowOf(BENCHMARK, DOGEAR, RECORDS, 'records/s', dogearMs), baseline);
  return {
    rows: [dogear, baseline],
    notes: [
      `word-count: ${RECORDS.toLocaleString('en-US')} records of bookPages(${RECORDS}, ${PARTITIONS}) as ${events.length} MSK events of batchSize ${definition.batchSize} (built before timing); ${options.warmups} untimed warm-up and ${options.rounds} timed rounds each, alternating, median reported; a full GC before every round.`,
      `dogear handler: createHandler(WordCount) with a fresh MemoryStateStore, StateCache and handler per round (nothing carries over between rounds; within a round the cache stays warm across the ${events.length} invocations, as in one warm Lambda); log lines dropped; every round's 'counts' table is checked equal to the baseline's counts.`,
      `baseline loop: for each record of each event, Buffer.from(value, 'base64').toString('utf8'), toLowerCase().match(/\\p{L}+/gu), counts into a Map. word-count declares value: 'string', so neither path JSON.parses a value; neither parses the event itself (both get the same ready objects).`,
      `dogear: ${dogear.versus!.ratio.toFixed(2)}× the baseline's throughput (${dogear.perSecond.toLocaleString('en-US')} vs ${baseline.perSecond.toLocaleString('en-US')} records/s).`,
    ],
  };
}

/** One warm Lambda process from scratch: new store, cache and handler; the events in order. */
async function dogearRound(
  definition: ConsumerDefinition,
  events: readonly KafkaEvent[],
  contexts: readonly LambdaContext[],
) {
  const store = new MemoryStateStore();
  const reports: InvocationReport[] = [];
  const handler = createHandler(definition, {
    store,
    cache: new StateCache(),
    log: createLogger(() => {}),
    onReport: (report) => reports.push(report),
  });
  const started = performance.now();
  for (let i = 0; i < events.length; i++) await handler(events[i]!, contexts[i]!);
  const ms = performance.now() - started;
  return { ms, store, reports };
}

/** Only what word-count needs from each record: base64 to UTF-8 text, words, a Map. */
function baselineRound(events: readonly KafkaEvent[]) {
  const counts = new Map<string, number>();
  const started = performance.now();
  for (const event of events) {
    for (const list of Object.values(event.records)) {
      for (const record of list) {
        if (record.value === null || record.value === undefined) continue;
        const text = Buffer.from(record.value, 'base64').toString('utf8');
        for (const word of text.toLowerCase().match(WORD) ?? []) {
          counts.set(word, (counts.get(word) ?? 0) + 1);
        }
      }
    }
  }
  return { ms: performance.now() - started, counts };
}

/** A round counts only if it handled every record once and left the baseline's counts. */
async function verify(
  definition: ConsumerDefinition,
  round: Awaited<ReturnType<typeof dogearRound>>,
  expected: ReadonlyMap<string, number>,
  label: string,
): Promise<void> {
  const sum = (pick: (r: InvocationReport) => number) =>
    round.reports.reduce((n, r) => n + pick(r), 0);
  assert.equal(
    sum((r) => r.records),
    RECORDS,
    `${label}: records seen`,
  );
  assert.equal(
    sum((r) => r.processed),
    RECORDS,
    `${label}: records processed`,
  );
  assert.equal(
    sum((r) => r.duplicates),
    0,
    `${label}: duplicates`,
  );
  assert.equal(
    sum((r) => r.failed),
    0,
    `${label}: failures`,
  );
  const counts = await round.store.scanTable(definition.group, 'counts');
  assertSameCounts(counts, expected, label);
}
