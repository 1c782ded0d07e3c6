import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, describe, expect, test } from 'vitest';
import { buildConsumers, entrySource, esbuildOptions } from './bundle.ts';
import { BuildError } from './errors.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

// Under the repository, so 'dogear' resolves (to dist/) as it does in a user's project.
await mkdir(join(ROOT, '.dogear'), { recursive: true });
const scratch = await mkdtemp(join(ROOT, '.dogear', 'build-test-'));
afterAll(() => rm(scratch, { recursive: true, force: true }));

describe('buildConsumers', () => {
  test('one build for all consumers writes the bytes a build of each alone writes', async () => {
    const outDir = join(scratch, 'all');
    const manifest = await buildConsumers({ root: ROOT, outDir });
    expect(manifest.consumers.map((c) => c.name)).toEqual([
      'alert-log',
      'duplicate-words',
      'payment-totals',
      'picture-finder',
      'thermometer',
      'word-count',
    ]);
    for (const consumer of manifest.consumers) {
      const dir = join(ROOT, consumer.dir);
      const alone = join(scratch, 'alone', consumer.name);
      await mkdir(alone, { recursive: true });
      // The entry dogear writes, built alone in a folder as deep: the same relative paths.
      const entry = join(alone, 'entry.mjs');
      await writeFile(
        entry,
        entrySource(
          {
            definition: {
              name: consumer.name,
              emits: consumer.emits ?? [],
              deadLetter: consumer.deadLetter,
            } as never,
            file: consumer.source,
            exportName: await exportNameOf(consumer.source),
          },
          ROOT,
          alone,
        ),
      );
      const result = await build({
        ...esbuildOptions('nodejs24.x', 'bundle'),
        entryPoints: [entry],
        outfile: join(alone, 'index.mjs'),
      });
      expect(result.errors).toEqual([]);
      expect(await readFile(join(dir, 'index.mjs'), 'utf8')).toBe(
        await readFile(join(alone, 'index.mjs'), 'utf8'),
      );
      expect(await readFile(join(dir, 'index.mjs.map'), 'utf8')).toBe(
        await readFile(join(alone, 'index.mjs.map'), 'utf8'),
      );
      expect(consumer.bytes).toBe((await readFile(join(dir, 'index.mjs'))).length);
    }
  });

  test('when one consumer does not bundle, the error names it and its file', async () => {
    const root = join(scratch, 'broken');
    await mkdir(join(root, 'functions'), { recursive: true });
    const good = await readFile(join(ROOT, 'functions', 'word-count.ts'), 'utf8');
    await writeFile(join(root, 'functions', 'a-good.ts'), good);
    // Imports fine (the dynamic import never runs), but esbuild cannot resolve it.
    await writeFile(
      join(root, 'functions', 'b-broken.ts'),
      good
        .replace('export class WordCount', 'export class Broken')
        .replace(
          'if (page.value === null) return;',
          "if (page.value === null) return void import('dogear-no-such-package');",
        ),
    );
    const failure = await buildConsumers({ root, outDir: join(root, 'out') }).catch((e) => e);
    expect(failure).toBeInstanceOf(BuildError);
    expect(failure.message).toMatch(
      /^Bundling consumer broken \(functions\/b-broken\.ts\) failed: /,
    );
    expect(failure.message).toContain('dogear-no-such-package');
  });
});

async function exportNameOf(source: string): Promise<string> {
  const code = await readFile(join(ROOT, source), 'utf8');
  return /export class (\w+)/.exec(code)![1]!;
}
