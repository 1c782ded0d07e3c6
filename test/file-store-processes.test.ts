/**
 * Issue case 5: two processes on one state folder, as two `dogear invoke` runs or two
 * `dogear dev` processes sharing a group leave it. Real processes, each with its own memory, so
 * only the folder can keep them from losing each other's updates.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, test } from 'vitest';
import { eventRecordOf, eventsOf } from '../src/event/index.ts';
import { FileStateStore } from '../src/state/index.ts';
import { shortPages } from './fixtures/book.ts';
import { wordCountOracle } from './fixtures/oracle.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NODE = join(ROOT, 'node_modules/.bin/node');
const dir = mkdtempSync(join(tmpdir(), 'dogear-processes-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

interface Totals {
  processed: number;
  duplicates: number;
  reruns: number;
  fences: number;
  retries: number;
}

/** Starts a worker; `ready` settles once it is loaded, `done` with its totals. */
function worker(events: string) {
  const child = spawn(
    NODE,
    ['--import', 'tsx', 'test/fixtures/file-store-worker.ts', join(dir, 'state'), events],
    { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  children.push(child);
  let stdout = '';
  let stderr = '';
  let markReady: () => void;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk;
    if (stdout.startsWith('ready\n')) markReady();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk;
  });
  const done = new Promise<Totals>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) reject(new Error(`worker exited with ${code}:\n${stderr}`));
      else resolve(JSON.parse(stdout.split('\n').at(-2)!) as Totals);
    });
  });
  return { ready, done, go: () => child.stdin!.end('go\n') };
}

test('two processes sharing partitions and counters on one folder: every count equals the oracle', async () => {
  const records = shortPages(3_000, 4);
  // Partitions 1 and 2 go to both processes, as around a rebalance, so each of their records
  // reaches two processes and one of them must be fenced; 0 and 3 go to one process each, and
  // every partition adds to the same counters.
  const files = [
    [0, 1, 2],
    [1, 2, 3],
  ].map((partitions, i) => {
    const mine = records.filter((r) => partitions.includes(r.partition));
    const file = join(dir, `events-${i}.json`);
    writeFileSync(
      file,
      JSON.stringify(
        eventsOf(
          mine.map((r, n) => eventRecordOf(r, `record ${n}`)),
          12,
        ),
      ),
    );
    return file;
  });
  const workers = files.map(worker);
  await Promise.all(workers.map((w) => w.ready));
  for (const w of workers) w.go();
  const totals = await Promise.all(workers.map((w) => w.done));

  const store = new FileStateStore(join(dir, 'state'));
  expect(Object.fromEntries(await store.scanTable('word-count', 'counts'))).toEqual(
    wordCountOracle(records),
  );
  const last = [0, 1, 2, 3].map((p) =>
    Math.max(...records.filter((r) => r.partition === p).map((r) => r.offset)),
  );
  expect(
    (await store.scanCheckpoints('word-count')).map((c) => [c.partition, c.offset]).sort(),
  ).toEqual(last.map((offset, partition) => [partition, offset]));
  // Each record's effects were committed by exactly one invocation of one process.
  const sum = (pick: (t: Totals) => number) => totals.reduce((n, t) => n + pick(t), 0);
  expect(sum((t) => t.processed)).toBe(records.length);
  process.stderr.write(
    `2 processes, ${records.length} records: ${sum((t) => t.fences)} fences, ${sum((t) => t.reruns)} reruns, ${sum((t) => t.retries)} batch retries, ${sum((t) => t.duplicates)} duplicates skipped\n`,
  );
  // Both reached the shared partitions' records: the test raced them, it did not run them in turn.
  expect(sum((t) => t.fences)).toBeGreaterThan(0);
}, 60_000);
