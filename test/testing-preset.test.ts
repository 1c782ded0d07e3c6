import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NODE = join(ROOT, 'node_modules/.bin/node');
const PROJECT = join(ROOT, 'test/fixtures/testing-project');
const made: string[] = [];

afterAll(async () => {
  for (const dir of made) await rm(dir, { recursive: true, force: true });
});

/**
 * A user's project in its own folder under the OS tmp dir: the fixture's files, `dogear` as an
 * installed package (a link to this repository, which resolves to dist/ through its exports),
 * and this repository's vitest, so nothing from the repository's own vitest config applies.
 */
async function userProject(config?: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dogear-user-'));
  made.push(dir);
  await cp(PROJECT, dir, { recursive: true });
  // Here, not in the fixture: a package.json there would hide this repository's own from tsc,
  // which type-checks the fixture through the package's self-reference.
  await writeFile(
    join(dir, 'package.json'),
    `${JSON.stringify({ name: 'orders-service', private: true, type: 'module', scripts: { test: 'vitest run' } }, null, 2)}\n`,
  );
  await mkdir(join(dir, 'node_modules'));
  await symlink(ROOT, join(dir, 'node_modules/dogear'), 'dir');
  await symlink(join(ROOT, 'node_modules/vitest'), join(dir, 'node_modules/vitest'), 'dir');
  if (config !== undefined) await writeFile(join(dir, 'vitest.config.ts'), config);
  return dir;
}

/** `vitest run` in `dir`, as the user's `npm test` would run it, with a JSON report. */
function runVitest(dir: string) {
  // The outer run's worker variables would make the inner vitest think it is a worker.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('VITEST')),
  );
  const child = spawn(
    NODE,
    [
      'node_modules/vitest/vitest.mjs',
      'run',
      '--reporter=default',
      '--reporter=json',
      '--outputFile.json=report.json',
    ],
    { cwd: dir, env: { ...env, NO_COLOR: '1', CI: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk;
  });
  return new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

interface JsonReport {
  testResults: Array<{ assertionResults: Array<{ title: string; status: string }> }>;
}

async function outcomes(dir: string): Promise<Record<string, string>> {
  const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as JsonReport;
  return Object.fromEntries(
    report.testResults.flatMap((file) => file.assertionResults.map((t) => [t.title, t.status])),
  );
}

describe('a user project tested with dogear/vitest', () => {
  test('runs its decorated consumer through invoke(): records, state, redelivery, faults', async () => {
    const dir = await userProject();
    const { code, output } = await runVitest(dir);

    expect(output, output).not.toContain('SyntaxError');
    expect(code, output).toBe(0);
    expect(await outcomes(dir)).toEqual({
      'totals each customer': 'passed',
      'a redelivered batch changes nothing and sends no receipt twice': 'passed',
      'a cold start on the same store skips what was committed': 'passed',
      'a bad order fails by name; the orders before it commit': 'passed',
      'a record that fails after its receipt went out is retried without a second receipt':
        'passed',
      'a commit whose answer was lost is not applied twice': 'passed',
      'a commit that fails lands nothing of its partition': 'passed',
      'a conflicting writer reruns the slice; totals count once': 'passed',
      'a handler error points at its line in the consumer source': 'passed',
    });
    // In-memory tests start no DynamoDB Local and no Kafka broker.
    expect(output).not.toMatch(/DynamoDB Local on|Kafka on/);
  }, 120_000);

  test('without the preset, the decorators fail to load as docs/testing.md says', async () => {
    const dir = await userProject(
      "import { defineConfig } from 'vitest/config';\n\nexport default defineConfig({});\n",
    );
    const { code, output } = await runVitest(dir);
    const docs = await readFile(join(ROOT, 'docs/testing.md'), 'utf8');

    expect(code, output).not.toBe(0);
    expect(output).toContain('SyntaxError: Invalid or unexpected token');
    expect(docs).toContain('SyntaxError: Invalid or unexpected token');
    expect(docs).toContain('plugins: [dogear()]');
  }, 120_000);
});

describe('docs/testing.md', () => {
  test("its snippets are the example project's code, which the test above runs", async () => {
    const docs = await readFile(join(ROOT, 'docs/testing.md'), 'utf8');
    const snippets = [...docs.matchAll(/```ts\n\/\/ (\S+)(?: #(\S+))?\n([\s\S]*?)```/g)];
    expect(snippets.length).toBeGreaterThanOrEqual(6);
    for (const [, file, region, body] of snippets) {
      const source = await readFile(join(PROJECT, file!), 'utf8');
      const expected = region ? regionOf(source, region, file!) : source;
      expect(body!.trimEnd(), `${file}${region ? ` #${region}` : ''}`).toBe(expected.trimEnd());
    }
  });
});

/** The lines between `// #region name` and `// #endregion name`. */
function regionOf(source: string, name: string, file: string): string {
  const match = new RegExp(`// #region ${name}\\n([\\s\\S]*?)// #endregion ${name}\\n`).exec(
    source,
  );
  if (!match) throw new Error(`${file} has no region ${name}`);
  return match[1]!;
}

describe('dogear/testing without vitest', () => {
  test('loads neither vitest, esbuild nor the Kafka client', async () => {
    // A resolve hook sees every specifier the import pulls in, however deep.
    const script = `
      import { registerHooks } from 'node:module';
      const seen = new Set();
      registerHooks({ resolve(specifier, context, next) { seen.add(specifier); return next(specifier, context); } });
      const { invoke } = await import('dogear/testing');
      if (typeof invoke !== 'function') throw new Error('no invoke');
      console.log(JSON.stringify([...seen].filter((s) => /^(vitest|vite|esbuild|@platformatic\\/kafka)(\\/|$)/.test(s))));
    `;
    const child = spawn(NODE, ['--input-type=module', '-e', script], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c;
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c;
    });
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(code, err).toBe(0);
    expect(JSON.parse(out)).toEqual([]);
  }, 60_000);
});
