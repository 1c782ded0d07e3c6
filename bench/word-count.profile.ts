/**
 * The dogear side of the word-count benchmark alone, for a CPU profile without the baseline
 * loop in it. Not part of `npm run bench`; run it when optimising. It runs `dist/` (build it
 * first), because tsx puts each module on one line and the profile would lose its lines:
 *
 *   npx tsc -p tsconfig.build.json
 *   npx tsx --cpu-prof --cpu-prof-dir=/tmp/prof bench/word-count.profile.ts [--rounds 3]
 *   npx tsx bench/cpu-profile.ts /tmp/prof/<the larger file>.cpuprofile [--lines]
 *
 * (tsx leaves two profiles: its own process's, nearly all idle, and the script's, the larger.)
 * Building the events is in the profile too, under `eventsOf` and `bookPages`.
 */
import { parseArgs } from 'node:util';

// 'dogear' resolves through package.json to dist/, as in a user's project.
const { WordCount } = await import('../functions/word-count.ts');
const runtime = await import('dogear/runtime');
const { eventRecordOf, eventsOf } = await import('../dist/event/index.js');
const { MemoryStateStore, StateCache } = await import('../dist/state/index.js');
const { bookPages } = await import('../test/fixtures/book.ts');

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' } } });
const definition = runtime.consumerOf(WordCount)!;
const events = eventsOf(
  bookPages(100_000, 8).map((r, i) => eventRecordOf(r, `record ${i}`)),
  definition.batchSize,
);
const contexts = events.map(() => runtime.lambdaContext(definition));
for (let round = 0; round < Number(values.rounds); round++) {
  const handler = runtime.createHandler(definition, {
    store: new MemoryStateStore(),
    cache: new StateCache(),
    log: runtime.createLogger(() => {}),
  });
  const started = performance.now();
  for (let i = 0; i < events.length; i++) await handler(events[i]!, contexts[i]!);
  console.log(`round ${round + 1}: ${(performance.now() - started).toFixed(0)} ms`);
}
