/**
 * Where the word-count time goes, by subtraction: the same events through the same generated
 * handler with less and less work in the consumer, plus decoding alone. Not part of
 * `npm run bench`; run it when optimising:
 *
 *   npx tsx bench/word-count.phases.ts [--rounds 3]
 *
 * For a CPU profile of the real benchmark instead:
 *
 *   npx node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/index.ts --rounds 2
 */
import { strict as assert } from 'node:assert';
import { parseArgs } from 'node:util';
import { type BenchRow, collectGarbage, formatTable, median, rowOf, versus } from './harness.ts';
import { resolveDogearToSource } from './source-tree.ts';

resolveDogearToSource();
const { WordCount } = await import('../functions/word-count.ts');
const { decodeRecord, eventRecordOf, eventsOf } = await import('../src/event/index.ts');
const { lambdaContext } = await import('../src/runtime/lambda-context.ts');
const runtime = await import('../src/runtime/index.ts');
const { DYNAMODB_LIMITS, MemoryStateStore, StateCache } = await import('../src/state/index.ts');
const { bookPages } = await import('../test/fixtures/book.ts');
type Context = import('../src/runtime/index.ts').Context;
type ConsumerDefinition = import('../src/runtime/index.ts').ConsumerDefinition;
type KafkaEvent = import('../src/event/index.ts').KafkaEvent;
type InvocationReport = import('../src/runtime/index.ts').InvocationReport;
type CommitLimits = import('../src/state/index.ts').CommitLimits;

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' } } });
const ROUNDS = Number(values.rounds);
const RECORDS = 100_000;
const WORD = /\p{L}+/gu;

const wordCount = runtime.consumerOf(WordCount)!;
const events = eventsOf(
  bookPages(RECORDS, 8).map((r, i) => eventRecordOf(r, `record ${i}`)),
  wordCount.batchSize,
);
const contexts = events.map(() => lambdaContext(wordCount));

const variant = (name: string, fn: (page: { value: string | null }, ctx: Context) => void) =>
  runtime.defineConsumer(
    { name, topic: wordCount.topic, batchSize: wordCount.batchSize, value: 'string' },
    fn,
  );

/** Not a legal DynamoDB transaction: shows what the 99-item chunking costs in memory. */
const ONE_COMMIT_PER_SLICE: CommitLimits = { ...DYNAMODB_LIMITS, maxWrites: 100_000 };

const consumers: Array<[string, ConsumerDefinition, CommitLimits?]> = [
  ['handler: no-op', variant('noop', () => {})],
  [
    'handler: words, no state',
    variant('words', (page) => {
      let n = 0;
      for (const _ of page.value?.toLowerCase().match(WORD) ?? []) n++;
      return n;
    }),
  ],
  [
    'handler: one add per distinct word',
    variant('distinct', (page, ctx) => {
      if (page.value === null) return;
      const local = new Map<string, number>();
      for (const w of page.value.toLowerCase().match(WORD) ?? [])
        local.set(w, (local.get(w) ?? 0) + 1);
      const counts = ctx.table<number>('counts');
      for (const [w, n] of local) counts.add(w, n);
    }),
  ],
  ['word-count as written', wordCount],
  ['word-count, store maxWrites 100,000', wordCount, ONE_COMMIT_PER_SLICE],
];

async function run(
  definition: ConsumerDefinition,
  events: readonly KafkaEvent[],
  limits: CommitLimits = DYNAMODB_LIMITS,
) {
  const reports: InvocationReport[] = [];
  const handler = runtime.createHandler(definition, {
    store: new MemoryStateStore(limits),
    cache: new StateCache(),
    log: runtime.createLogger(() => {}),
    onReport: (r) => reports.push(r),
  });
  const started = performance.now();
  for (let i = 0; i < events.length; i++) await handler(events[i]!, contexts[i]!);
  const ms = performance.now() - started;
  assert.equal(
    reports.reduce((n, r) => n + r.processed, 0),
    RECORDS,
  );
  return { ms, commits: reports.reduce((n, r) => n + r.commits, 0) };
}

function timed(fn: () => void): number {
  const started = performance.now();
  fn();
  return performance.now() - started;
}

const rows: BenchRow[] = [];
const baselineMs: number[] = [];
const decodeMs: number[] = [];
const stats = new Map<string, number>();
for (let round = 0; round <= ROUNDS; round++) {
  collectGarbage();
  const b = timed(() => {
    const counts = new Map<string, number>();
    for (const e of events)
      for (const list of Object.values(e.records))
        for (const r of list)
          for (const w of Buffer.from(r.value!, 'base64')
            .toString('utf8')
            .toLowerCase()
            .match(WORD) ?? [])
            counts.set(w, (counts.get(w) ?? 0) + 1);
  });
  collectGarbage();
  const d = timed(() => {
    for (const e of events)
      for (const list of Object.values(e.records)) for (const r of list) decodeRecord(r, wordCount);
  });
  if (round > 0) {
    baselineMs.push(b);
    decodeMs.push(d);
  }
}
const baseline = rowOf('phases', 'baseline loop', RECORDS, 'records/s', baselineMs);
rows.push(
  baseline,
  versus(rowOf('phases', 'decodeRecord() only', RECORDS, 'records/s', decodeMs), baseline),
);
for (const [name, definition, limits] of consumers) {
  const ms: number[] = [];
  for (let round = 0; round <= ROUNDS; round++) {
    collectGarbage();
    const result = await run(definition, events, limits);
    if (round > 0) ms.push(result.ms);
    stats.set(`${name}: commits per round`, result.commits);
  }
  rows.push(versus(rowOf('phases', name, RECORDS, 'records/s', ms), baseline));
}

// What the state layer sees per round: add() calls, and distinct keys per record (what
// endRecord() iterates).
let adds = 0;
let distinctPerRecord = 0;
for (const e of events)
  for (const list of Object.values(e.records))
    for (const r of list) {
      const words =
        Buffer.from(r.value!, 'base64').toString('utf8').toLowerCase().match(WORD) ?? [];
      adds += words.length;
      distinctPerRecord += new Set(words).size;
    }

console.log(formatTable(rows));
console.log();
console.log(
  `median of ${ROUNDS} rounds after 1 warm-up; medians in ms: ${rows.map((r) => `${r.subject} ${median(r.roundsMs).toFixed(0)}`).join(', ')}`,
);
console.log(
  `add() calls per round: ${adds}; distinct words per record, summed: ${distinctPerRecord}`,
);
for (const [k, v] of stats) console.log(`${k}: ${v}`);
