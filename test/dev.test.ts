/**
 * The local trigger end to end: the example topics produced to a real broker, `dogear dev` run
 * as a process, SIGKILLed midway and restarted; the final tables must equal an oracle.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, inject, test } from 'vitest';
import { eventRecordOf } from '../src/event/index.ts';
import { produceRecords } from '../src/local/index.ts';
import { FileStateStore } from '../src/state/index.ts';
import { bookPages, temperatureReadings } from './fixtures/book.ts';
import { thermometerOracle, wordCountOracle } from './fixtures/oracle.ts';

const running: ChildProcess[] = [];
afterEach(() => {
  for (const child of running.splice(0)) child.kill('SIGKILL');
});

function startDev(stateDir: string, args = ['word-count', 'thermometer']) {
  const child = spawn(
    'node',
    ['bin/dogear.js', 'dev', ...args, '--no-watch', '--state-dir', stateDir],
    {
      env: { ...process.env, KAFKA_BROKERS: inject('kafkaBrokers') },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  running.push(child);
  const lines: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) =>
    lines.push(...chunk.toString().split('\n').filter(Boolean)),
  );
  return { child, lines };
}

async function until(
  condition: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs = 90_000,
) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Whether every partition's checkpoint reached the last offset produced to it. */
async function caughtUp(stateDir: string, group: string, lastOffsets: Map<number, number>) {
  const checkpoints = await new FileStateStore(stateDir).scanCheckpoints(group);
  return [...lastOffsets].every(
    ([partition, last]) => checkpoints.find((c) => c.partition === partition)?.offset === last,
  );
}

function lastOffsets(records: ReadonlyArray<{ partition: number; offset: number }>) {
  const last = new Map<number, number>();
  for (const r of records) last.set(r.partition, Math.max(last.get(r.partition) ?? -1, r.offset));
  return last;
}

test('dogear dev, SIGKILLed midway and restarted, applies every record exactly once', async () => {
  const pages = bookPages(9000, 3);
  const readings = temperatureReadings(2000, 5, 2);
  // A fresh broker assigns offsets from 0 in file order per partition, as the fixtures number them.
  await produceRecords({
    brokers: [inject('kafkaBrokers')],
    records: [...pages, ...readings].map((r, i) => eventRecordOf(r, `record ${i}`)),
  });
  const stateDir = mkdtempSync(join(tmpdir(), 'dogear-dev-'));

  const first = startDev(stateDir);
  // Killed the moment its first word-count batch is reported, not at the next poll: a fast
  // machine would otherwise finish the topic before the kill and there would be no restart.
  const firstExit = new Promise((resolve) => first.child.once('exit', resolve));
  first.child.stderr?.on('data', (chunk: Buffer) => {
    if (chunk.toString().includes('word-count: book-pages')) first.child.kill('SIGKILL');
  });
  await until(() => first.child.exitCode !== null || first.child.signalCode !== null, 'the kill');
  await firstExit;
  const before = await new FileStateStore(stateDir).scanCheckpoints('word-count');
  expect(before.length).toBeGreaterThan(0);
  // Midway: the restart has word-count records left to do.
  expect(await caughtUp(stateDir, 'word-count', lastOffsets(pages))).toBe(false);

  const second = startDev(stateDir);
  await until(
    async () =>
      (await caughtUp(stateDir, 'word-count', lastOffsets(pages))) &&
      (await caughtUp(stateDir, 'thermometer', lastOffsets(readings))),
    'both consumers to reach the end of their topics',
  );
  second.child.kill('SIGTERM');
  await new Promise((resolve) => second.child.once('exit', resolve));

  const store = new FileStateStore(stateDir);
  expect(Object.fromEntries(await store.scanTable('word-count', 'counts'))).toEqual(
    wordCountOracle(pages),
  );
  expect(Object.fromEntries(await store.scanTable('thermometer', 'state'))).toEqual(
    thermometerOracle(readings),
  );
  // Each batch line names the consumer, the partitions and offsets, the duration and duplicates.
  expect(second.lines.join('\n')).toMatch(
    /word-count: book-pages-\d@\d+\.\.\d+.*records, \d+ processed, \d+ duplicates skipped \(\d+ ms\)/,
  );
}, 180_000);

test('dogear dev honours a partial batch response: commits what succeeded, retries the rest', async () => {
  const records = Array.from({ length: 300 }, (_, i) => ({
    topic: 'flaky-pages',
    partition: i % 2,
    offset: Math.floor(i / 2),
    value: ['a', 'b', 'c'][i % 3]!,
  }));
  await produceRecords({
    brokers: [inject('kafkaBrokers')],
    records: records.map((r, i) => eventRecordOf(r, `record ${i}`)),
  });
  const stateDir = mkdtempSync(join(tmpdir(), 'dogear-flaky-'));
  const dev = startDev(stateDir, ['--functions', 'test/fixtures/dev-flaky/functions']);
  await until(() => caughtUp(stateDir, 'flaky', lastOffsets(records)), 'flaky to reach the end');
  dev.child.kill('SIGTERM');
  await new Promise((resolve) => dev.child.once('exit', resolve));

  const oracle: Record<string, number> = {};
  for (const r of records) oracle[r.value] = (oracle[r.value] ?? 0) + 1;
  const counts = await new FileStateStore(stateDir).scanTable('flaky', 'counts');
  expect(Object.fromEntries(counts)).toEqual(oracle);
  expect(dev.lines.join('\n')).toMatch(/partial batch response: resume flaky-pages-\d@5/);
}, 120_000);
