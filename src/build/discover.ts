import { readdir } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type ConsumerDefinition, consumerOf } from '../runtime/index.ts';
import { BuildError } from './errors.ts';

/** A consumer and the file that declares it. */
export interface DiscoveredConsumer {
  readonly definition: ConsumerDefinition;
  /** The module path, relative to the project root. */
  readonly file: string;
  /** The export that holds it. */
  readonly exportName: string;
}

let discoveries = 0;

/** Files under `dir` that may declare consumers: TypeScript, not tests, not declarations. */
export async function consumerFiles(dir: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(dir, { recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new BuildError(
        `No ${dir} folder; dogear looks for consumers in functions/**/*.ts (or --functions <dir>)`,
      );
    }
    throw error;
  }
  return entries
    .filter((f) => /\.(ts|mts)$/.test(f) && !/\.(d|test|spec)\.m?ts$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

/**
 * Imports every consumer file (TypeScript runs directly, through tsx) and collects the
 * consumers they export. Names and groups must be unique.
 */
export async function discoverConsumers(
  dir = 'functions',
  root = process.cwd(),
): Promise<DiscoveredConsumer[]> {
  const files = await consumerFiles(resolve(root, dir));
  const { register } = await import('tsx/esm/api');
  // One loader for the whole discovery, not tsImport's one per file: each of those adds a
  // loader hook for the rest of the process and imports 'dogear' and its dependencies afresh.
  // A namespace of its own per call, so a later discovery (dogear dev) sees edited files.
  const loader = register({ namespace: `dogear-discover-${process.pid}-${++discoveries}` });
  const found: DiscoveredConsumer[] = [];
  try {
    for (const file of files) {
      const module = (await loader.import(pathToFileURL(file).href, import.meta.url)) as Record<
        string,
        unknown
      >;
      for (const [exportName, value] of Object.entries(module)) {
        const definition = consumerOf(value);
        if (definition) found.push({ definition, file: relative(root, file), exportName });
      }
    }
  } finally {
    await loader.unregister();
  }
  for (const key of ['name', 'group'] as const) {
    const seen = new Map<string, DiscoveredConsumer>();
    for (const c of found) {
      const other = seen.get(c.definition[key]);
      if (other) {
        throw new BuildError(
          `Consumers ${other.exportName} (${other.file}) and ${c.exportName} (${c.file}) share the ${key} '${c.definition[key]}'; give one of them its own ${key}`,
        );
      }
      seen.set(c.definition[key], c);
    }
  }
  return found;
}

/** Finds one consumer by name, or says which names exist. */
export async function findConsumer(
  name: string,
  dir?: string,
  root?: string,
): Promise<DiscoveredConsumer> {
  const all = await discoverConsumers(dir, root);
  const match = all.find((c) => c.definition.name === name);
  if (!match) {
    const names = all.map((c) => c.definition.name).join(', ') || 'none';
    throw new BuildError(
      `No consumer named '${name}' in ${dir ?? 'functions'}/; the consumers are: ${names}`,
    );
  }
  return match;
}
