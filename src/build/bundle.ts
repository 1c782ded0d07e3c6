import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { BuildOptions as EsbuildOptions, Plugin as EsbuildPlugin, Metafile } from 'esbuild';
import type { SchemaCodec } from '../event/index.ts';
import type { ConsumerDefinition, DeadLetterOptions, DeployOptions } from '../runtime/index.ts';
import { type DiscoveredConsumer, discoverConsumers } from './discover.ts';
import { BuildError } from './errors.ts';

export interface BuildOptions {
  /** The project root. @default process.cwd() */
  root?: string;
  /** Where consumers are found, relative to root. @default 'functions' */
  functions?: string;
  /** Where bundles go, relative to root. @default '.dogear/build' */
  outDir?: string;
  /** Build only these consumers. @default all */
  consumers?: readonly string[];
  /**
   * `'bundle'` puts the AWS SDK clients dogear uses into each bundle (pinned, tree-shaken);
   * `'runtime'` takes the SDK the Lambda runtime carries. @default 'bundle'
   */
  sdk?: 'bundle' | 'runtime';
  /** The Lambda Node.js runtime the bundles target. @default 'nodejs24.x' */
  runtime?: LambdaRuntime;
  /** One line per step, for progress on stderr. */
  progress?: (line: string) => void;
}

/** One consumer's bundle, as the manifest and the serverless plugin see it. */
export interface BuiltConsumer {
  readonly name: string;
  readonly group: string;
  readonly topic: string;
  readonly batchSize: number;
  readonly deploy: DeployOptions;
  /**
   * The registries its key and value codecs read writer schemas from, so the deploy can grant
   * what reading them needs (Glue: `glue:GetSchemaVersion`). Absent when neither has one.
   */
  readonly schemaRegistries?: readonly CodecRegistry[];
  /** The topics `ctx.emit` writes, so the deploy can grant writing them. Absent when none. */
  readonly emits?: readonly string[];
  /** Where records that keep failing go, so the deploy can grant writing there. */
  readonly deadLetter?: DeadLetterOptions;
  /** The consumer's module, relative to the root. */
  readonly source: string;
  /** The bundle's folder, relative to the root. */
  readonly dir: string;
  /** Lambda's handler setting for the bundle: `index.handler`. */
  readonly handler: string;
  readonly bytes: number;
  readonly gzipBytes: number;
  /** The esbuild build's time; one build writes every bundle, so each consumer shows the same. */
  readonly durationMs: number;
}

/** The registry of a consumer's key or value codec, as the manifest keeps it. */
export type CodecRegistry = NonNullable<SchemaCodec['registry']> & {
  readonly field: 'key' | 'value';
};

/** The registries of a consumer's codecs: plain data, which the manifest's JSON keeps. */
function codecRegistries(definition: Pick<ConsumerDefinition, 'key' | 'value'>): CodecRegistry[] {
  return (['value', 'key'] as const).flatMap((field) => {
    const format = definition[field];
    return typeof format === 'object' && format.registry ? [{ field, ...format.registry }] : [];
  });
}

/** What `dogear build` wrote; also `<outDir>/manifest.json`. */
export interface BuildManifest {
  readonly version: 1;
  readonly runtime: string;
  readonly sdk: 'bundle' | 'runtime';
  readonly consumers: BuiltConsumer[];
  readonly durationMs: number;
}

/** The folder dogear itself is installed in, so bundles use this copy of its runtime. */
const DOGEAR_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const gzipAsync = promisify(gzip);

/** Lambda's Node runtimes that dogear builds for. */
export type LambdaRuntime = 'nodejs22.x' | 'nodejs24.x';

/**
 * The esbuild options of every consumer bundle, without its entry and output. Exported so the
 * bundle benchmark builds its baseline with exactly these.
 */
export function esbuildOptions(runtime: LambdaRuntime, sdk: 'bundle' | 'runtime') {
  return {
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: runtime === 'nodejs22.x' ? 'node22' : 'node24',
    minify: true,
    treeShaking: true,
    sourcemap: 'linked',
    sourcesContent: false,
    metafile: true,
    logLevel: 'silent',
    legalComments: 'none',
    mainFields: ['module', 'main'],
    external: sdk === 'runtime' ? ['@aws-sdk/*', '@smithy/*'] : [],
    // Some dependencies still call require(); ESM output needs one to exist.
    banner: { js: REQUIRE_SHIM },
  } satisfies EsbuildOptions;
}

/**
 * dogear's runtime reaches the SDK's credential chain by a dynamic import that only the CLI
 * calls (src/state/dynamo/store.ts), and tree shaking drops it from every bundle; left to
 * esbuild, it would still read and parse some 650 SDK files per build to find that out (about
 * 0.45 s of the 0.5 s a bundle takes). External, it costs nothing, and the bytes are the same
 * (src/build/bundle.test.ts compares them with a build without this plugin). Exported so the
 * build benchmark's esbuild-alone baseline does the same work.
 */
const CLI_ONLY_IMPORTS = new Set(['@aws-sdk/credential-providers']);
const DOGEAR_DIST = join(DOGEAR_ROOT, 'dist');
export const skipCliOnlyImports: EsbuildPlugin = {
  name: 'dogear-skip-cli-only-imports',
  setup(build) {
    build.onResolve({ filter: /^@aws-sdk\/credential-providers$/ }, (args) =>
      args.kind === 'dynamic-import' &&
      CLI_ONLY_IMPORTS.has(args.path) &&
      !relative(DOGEAR_DIST, args.importer).startsWith('..')
        ? { path: args.path, external: true }
        : undefined,
    );
  },
};

/** Defines `require` in an ESM bundle, for dependencies that still call it. */
export const REQUIRE_SHIM =
  "import{createRequire as __dogearRequire}from'node:module';const require=__dogearRequire(import.meta.url);";

/**
 * Bundles each consumer into its own folder with esbuild: an entry that imports only that
 * consumer and exports `handler = lambdaHandler(Consumer)`, so no bundle carries another's code.
 */
export async function buildConsumers(options: BuildOptions = {}): Promise<BuildManifest> {
  const started = performance.now();
  const root = resolve(options.root ?? process.cwd());
  const outDir = resolve(root, options.outDir ?? '.dogear/build');
  const runtime = options.runtime ?? 'nodejs24.x';
  const sdk = options.sdk ?? 'bundle';
  const progress = options.progress ?? (() => {});

  // esbuild's service (a child process) starts while discovery imports the consumers.
  const esbuild = import('esbuild').then(async (module) => {
    await module.transform('');
    return module;
  });
  esbuild.catch(() => {}); // a failure shows at the build, after discovery's errors
  let found = await discoverConsumers(options.functions ?? 'functions', root);
  if (found.length === 0) {
    throw new BuildError(
      `No consumers in ${options.functions ?? 'functions'}/; export a class decorated with @consumer`,
    );
  }
  if (options.consumers?.length) {
    const unknown = options.consumers.filter((n) => !found.some((c) => c.definition.name === n));
    if (unknown.length) {
      throw new BuildError(
        `No consumer named ${unknown.join(', ')}; the consumers are ${found.map((c) => c.definition.name).join(', ')}`,
      );
    }
    found = found.filter((c) => options.consumers!.includes(c.definition.name));
  }
  progress(`found ${found.length} consumers in ${Math.round(performance.now() - started)} ms`);

  const { build } = await esbuild;
  const began = performance.now();
  const entries = new Map<DiscoveredConsumer, string>();
  await Promise.all(
    found.map(async (consumer) => {
      const dir = join(outDir, consumer.definition.name);
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      const entry = join(dir, 'entry.mjs');
      await writeFile(entry, entrySource(consumer, root, dir));
      entries.set(consumer, entry);
    }),
  );
  const bundleOne = (consumer: DiscoveredConsumer) =>
    build({
      ...esbuildOptions(runtime, sdk),
      plugins: [skipCliOnlyImports],
      entryPoints: [entries.get(consumer)!],
      outfile: join(outDir, consumer.definition.name, 'index.mjs'),
    }).catch((error: Error) => {
      throw new BuildError(
        `Bundling consumer ${consumer.definition.name} (${consumer.file}) failed: ${error.message}`,
        { cause: error },
      );
    });
  // One esbuild build for every consumer: esbuild parses a module they share once, and links
  // each entry on its own (no code splitting), so each bundle is what a build of it alone
  // writes. If that build fails, each consumer is built alone, so the error names the one.
  const metafile = await build({
    ...esbuildOptions(runtime, sdk),
    plugins: [skipCliOnlyImports],
    entryPoints: found.map((consumer) => entries.get(consumer)!),
    outdir: outDir,
    outbase: outDir,
    entryNames: '[dir]/index',
    outExtension: { '.js': '.mjs' },
  }).then(
    (result) => result.metafile,
    async (error: Error) => {
      for (const consumer of found) await bundleOne(consumer);
      throw new BuildError(`Bundling consumers failed: ${error.message}`, { cause: error });
    },
  );
  const bundleMs = Math.round(performance.now() - began);
  const consumers = await Promise.all(
    found.map(async (consumer): Promise<BuiltConsumer> => {
      const dir = join(outDir, consumer.definition.name);
      await rm(entries.get(consumer)!);
      const code = await readFile(join(dir, 'index.mjs'));
      const registries = codecRegistries(consumer.definition);
      return {
        name: consumer.definition.name,
        group: consumer.definition.group,
        topic: consumer.definition.topic,
        batchSize: consumer.definition.batchSize,
        deploy: consumer.definition.deploy,
        ...(registries.length ? { schemaRegistries: registries } : {}),
        ...(consumer.definition.emits.length ? { emits: consumer.definition.emits } : {}),
        ...(consumer.definition.deadLetter ? { deadLetter: consumer.definition.deadLetter } : {}),
        source: consumer.file,
        dir: relative(root, dir),
        handler: 'index.handler',
        bytes: outputBytes(metafile, relative(process.cwd(), join(dir, 'index.mjs'))),
        // On libuv's thread pool, so bundles are compressed in parallel.
        gzipBytes: (await gzipAsync(code)).length,
        durationMs: bundleMs,
      };
    }),
  );
  for (const built of consumers) progress(`bundled ${built.name} (${kb(built.bytes)})`);
  progress(`bundled ${consumers.length} consumers in one esbuild build in ${bundleMs} ms`);
  const manifest: BuildManifest = {
    version: 1,
    runtime,
    sdk,
    consumers,
    durationMs: Math.round(performance.now() - started),
  };
  await writeFile(join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/**
 * The generated entry in `dir`: the consumer's module and the Lambda glue, nothing else.
 * Exported so the build benchmark gives esbuild alone exactly these entries.
 */
export function entrySource(consumer: DiscoveredConsumer, root: string, dir: string): string {
  const from = relative(dir, resolve(root, consumer.file)).replaceAll('\\', '/');
  return [
    `import { ${consumer.exportName} as consumer } from ${JSON.stringify(from.startsWith('.') ? from : `./${from}`)};`,
    `import { lambdaHandler } from ${JSON.stringify(join(DOGEAR_ROOT, 'dist/runtime/lambda.js').replaceAll('\\', '/'))};`,
    'export const handler = lambdaHandler(consumer);',
    '',
  ].join('\n');
}

/** The bytes of one output of the build; the metafile names outputs relative to the working directory. */
function outputBytes(metafile: Metafile, output: string): number {
  const entry = metafile.outputs[output.replaceAll('\\', '/')];
  if (!entry)
    throw new BuildError(
      `esbuild wrote no ${output}; it wrote ${Object.keys(metafile.outputs).join(', ')}`,
    );
  return entry.bytes;
}

export function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}
