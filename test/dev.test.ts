/**
 * The local trigger end to end: the example topics produced to a real broker, `dogear dev` run
 * as a process, SIGKILLed midway and restarted; the final tables must equal an oracle. And the
 * recording path agrees with it: `dogear record` of a binary topic, replayed by `dogear invoke`,
 * leaves the tables `dogear dev` left.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, inject, test } from 'vitest';
import { type EventRecord, eventRecordOf } from '../src/event/index.ts';
import { produceRecords } from '../src/local/index.ts';
import { FileStateStore } from '../src/state/index.ts';
import { bookPages, temperatureReadings } from './fixtures/book.ts';
import { killDogears, spawnDogear } from './fixtures/dogear-process.ts';
import { thermometerOracle, wordCountOracle } from './fixtures/oracle.ts';

afterEach(killDogears);
const KAFKA = { KAFKA_BROKERS: inject('kafkaBrokers') };

function startDev(stateDir: string, args = ['word-count', 'thermometer']) {
  return spawnDogear(['dev', ...args, '--no-watch', '--state-dir', stateDir], KAFKA);
}

/** A dogear command run to its end: exit code, stdout, stderr. */
const dogear = (args: string[]) => spawnDogear(args, KAFKA).exit();

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
    if (chunk.toString().includes('word-count: book-pages-')) first.child.kill('SIGKILL');
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
  // The event-source options are the deployed ones: serverless.yml sets word-count's window.
  expect(second.lines).toContain(
    'word-count: book-pages as group word-count; batches of up to 500 within 5 s; from earliest; retried until it succeeds',
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

test('a recording of a binary topic, replayed by dogear invoke, leaves the tables dogear dev left', async () => {
  const functions = 'test/fixtures/dev-binary/functions';
  const topic = 'binary-readings';
  const base = Date.now() - 3_600_000;
  const signed = (bytes: number[]) => bytes.map((b) => (b > 127 ? b - 256 : b));
  const bytes = (length: number, seed: number) =>
    Array.from({ length }, (_, j) => (seed * 97 + j * 61) % 256);
  const base64 = (b: number[]) => Buffer.from(b).toString('base64');
  // Keys stay on one partition, as Kafka's partitioner keeps them (no key: only partition 0),
  // so "last value" is defined.
  const records: EventRecord[] = Array.from({ length: 90 }, (_, i) => {
    const partition = i % 3;
    return {
      topic,
      partition,
      offset: Math.floor(i / 3),
      timestamp: base + i * 1000 + ((i * 37) % 1000),
      timestampType: 'CREATE_TIME',
      key: i % 21 === 0 ? null : base64(bytes(3, partition * 2 + (i % 2))),
      value: i % 11 === 0 ? null : base64(bytes(1 + (i % 13), i)),
      headers: [
        { trace: signed(bytes(2, i)) } as Record<string, number[]>,
        ...(i % 4 === 0 ? [{ hop: signed([0x80, 0xff]) }, { hop: [1] }] : []),
      ],
    };
  });
  await produceRecords({ brokers: [inject('kafkaBrokers')], records });

  const devState = mkdtempSync(join(tmpdir(), 'dogear-binary-dev-'));
  const dev = startDev(devState, ['--functions', functions]);
  await until(() => caughtUp(devState, 'byte-counter', lastOffsets(records)), 'dev to the end');
  dev.child.kill('SIGTERM');
  await new Promise((resolve) => dev.child.once('exit', resolve));

  const recording = join(devState, 'binary.ndjson');
  const recorded = await dogear(['record', '--topic', topic, '--out', recording]);
  expect(recorded.code, recorded.stderr).toBe(0);
  const invokeState = mkdtempSync(join(tmpdir(), 'dogear-binary-invoke-'));
  const invoked = await dogear([
    'invoke',
    'byte-counter',
    '--events',
    recording,
    '--functions',
    functions,
    '--state-dir',
    invokeState,
    '--json',
  ]);
  expect(invoked.code, invoked.stderr).toBe(0);
  expect(JSON.parse(invoked.stdout)).toMatchObject({ records: 90, processed: 90, failed: 0 });

  // The oracle, from what was produced, so that two equally wrong paths cannot agree.
  const hex = (b64: string | null) =>
    b64 === null ? '(none)' : Buffer.from(b64, 'base64').toString('hex');
  const sum = (b64: string | null) =>
    [...Buffer.from(b64 ?? '', 'base64')].reduce((a, b) => a + b, 0);
  const oracle: Record<string, Record<string, number | string>> = {
    'value-bytes': {},
    tombstones: {},
    'last-value': {},
    timestamps: {},
    'header-bytes': {},
  };
  const add = (table: string, key: string, n: number) => {
    oracle[table]![key] = ((oracle[table]![key] as number | undefined) ?? 0) + n;
  };
  for (const r of records) {
    const key = hex(r.key ?? null);
    const value = r.value ?? null;
    add('value-bytes', key, sum(value));
    add('tombstones', key, value === null ? 1 : 0);
    oracle['last-value']![key] = hex(value);
    add('timestamps', key, r.timestamp % 1000);
    for (const header of r.headers) {
      for (const [name, value] of Object.entries(header)) {
        add('header-bytes', name, value.reduce((a, b) => a + (b & 0xff), 0) + 1);
      }
    }
  }
  for (const table of Object.keys(oracle)) {
    const read = async (stateDir: string) => {
      const shown = await dogear([
        'state',
        'byte-counter',
        '--table',
        table,
        '--json',
        '--functions',
        functions,
        '--state-dir',
        stateDir,
      ]);
      expect(shown.code, shown.stderr).toBe(0);
      return JSON.parse(shown.stdout) as unknown;
    };
    expect(await read(devState), `${table} after dogear dev`).toEqual(oracle[table]);
    expect(await read(invokeState), `${table} after dogear invoke`).toEqual(oracle[table]);
  }
}, 120_000);
