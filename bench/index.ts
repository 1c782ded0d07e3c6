/**
 * `npm run bench`: runs every benchmark in order and prints a table, notes, and one JSON line.
 *
 *   npm run bench                         the table, the notes, then the JSON line
 *   npm run bench -- --json               only the JSON line
 *   npm run bench -- --rounds 9           more timed rounds (median reported)
 *   npm run bench -- --only word-count    one benchmark
 *   npm run bench -- --only build         build times only (part of `bundle`)
 *   npm run bench -- --only bundle-avro   the Avro pair alone (part of `bundle`)
 *   npm run bench -- --only latency       stateful consumers at 5 ms a request (1, 5, 10 ms sweep)
 *
 * Progress goes to stderr. Benchmarks are imported one by one after `'dogear'` points at
 * `src/`, so each measures the working tree and a later one (DynamoDB, bundles) costs nothing
 * until it runs.
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import type { Benchmark, BenchResult, BenchRow } from './harness.ts';
import { formatTable } from './harness.ts';
import { resolveDogearToSource } from './source-tree.ts';

/** In the order they run. */
const BENCHMARKS: ReadonlyArray<{ name: string; load: () => Promise<Benchmark> }> = [
  { name: 'word-count', load: async () => (await import('./word-count.bench.ts')).wordCountBench },
  {
    name: 'dynamodb',
    // It prints its own section (requests and write units per record need more than a row).
    load: async () => {
      const { formatDynamoDb, measureDynamoDb } = await import('./dynamodb.bench.ts');
      return async ({ progress }) => {
        console.log(formatDynamoDb(await measureDynamoDb({ progress })));
        return { rows: [], notes: [] };
      };
    },
  },
  {
    name: 'latency',
    // Stateful consumers at 5 ms a request, beside Powertools and the floor; its own section.
    load: async () => (await import('./latency.bench.ts')).latencyBench,
  },
  {
    name: 'bundle',
    // word-count's bundles, then the Avro pair beside Powertools' kafka utility with Avro.
    load: async () => {
      const { bundleBench } = await import('./bundle.bench.ts');
      const { avroBundleBench } = await import('./bundle-avro.ts');
      return async (options) => {
        const wordCount = await bundleBench(options);
        const avro = await avroBundleBench(options);
        return {
          rows: [...wordCount.rows, ...avro.rows],
          notes: [...wordCount.notes, ...avro.notes],
        };
      };
    },
  },
  // The Avro pair alone, without word-count's builds, sizes and cold starts.
  { name: 'bundle-avro', load: async () => (await import('./bundle-avro.ts')).avroBundleBench },
  // The bundle benchmark's build-time rows alone, without its sizes and cold starts.
  { name: 'build', load: async () => (await import('./bundle.bench.ts')).buildBench },
];

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '5' },
    warmups: { type: 'string', default: '1' },
    only: { type: 'string', multiple: true },
  },
});
const rounds = Number(values.rounds);
const warmups = Number(values.warmups);
if (!Number.isInteger(rounds) || rounds < 1)
  throw new Error(`--rounds ${values.rounds}: give 1 or more`);
if (!Number.isInteger(warmups) || warmups < 0)
  throw new Error(`--warmups ${values.warmups}: give 0 or more`);
const unknown = (values.only ?? []).filter((name) => !BENCHMARKS.some((b) => b.name === name));
if (unknown.length > 0) {
  throw new Error(
    `--only ${unknown.join(', ')}: no such benchmark (${BENCHMARKS.map((b) => b.name).join(', ')})`,
  );
}

resolveDogearToSource();
// Fail loudly rather than measure dist/ or two copies of the runtime.
const [viaPackage, viaSource] = await Promise.all([
  import('dogear'),
  import('../src/runtime/index.ts'),
]);
if (viaPackage.createHandler !== viaSource.createHandler) {
  throw new Error("'dogear' does not resolve to src/: the benchmark would measure another copy");
}

const progress = (line: string) => process.stderr.write(`${line}\n`);
const rows: BenchRow[] = [];
const notes: string[] = [];
for (const { name, load } of BENCHMARKS) {
  if (values.only && !values.only.includes(name)) continue;
  const bench = await load();
  const result: BenchResult = await bench({ rounds, warmups, progress });
  rows.push(...result.rows);
  notes.push(...result.notes);
}

const argv = process.argv.slice(2);
const command = `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`;
const machine = {
  node: process.version,
  platform: `${process.platform}-${process.arch}`,
  cpu: cpus()[0]?.model.trim() ?? 'unknown',
  cpus: cpus().length,
};

if (!values.json) {
  console.log(formatTable(rows));
  console.log();
  for (const note of notes) console.log(`- ${note}`);
  console.log();
  console.log(
    `Reproduce: ${command}   (Node ${machine.node}, ${machine.cpu} × ${machine.cpus}, ${machine.platform})`,
  );
}
console.log(JSON.stringify({ command, rounds, warmups, ...machine, rows }));
