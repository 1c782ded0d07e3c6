/**
 * dogear's Lambda bundles: how long `buildConsumers()` takes for the example service, how big
 * `word-count`'s bundle is, and how fast it starts cold, beside the same consumer written with
 * middy + Powertools (bench/baseline/word-count.ts) and bundled with the same esbuild options.
 *
 *   npm run bench -- --only bundle
 *
 * Cold starts are fresh `node` processes (bench/cold-start.ts) handling one 500-record MSK
 * event against DynamoDB Local, each on tables of its own, each checked against a plain count.
 * Import this only after `resolveDogearToSource()` (discovery imports functions/*.ts).
 */
import { strict as assert } from 'node:assert';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Plugin as EsbuildPlugin } from 'esbuild';
import { freePort, startDynamoDbLocal } from '../infra/dynamodb-local.ts';
import {
  type BuildManifest,
  buildConsumers,
  discoverConsumers,
  entrySource,
  esbuildOptions,
  REQUIRE_SHIM,
  skipCliOnlyImports,
} from '../src/build/index.ts';
import { eventOf, eventRecordOf } from '../src/event/index.ts';
import { openDynamoStateStore } from '../src/state/index.ts';
import { bookPages } from '../test/fixtures/book.ts';
import { type ColdStart, coldStart } from './cold-start.ts';
import {
  assertSameCounts,
  type BenchOptions,
  type BenchResult,
  type BenchRow,
  median,
  rowOf,
  versus,
} from './harness.ts';
import { assertAllCompleted, createTable, readNumbers } from './tables.ts';

const BENCHMARK = 'bundle';
const CONSUMER = 'word-count';
const RECORDS = 500;
const PARTITIONS = 4;
/** Cold starts are noisy: at least this many per variant, whatever `--rounds` says. */
const MIN_COLD_STARTS = 7;
/** Init-only starts take a fraction of a second: more of them. */
const MIN_INITS = 21;
/** The issue's targets: dogear's bundle ≤ 1/3 of the baseline's, its cold start ≤ 1/2. */
const SIZE_TARGET = 1 / 3;
const COLD_START_TARGET = 1 / 2;
const WORD = /\p{L}+/gu;

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BASELINE_ENTRY = fileURLToPath(new URL('./baseline/word-count.ts', import.meta.url));
/** Under the repository, so `node_modules/@aws-sdk` resolves for the `sdk: 'runtime'` bundle. */
const RUNTIME_SDK_DIR = join(ROOT, '.dogear', 'bench-bundle');

type VariantName = 'sdk-bundle' | 'sdk-runtime' | 'baseline';

interface Size {
  readonly label: string;
  readonly bytes: number;
  readonly gzipBytes: number;
}

export async function bundleBench(options: BenchOptions): Promise<BenchResult> {
  const notes: string[] = [];
  const stale = await staleDist();
  if (stale.length > 0) {
    notes.push(
      `WARNING: dogear's bundles are built from dist/ (src/build/bundle.ts imports dist/runtime/lambda.js), and dist/ is older than ${stale.length} src/ file(s), e.g. ${stale.slice(0, 3).join(', ')}: run \`npm run build:lib\` first, or these figures measure an older runtime.`,
    );
  }

  const scratch = await mkdtemp(join(tmpdir(), 'dogear-bundle-bench-'));
  try {
    // ———————————————————————— 1. build time
    const builds = await timeBuilds(options, join(scratch, 'build-time'));

    // ———————————————————————— 2. sizes
    options.progress(`${BENCHMARK}: building ${CONSUMER} three ways`);
    const dogearBundled = await buildConsumers({
      root: ROOT,
      outDir: join(scratch, 'sdk-bundle'),
      consumers: [CONSUMER],
    });
    await rm(RUNTIME_SDK_DIR, { recursive: true, force: true });
    const dogearRuntime = await buildConsumers({
      root: ROOT,
      outDir: RUNTIME_SDK_DIR,
      consumers: [CONSUMER],
      sdk: 'runtime',
    });
    const baselineDir = join(scratch, 'baseline');
    const baseline = await buildBaseline(baselineDir, 'bundle');
    const baselineRuntime = await buildBaseline(join(scratch, 'baseline-runtime'), 'runtime');
    const bundledWc = wordCount(dogearBundled);
    const runtimeWc = wordCount(dogearRuntime);
    const sizes = {
      bundled: { label: "dogear, sdk: 'bundle'", ...bundledWc },
      runtime: { label: "dogear, sdk: 'runtime'", ...runtimeWc },
      baseline: { label: 'baseline (middy + Powertools), SDK bundled', ...baseline },
      baselineRuntime: {
        label: 'baseline, @aws-sdk/* and @smithy/* external (for reference)',
        ...baselineRuntime,
      },
    } satisfies Record<string, Size>;
    for (const dir of [join(ROOT, bundledWc.dir), join(ROOT, runtimeWc.dir), baselineDir]) {
      const code = await readFile(join(dir, 'index.mjs'), 'utf8');
      assert.ok(code.startsWith(REQUIRE_SHIM), `${dir}/index.mjs does not begin with the banner`);
    }
    notes.push(sizeNote(sizes));

    // ———————————————————————— 3. cold starts
    const coldRows = await coldStarts(
      options,
      scratch,
      {
        'sdk-bundle': join(ROOT, bundledWc.dir, 'index.mjs'),
        'sdk-runtime': join(ROOT, runtimeWc.dir, 'index.mjs'),
        baseline: join(baselineDir, 'index.mjs'),
      },
      bundledWc.group,
    );

    // ———————————————————————— the verdicts
    const sizeRatio = sizes.bundled.bytes / sizes.baseline.bytes;
    const gzipRatio = sizes.bundled.gzipBytes / sizes.baseline.gzipBytes;
    const runtimeSizeRatio = sizes.runtime.bytes / sizes.baseline.bytes;
    const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
    notes.push(
      buildNote(options, builds),
      `size target (dogear ≤ ${fraction(SIZE_TARGET)} of the baseline, SDK bundled): sdk: 'bundle' is ${ratio(sizeRatio)} of the baseline's bytes (${ratio(gzipRatio)} gzipped): ${met(sizeRatio <= SIZE_TARGET)}; sdk: 'runtime' is ${ratio(runtimeSizeRatio)} (${ratio(sizes.runtime.gzipBytes / sizes.baseline.gzipBytes)} gzipped): ${met(runtimeSizeRatio <= SIZE_TARGET)}, but mostly by leaving the SDK out: against the baseline likewise without it, ${ratio(sizes.runtime.bytes / sizes.baselineRuntime.bytes)}.`,
      ...coldRows.notes,
    );
    return { rows: [...builds.rows, ...coldRows.rows], notes };
  } finally {
    await rm(scratch, { recursive: true, force: true });
    await rm(RUNTIME_SDK_DIR, { recursive: true, force: true });
  }
}

// ———————————————————————————————————————————— build time

/** The build-time rows alone (`npm run bench -- --only build`): no sizes, no cold starts. */
export async function buildBench(options: BenchOptions): Promise<BenchResult> {
  const scratch = await mkdtemp(join(tmpdir(), 'dogear-build-bench-'));
  try {
    const builds = await timeBuilds(options, scratch);
    return { rows: builds.rows, notes: [buildNote(options, builds)] };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function buildNote(
  options: BenchOptions,
  builds: { consumers: number; generated: number; warmupMs: number[] },
): string {
  return `build: buildConsumers({ root, outDir: <temp dir> }) (discovery included) on the example service (${builds.consumers} consumers in functions/, both SDK modes) and on ${builds.generated} generated consumers (the examples copied in turn, classes renamed, under .dogear/bench-build-*/functions/; sdk: 'bundle'), each beside esbuild alone: one build() of the same generated entries with esbuildOptions() and skipCliOnlyImports (without it esbuild also parses the SDK's credential chain, which tree shaking then drops), its service already running, no discovery. 'vs' is esbuild alone's median ms ÷ dogear's (1 would be no overhead). Rounds alternate which goes first; ${options.warmups} untimed warm-up each (the first build in a process also starts esbuild's service: ${builds.warmupMs.map((ms) => `${Math.round(ms)} ms`).join(', ') || 'none'}). Targets: under 1 s for the ${builds.consumers} examples, under 5 s for ${GENERATED}.`;
}

/**
 * `buildConsumers()` (discovery included) on the example service in both SDK modes and on
 * GENERATED consumers, each beside esbuild alone: one `build()` of the same entries with the same
 * options, its service already started, discovery not counted. Rounds alternate dogear and
 * esbuild so both see the same load.
 */
async function timeBuilds(options: BenchOptions, dir: string) {
  const warmupMs: number[] = [];
  const examples = await timeBuildsOf(options, ROOT, 'functions', join(dir, 'examples'), warmupMs);
  await mkdir(join(ROOT, '.dogear'), { recursive: true });
  const generatedRoot = await mkdtemp(join(ROOT, '.dogear', 'bench-build-'));
  try {
    await generateConsumers(join(generatedRoot, 'functions'), GENERATED);
    const generated = await timeBuildsOf(
      options,
      generatedRoot,
      'functions',
      join(dir, 'generated'),
      warmupMs,
      ['bundle'],
    );
    return {
      rows: [...examples.rows, ...generated.rows],
      warmupMs,
      consumers: examples.consumers,
      generated: generated.consumers,
    };
  } finally {
    await rm(generatedRoot, { recursive: true, force: true });
  }
}

/** How many consumers the generated service has (the issue's target: under 5 s for 100). */
const GENERATED = 100;

/**
 * `count` consumers in `dir`, the four examples in turn, each copy's class renamed (its name
 * and group follow the class), so the service is the examples' code many times over.
 */
async function generateConsumers(dir: string, count: number): Promise<void> {
  const sources = await Promise.all(
    (await readdir(join(ROOT, 'functions')))
      .filter((f) => f.endsWith('.ts'))
      .sort()
      .map(async (f) => ({ file: f, code: await readFile(join(ROOT, 'functions', f), 'utf8') })),
  );
  await mkdir(dir, { recursive: true });
  for (let i = 0; i < count; i++) {
    const { file, code } = sources[i % sources.length]!;
    const n = String(i).padStart(3, '0');
    const renamed = code.replace(/export class (\w+)/, `export class $1N${n}`);
    assert.notEqual(renamed, code, `functions/${file}: no exported class to rename`);
    await writeFile(join(dir, `${file.replace(/\.ts$/, '')}-${n}.ts`), renamed);
  }
}

async function timeBuildsOf(
  options: BenchOptions,
  root: string,
  functions: string,
  dir: string,
  warmupMs: number[],
  modes: readonly ('bundle' | 'runtime')[] = ['bundle', 'runtime'],
) {
  const { build } = await import('esbuild');
  const found = await discoverConsumers(functions, root);
  const label = root === ROOT ? `${found.length} examples` : `${found.length} generated`;
  type Subject = 'dogear' | 'esbuild';
  const times = new Map<string, number[]>();
  const key = (subject: Subject, sdk: string) => `${subject} ${sdk}`;
  let run = 0;
  const once = async (subject: Subject, sdk: 'bundle' | 'runtime') => {
    const outDir = join(dir, `${subject}-${sdk}-${++run}`);
    let ms: number;
    if (subject === 'dogear') {
      const started = performance.now();
      const manifest = await buildConsumers({ root, functions, outDir, sdk });
      ms = performance.now() - started;
      assert.equal(manifest.consumers.length, found.length, 'consumers built');
    } else {
      // The entries dogear writes, written before the clock starts: esbuild alone is the build.
      const entries: string[] = [];
      for (const consumer of found) {
        const entryDir = join(outDir, consumer.definition.name);
        await mkdir(entryDir, { recursive: true });
        const entry = join(entryDir, 'entry.mjs');
        await writeFile(entry, entrySource(consumer, root, entryDir));
        entries.push(entry);
      }
      const started = performance.now();
      await build({
        ...esbuildOptions('nodejs24.x', sdk),
        plugins: [skipCliOnlyImports],
        entryPoints: entries,
        outdir: outDir,
        outbase: outDir,
        entryNames: '[dir]/index',
        outExtension: { '.js': '.mjs' },
      });
      ms = performance.now() - started;
    }
    await rm(outDir, { recursive: true, force: true });
    return ms;
  };
  const subjects: readonly Subject[] = ['dogear', 'esbuild'];
  for (let w = 0; w < options.warmups; w++) {
    for (const sdk of modes)
      for (const subject of subjects) warmupMs.push(await once(subject, sdk));
  }
  for (let round = 1; round <= options.rounds; round++) {
    const order = round % 2 ? subjects : [...subjects].reverse();
    for (const sdk of modes) {
      for (const subject of order) {
        const list = times.get(key(subject, sdk)) ?? [];
        list.push(await once(subject, sdk));
        times.set(key(subject, sdk), list);
      }
    }
    options.progress(
      `${BENCHMARK}: build ${label}, round ${round}/${options.rounds}: ${modes
        .map(
          (sdk) =>
            `sdk ${sdk}: dogear ${Math.round(times.get(key('dogear', sdk))!.at(-1)!)} ms, esbuild alone ${Math.round(times.get(key('esbuild', sdk))!.at(-1)!)} ms`,
        )
        .join('; ')}`,
    );
  }
  const rows = modes.flatMap((sdk) => {
    const alone = rowOf(
      BENCHMARK,
      `build ${label}: esbuild alone (sdk: '${sdk}')`,
      found.length,
      'bundles/s',
      times.get(key('esbuild', sdk))!,
    );
    const dogear = rowOf(
      BENCHMARK,
      `build ${label}: buildConsumers (sdk: '${sdk}')`,
      found.length,
      'bundles/s',
      times.get(key('dogear', sdk))!,
    );
    return [versus(dogear, alone), alone];
  });
  return { rows, consumers: found.length };
}

// ———————————————————————————————————————————— sizes

function wordCount(manifest: BuildManifest) {
  const built = manifest.consumers.find((c) => c.name === CONSUMER);
  assert.ok(built, `no ${CONSUMER} in the build`);
  return { bytes: built.bytes, gzipBytes: built.gzipBytes, dir: built.dir, group: built.group };
}

/**
 * `@aws-lambda-powertools/kafka` reaches its Avro and Protobuf deserializers by dynamic import,
 * and they import `avro-js` and `protobufjs` (not its dependencies; avro-js is not installed
 * here, and a user who needs neither would not install them). esbuild follows those
 * imports into the one output file, and marking them external would hoist a top-level
 * `import … from 'avro-js'` that fails at load. The baseline decodes plain strings and never
 * reaches them, so they become empty modules: generous to the baseline (smallest possible).
 */
export const OPTIONAL_POWERTOOLS_DEPS = ['avro-js', 'protobufjs'] as const;

/** Each of `modules` becomes an empty CommonJS module: any import of it resolves (to undefined). */
function emptyModules(modules: readonly string[]): EsbuildPlugin {
  return {
    name: 'stub-unused-optional-deps',
    setup(build) {
      const filter = new RegExp(`^(${modules.join('|')})$`);
      build.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'unused-optional' }));
      build.onLoad({ filter: /.*/, namespace: 'unused-optional' }, () => ({
        contents: 'module.exports = {};',
        loader: 'js',
      }));
    },
  };
}

export interface BaselineBuild {
  /** The Lambda entry. @default bench/baseline/word-count.ts */
  readonly entry?: string;
  /** Packages bundled as empty modules. @default OPTIONAL_POWERTOOLS_DEPS */
  readonly empty?: readonly string[];
  /** esbuild's `alias`: a package bundled in place of another. */
  readonly alias?: Readonly<Record<string, string>>;
}

/** A baseline entry, with bundle.ts's options (and its SDK rule for `sdk`), as bundle.ts measures. */
export async function buildBaseline(
  outDir: string,
  sdk: 'bundle' | 'runtime',
  { entry = BASELINE_ENTRY, empty = OPTIONAL_POWERTOOLS_DEPS, alias = {} }: BaselineBuild = {},
): Promise<Omit<Size, 'label'>> {
  const { build } = await import('esbuild');
  await mkdir(outDir, { recursive: true });
  const outfile = join(outDir, 'index.mjs');
  const result = await build({
    ...esbuildOptions('nodejs24.x', sdk),
    entryPoints: [entry],
    outfile,
    alias: { ...alias },
    plugins: empty.length > 0 ? [emptyModules(empty)] : [],
  });
  const bytes = Object.entries(result.metafile.outputs)
    .filter(([file]) => file.endsWith('.mjs'))
    .reduce((sum, [, output]) => sum + output.bytes, 0);
  const outside = Object.values(result.metafile.outputs)
    .flatMap((output) => output.imports)
    .filter((i) => i.external && !i.path.startsWith('node:') && !isBuiltin(i.path))
    .filter((i) => sdk === 'bundle' || !/^@(aws-sdk|smithy)\//.test(i.path));
  assert.deepEqual(outside, [], `the baseline bundle (sdk ${sdk}) imports other packages`);
  return { bytes, gzipBytes: gzipSync(await readFile(outfile)).length };
}

function sizeNote(sizes: Record<string, Size>): string {
  const base = sizes.baseline!;
  const lines = Object.values(sizes).map((s) => [
    s.label,
    `${s.bytes.toLocaleString('en-US')} B`,
    `${kib(s.bytes)}`,
    `${s.gzipBytes.toLocaleString('en-US')} B gzip`,
    `${kib(s.gzipBytes)} gzip`,
    `${ratio(s.bytes / base.bytes)} of baseline`,
  ]);
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  const table = lines.map(
    (l) =>
      `    ${l.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')}`,
  );
  return [
    `${CONSUMER} bundle size (index.mjs; its .map is not counted; gzip: zlib default level), same esbuild options as src/build/bundle.ts (esm, node, node24, minify, treeShaking, mainFields module/main, the createRequire banner); for the baseline, Powertools kafka's optional avro-js and protobufjs (only for Avro/Protobuf schemas) are empty modules:`,
    ...table,
  ].join('\n');
}

// ———————————————————————————————————————————— cold starts

const VARIANTS: ReadonlyArray<{ name: VariantName; label: string }> = [
  { name: 'sdk-bundle', label: "dogear (sdk: 'bundle')" },
  { name: 'sdk-runtime', label: "dogear (sdk: 'runtime')" },
  { name: 'baseline', label: 'baseline (Powertools)' },
];
const VARIANT_NAMES = VARIANTS.map((v) => v.name);
const labelOf = (name: VariantName) => VARIANTS.find((v) => v.name === name)!.label;

type Times = Record<VariantName, ColdStart[]>;

/**
 * Two phases. Init: each bundle imported and nothing else, with no DynamoDB running (nothing is
 * sent at import; the endpoint is a closed port), so only Node and the bundle are measured.
 * Then cold start: import and one 500-record event against DynamoDB Local, counts checked.
 */
async function coldStarts(
  options: BenchOptions,
  scratch: string,
  bundles: Record<VariantName, string>,
  group: string,
) {
  const records = bookPages(RECORDS, PARTITIONS);
  const event = eventOf(records.map((r, i) => eventRecordOf(r, `record ${i}`)));
  const eventFile = join(scratch, 'event.json');
  await writeFile(eventFile, JSON.stringify(event));
  const oracle = new Map<string, number>();
  for (const page of records) {
    for (const word of String(page.value).toLowerCase().match(WORD) ?? []) {
      oracle.set(word, (oracle.get(word) ?? 0) + 1);
    }
  }
  const home = join(scratch, 'home');
  await mkdir(home);
  const common = {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'dogear',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_LAMBDA_FUNCTION_NAME: CONSUMER,
    // An empty home: no ~/.aws of this machine's reaches either handler.
    HOME: home,
  };
  const dogearEnv = (table: string, endpoint: string) => ({
    ...common,
    DOGEAR_DYNAMODB_TABLE: table,
    DOGEAR_DYNAMODB_ENDPOINT: endpoint,
  });
  const baselineEnv = (run: string, endpoint: string) => ({
    ...common,
    COUNTS_TABLE: `counts-${run}`,
    IDEMPOTENCY_TABLE: `idempotency-${run}`,
    BASELINE_DYNAMODB_ENDPOINT: endpoint,
  });

  // ———— Init only
  const inits = Math.max(options.rounds, MIN_INITS);
  const closed = `http://127.0.0.1:${await freePort()}`;
  const initTimes = await rotate(options, 'init', inits, VARIANT_NAMES, (name) =>
    coldStart({
      bundle: bundles[name],
      eventFile,
      functionName: CONSUMER,
      env: name === 'baseline' ? baselineEnv('init', closed) : dogearEnv('init', closed),
      mode: 'import-only',
    }),
  );

  // ———— Cold start with one event
  const runs = Math.max(options.rounds, MIN_COLD_STARTS);
  options.progress(`${BENCHMARK}: starting DynamoDB Local`);
  const local = await startDynamoDbLocal();
  const admin = new DynamoDBClient({
    region: 'us-east-1',
    endpoint: local.endpoint,
    credentials: { accessKeyId: 'dogear', secretAccessKey: 'local' },
  });
  try {
    let run = 0;
    const invokeTimes = await rotate(options, 'cold start', runs, VARIANT_NAMES, async (name) => {
      const id = `${name}-${++run}`;
      let env: Record<string, string>;
      let collect: () => Promise<Map<string, unknown>>;
      if (name === 'baseline') {
        await createTable(admin, `counts-${id}`, 'word');
        await createTable(admin, `idempotency-${id}`, 'id');
        env = baselineEnv(id, local.endpoint);
        collect = async () => {
          const counts = await readNumbers(admin, `counts-${id}`, 'word', 'n');
          await assertAllCompleted(admin, `idempotency-${id}`, RECORDS, `baseline ${id}`);
          return counts;
        };
      } else {
        const store = await openDynamoStateStore({
          endpoint: local.endpoint,
          table: `state-${id}`,
        });
        env = dogearEnv(`state-${id}`, local.endpoint);
        collect = () => store.scanTable(group, 'counts');
      }
      const times = await coldStart({
        bundle: bundles[name],
        eventFile,
        functionName: CONSUMER,
        env,
      });
      const failures = (times.result as { batchItemFailures?: unknown[] } | null)
        ?.batchItemFailures;
      assert.ok(
        !failures || failures.length === 0,
        `${labelOf(name)} ${id}: the handler returned failures ${JSON.stringify(times.result)}`,
      );
      assertSameCounts(await collect(), oracle, `${labelOf(name)} ${id}`);
      const tables = name === 'baseline' ? [`counts-${id}`, `idempotency-${id}`] : [`state-${id}`];
      for (const table of tables) await admin.send(new DeleteTableCommand({ TableName: table }));
      return times;
    });
    return coldStartReport(options, initTimes, invokeTimes, oracle.size);
  } finally {
    admin.destroy();
    await local.stop();
  }
}

/** Warm-ups of each variant, then `runs` rounds of all of them, the first rotated each round. */
export async function rotate<N extends string>(
  options: BenchOptions,
  phase: string,
  runs: number,
  names: readonly N[],
  one: (name: N) => Promise<ColdStart>,
  benchmark = BENCHMARK,
): Promise<Record<N, ColdStart[]>> {
  for (let w = 0; w < options.warmups; w++) for (const name of names) await one(name);
  const times = Object.fromEntries(names.map((name) => [name, []])) as unknown as Record<
    N,
    ColdStart[]
  >;
  for (let round = 1; round <= runs; round++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + round - 1) % names.length]!;
      times[name].push(await one(name));
    }
    options.progress(
      `${benchmark}: ${phase} ${round}/${runs}: ${names
        .map((name) => {
          const t = times[name].at(-1)!;
          return phase === 'init'
            ? `${name} ${Math.round(t.importMs)} ms`
            : `${name} ${Math.round(t.importMs)} + ${Math.round(t.invokeMs)} ms`;
        })
        .join(', ')}`,
    );
  }
  return times;
}

type Field = 'startMs' | 'eventMs' | 'importMs' | 'invokeMs' | 'totalMs' | 'wallMs';

function coldStartReport(options: BenchOptions, init: Times, invoke: Times, words: number) {
  const pick = (times: Times, name: VariantName, field: Field) => times[name].map((t) => t[field]);
  const med = (times: Times, name: VariantName, field: Field) => median(pick(times, name, field));
  const dogears = ['sdk-bundle', 'sdk-runtime'] as const;

  const rowsOf = (title: string, times: Times, field: Field, items: number, unit: string) => {
    const rows = VARIANTS.map(({ name, label }) =>
      rowOf(BENCHMARK, `${title}: ${label}`, items, unit, pick(times, name, field)),
    );
    const base = rows.at(-1)!;
    return [...rows.slice(0, -1).map((row) => faster(row, base)), base];
  };

  const table = (times: Times, fields: ReadonlyArray<readonly [string, Field]>) => {
    const lines = [
      ['median ms', ...fields.map(([title]) => title)],
      ...VARIANTS.map(({ name, label }) => [
        label,
        ...fields.map(([, field]) => med(times, name, field).toFixed(1)),
      ]),
      ...dogears.map((name) => [
        `${labelOf(name)} ÷ baseline`,
        ...fields.map(([, field]) =>
          ratio(med(times, name, field) / med(times, 'baseline', field)),
        ),
      ]),
    ];
    const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
    return lines.map(
      (l) =>
        `    ${l.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')}`,
    );
  };

  const met = (r: number) => `${ratio(r)} (${r <= COLD_START_TARGET ? 'met' : 'NOT met'})`;
  const verdict = (name: VariantName) =>
    `${labelOf(name)}: start → imported ${met(med(init, name, 'totalMs') / med(init, 'baseline', 'totalMs'))}, the import alone ${met(med(init, name, 'importMs') / med(init, 'baseline', 'importMs'))}, start → first event handled ${met(med(invoke, name, 'totalMs') / med(invoke, 'baseline', 'totalMs'))}`;
  const runs = invoke.baseline.length;
  const inits = init.baseline.length;

  return {
    rows: [
      ...rowsOf('init (import only)', init, 'importMs', 1, 'imports/s'),
      ...rowsOf('start → 1st event', invoke, 'totalMs', RECORDS, 'records/s'),
    ],
    notes: [
      [
        `init: ${inits} fresh \`node\` processes per variant (${process.execPath}, Node ${process.version}, no flags: no source maps, no compile cache), ${options.warmups} untimed warm-up each, then rotating which goes first; each imports the bundle and exits (Lambda's Init; nothing is sent, and no DynamoDB runs during this phase). Times are the child's performance.now() (ms since its process started), medians:`,
        ...table(init, [
          ['node start', 'startMs'],
          ['import', 'importMs'],
          ['start → imported', 'totalMs'],
          ['parent wall', 'wallMs'],
        ]),
      ].join('\n'),
      [
        `start → 1st event: ${runs} more processes per variant, likewise, each importing its bundle and handling ONE MSK event of bookPages(${RECORDS}, ${PARTITIONS}) (${RECORDS} records, batchSize ${RECORDS}) against DynamoDB Local, which runs on the same ${cpus().length} CPUs. The first invocation is mostly DynamoDB Local's time for the requests (dogear: TransactWriteItems of ≤ 100 items; baseline: per record an idempotency PutItem and UpdateItem plus one UpdateItem per distinct word; see \`npx tsx bench/dynamodb.bench.ts\`), not start-up. Medians:`,
        ...table(invoke, [
          ['node start', 'startMs'],
          ['event parse', 'eventMs'],
          ['import', 'importMs'],
          ['1st invoke', 'invokeMs'],
          ['start → handled', 'totalMs'],
          ['parent wall', 'wallMs'],
        ]),
      ].join('\n'),
      `rows: 'init (import only)' is \`await import(bundle)\` in the init phase; 'start → 1st event' is the child's process start to the first handler's promise settling. 'vs' is the baseline's median ms ÷ this row's (above 1: faster than the baseline).`,
      `cold-start target (dogear ≤ ${fraction(COLD_START_TARGET)} of the baseline): ${dogears.map(verdict).join('; ')}.`,
      `checked: every start → 1st event run gets new tables (created before its child starts; dogear's with openDynamoStateStore) and after it its counts (${words} words) must equal a plain count of the event's words, and the baseline's idempotency table must hold ${RECORDS} COMPLETED records; the handler must return no batchItemFailures. Children get only AWS_REGION=us-east-1, AWS_ACCESS_KEY_ID=dogear, AWS_SECRET_ACCESS_KEY=local, AWS_LAMBDA_FUNCTION_NAME=${CONSUMER}, an empty HOME and the handler's tables and endpoint (DOGEAR_DYNAMODB_TABLE/DOGEAR_DYNAMODB_ENDPOINT; COUNTS_TABLE/IDEMPOTENCY_TABLE/BASELINE_DYNAMODB_ENDPOINT).`,
      `sdk: 'runtime': its bundle runs from ${relative(ROOT, RUNTIME_SDK_DIR)}/ in the repository, so \`import '@aws-sdk/client-dynamodb'\` resolves to the repository's node_modules (the package's "main", its CommonJS build, and every @smithy/* file it requires): a stand-in for the copy the Lambda runtime carries, not that copy. The self-contained bundles run from a temp dir with no node_modules above it.`,
    ],
  };
}

/** `row` beside `base` as BenchRow.versus (base ms ÷ row ms), from the medians, unrounded. */
export function faster(row: BenchRow, base: BenchRow): BenchRow {
  return {
    ...row,
    versus: {
      subject: base.subject,
      ratio: Math.round((base.medianMs / row.medianMs) * 1000) / 1000,
    },
  };
}

// ———————————————————————————————————————————— helpers

/** src/ files newer than their dist/ build (dogear's bundles take the runtime from dist/). */
export async function staleDist(): Promise<string[]> {
  const stale: string[] = [];
  const src = join(ROOT, 'src');
  for (const file of await readdir(src, { recursive: true })) {
    if (!file.endsWith('.ts') || /\.test(-d)?\.ts$/.test(file)) continue;
    const built = join(ROOT, 'dist', file.replace(/\.ts$/, '.js'));
    const [source, output] = await Promise.all([
      stat(join(src, file)),
      stat(built).catch(() => undefined),
    ]);
    if (!output || output.mtimeMs < source.mtimeMs) stale.push(`src/${file}`);
  }
  return stale.sort();
}

export function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

export function ratio(r: number): string {
  return `${r.toFixed(3)}×`;
}

function fraction(r: number): string {
  return r === 1 / 3 ? '1/3' : r === 1 / 2 ? '1/2' : r.toFixed(2);
}
