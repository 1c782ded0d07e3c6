import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readZip } from '../../test/fixtures/serverless/zip-reader.ts';
import { zip, zipDirectory } from './zip.ts';

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

describe('zip', () => {
  it('reads back what it wrote: names, bytes and a readable file mode', () => {
    const code = Buffer.from('export const handler = async () => 1;\n'.repeat(50));
    const tiny = Buffer.from('{}');
    const files = readZip(
      zip([
        { name: 'a/index.mjs', data: code },
        { name: 'a/tiny.json', data: tiny },
        { name: 'empty', data: Buffer.alloc(0) },
      ]),
    );
    expect(files.map((f) => [f.name, f.data.toString(), f.mode.toString(8)])).toEqual([
      ['a/index.mjs', code.toString(), '100644'],
      ['a/tiny.json', '{}', '100644'],
      ['empty', '', '100644'],
    ]);
  });

  it('is deterministic', () => {
    const entries = [{ name: 'index.mjs', data: Buffer.from('x'.repeat(1000)) }];
    expect(zip(entries).equals(zip(entries))).toBe(true);
  });
});

describe('zipDirectory', () => {
  it('names entries from the root, so the handler path holds inside the zip', async () => {
    const root = await mkdtemp(join(tmpdir(), 'dogear-zip-'));
    dirs.push(root);
    const bundle = join(root, '.dogear/build/word-count');
    await mkdir(join(bundle, 'nested'), { recursive: true });
    await writeFile(join(bundle, 'index.mjs'), 'export const handler = () => 1;');
    await writeFile(join(bundle, 'index.mjs.map'), '{}');
    await writeFile(join(bundle, 'nested/data.txt'), 'data');
    const file = join(root, 'word-count.zip');
    const names = await zipDirectory(bundle, root, file);
    expect(names).toEqual([
      '.dogear/build/word-count/index.mjs',
      '.dogear/build/word-count/index.mjs.map',
      '.dogear/build/word-count/nested/data.txt',
    ]);
    expect(readZip(await readFile(file)).map((f) => f.name)).toEqual(names);
    // And unzip, where the machine has it, agrees the archive is sound.
    const unzip = spawnSync('unzip', ['-tq', file], { encoding: 'utf8' });
    if (!unzip.error) expect(unzip.stdout).toMatch(/No errors detected/);
  });
});
