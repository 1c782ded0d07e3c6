/**
 * The local trigger end to end: the example topics produced to a real broker, `dogear dev` run
 * as a process, SIGKILLed midway and restarted; the final tables must equal an oracle. And the
 * recording path agrees with it: `dogear record` of a binary topic, replayed by `dogear invoke`,
 * leaves the tables `dogear dev` left.
 */
import { mkdtempSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Admin,
  ConfigResourceTypes,
  IncrementalAlterConfigOperationTypes,
  Producer,
} from '@platformatic/kafka';
import { afterEach, expect, inject, test } from 'vitest';
import { describeConsumerGroup, startKafka } from '../infra/kafka.ts';
import { type EventRecord, eventRecordOf, type NdjsonRecord } from '../src/event/index.ts';
import { dev, produceRecords, recordTopic } from '../src/local/index.ts';
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

/** Kafka's own view of the group (ConsumerGroupCommand), not dogear's client's. */
async function committed(brokers: string, group: string) {
  return (await describeConsumerGroup(brokers, group)).map(({ partition, committed, lag }) => ({
    partition,
    committed,
    lag,
  }));
}

const hexOf = (bytes: Buffer | null) => (bytes === null ? null : bytes.toString('hex'));

test('dogear dev hands over what the log holds: null headers, empty keys and values, the broker’s time', async () => {
  const brokers = inject('kafkaBrokers');
  const topic = 'edge-records';
  const admin = new Admin({ clientId: 'dev-test', bootstrapBrokers: [brokers] });
  const producer = new Producer({
    clientId: 'dev-test',
    bootstrapBrokers: [brokers],
    idempotent: true,
  });
  const base = Date.now() - 60_000;
  const header = (name: string, value: Buffer | null) =>
    [Buffer.from(name), value] as [Buffer, Buffer];
  const sent: Array<{
    key: Buffer | null;
    value: Buffer | null;
    headers: Array<[string, Buffer | null]>;
    timestamp: bigint;
  }> = [
    {
      key: Buffer.from('k'),
      value: Buffer.from('first'),
      headers: [['trace', Buffer.from('t1')]],
      timestamp: BigInt(base),
    },
    { key: Buffer.alloc(0), value: Buffer.alloc(0), headers: [], timestamp: BigInt(base + 1) },
    { key: null, value: null, headers: [], timestamp: BigInt(base + 2) },
    // A header with no value (length -1 on the wire) behind good records in the same batch.
    {
      key: Buffer.from('k'),
      value: Buffer.from('null header'),
      headers: [
        ['gone', null],
        ['after', Buffer.from('y')],
      ],
      timestamp: BigInt(base + 3),
    },
    {
      key: Buffer.from('k'),
      value: Buffer.from('after it'),
      headers: [],
      timestamp: BigInt(base + 4),
    },
  ];
  const before = Date.now();
  try {
    await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
    const send = (records: typeof sent) =>
      producer.send({
        messages: records.map((r) => ({
          topic,
          partition: 0,
          timestamp: r.timestamp,
          ...(r.key === null ? {} : { key: r.key }),
          value: r.value as Buffer,
          headers: new Map(r.headers.map(([name, value]) => header(name, value))),
        })),
      });
    await send(sent);
    // No timestamp at all: -1 on the wire (its own send, so that it is its batch's first).
    const untimed = { key: null, value: Buffer.from('no time'), headers: [], timestamp: -1n };
    await send([untimed]);
    // The same topic switched to LogAppendTime: the broker stamps the batches from now on.
    await admin.incrementalAlterConfigs({
      resources: [
        {
          resourceType: ConfigResourceTypes.TOPIC,
          resourceName: topic,
          configs: [
            {
              name: 'message.timestamp.type',
              configOperation: IncrementalAlterConfigOperationTypes.SET,
              value: 'LogAppendTime',
            },
          ],
        },
      ],
    });
    const appended = { key: null, value: Buffer.from('appended'), headers: [], timestamp: 5000n };
    await send([appended]);
    sent.push(untimed, appended);
  } finally {
    await producer.close();
    await admin.close();
  }

  const stateDir = mkdtempSync(join(tmpdir(), 'dogear-edge-'));
  const edge = startDev(stateDir, ['--functions', 'test/fixtures/dev-edge/functions']);
  await until(
    () => caughtUp(stateDir, 'edge-records', new Map([[0, sent.length - 1]])),
    'dev past the null header',
    60_000,
  ).catch((error: Error) => {
    throw new Error(`${error.message}; dev said:\n${edge.lines.join('\n')}`);
  });
  edge.child.kill('SIGTERM');
  await edge.exit();

  const seen = Object.fromEntries(
    await new FileStateStore(stateDir).scanTable('edge-records', 'seen'),
  ) as Record<
    string,
    {
      key: string | null;
      value: string | null;
      timestamp: number;
      timestampType: string;
      headers: Array<[string, string]>;
    }
  >;
  const at = (offset: number) => seen[`0@${offset}`]!;
  // Empty is not null: an empty value is no tombstone, an empty key is a key.
  expect(at(1)).toMatchObject({ key: '', value: '' });
  expect(at(2)).toMatchObject({ key: null, value: null });
  // Lambda has no null header value to show: its bytes are empty.
  expect(at(3).headers).toEqual([
    ['gone', ''],
    ['after', '79'],
  ]);
  expect(at(4).value).toBe(hexOf(Buffer.from('after it')));
  // Sent without a time: -1, and CREATE_TIME as Java's client (and so Lambda) reports it.
  expect(at(5)).toMatchObject({ timestamp: -1, timestampType: 'CREATE_TIME' });
  expect(at(6).timestampType).toBe('LOG_APPEND_TIME');
  expect(at(6).timestamp).toBeGreaterThanOrEqual(before); // the broker's, not the 5000 sent
  for (let offset = 0; offset < 5; offset++) {
    expect(at(offset)).toMatchObject({
      key: hexOf(sent[offset]!.key),
      value: hexOf(sent[offset]!.value),
      timestamp: Number(sent[offset]!.timestamp),
      timestampType: 'CREATE_TIME',
    });
  }

  // `dogear record` sees the same log: the same time, type, key, value and headers.
  const recording = join(stateDir, 'edge.ndjson');
  const recorded = await dogear(['record', '--topic', topic, '--out', recording]);
  expect(recorded.code, recorded.stderr).toBe(0);
  const lines = (await readFile(recording, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as NdjsonRecord);
  const hexField = (line: NdjsonRecord, field: 'key' | 'value') => {
    const b64 = line[`${field}Base64`];
    if (typeof b64 === 'string') return Buffer.from(b64, 'base64').toString('hex');
    const text = line[field];
    return text === null || text === undefined ? null : Buffer.from(String(text)).toString('hex');
  };
  expect(lines).toHaveLength(sent.length);
  expect(lines[3]!.headersBase64).toEqual([
    ['gone', null],
    ['after', 'eQ=='],
  ]);
  for (const line of lines) {
    expect(at(line.offset), `offset ${line.offset}`).toMatchObject({
      key: hexField(line, 'key'),
      value: hexField(line, 'value'),
      timestamp: line.timestamp,
      timestampType: line.timestampType,
    });
  }
  // Kafka's own tools agree that the group committed past every record.
  expect(await committed(brokers, 'edge-records')).toEqual([
    { partition: 0, committed: sent.length, lag: 0 },
  ]);
}, 150_000);

test('dogear dev bounds retries as Lambda does: 10 with an on-failure destination, and skips records past their maximum age', async () => {
  const brokers = inject('kafkaBrokers');
  const topic = 'poison-pages';
  const now = Date.now();
  const old = now - 2 * 3_600_000;
  const record = (offset: number, value: string, timestamp: number) =>
    eventRecordOf({ topic, partition: 0, offset, value, timestamp }, `record ${offset}`);
  await produceRecords({
    brokers: [brokers],
    records: [
      record(0, 'old', old),
      record(1, 'old', old + 1),
      record(2, 'a', now),
      record(3, 'poison', now),
      record(4, 'b', now),
    ],
  });
  const stateDir = mkdtempSync(join(tmpdir(), 'dogear-poison-'));
  const lines: string[] = [];
  const stop = new AbortController();
  const running = dev({
    brokers: [brokers],
    functions: 'test/fixtures/dev-retry/functions',
    stateDir,
    watch: false,
    maxRetryDelayMs: 20,
    progress: (line) => lines.push(line),
    signal: stop.signal,
  });
  try {
    await until(
      () => lines.some((l) => l.includes('retries exhausted')),
      'the retries to run out',
      60_000,
    );
    await produceRecords({ brokers: [brokers], records: [record(5, 'c', Date.now())] });
    await until(
      () => caughtUp(stateDir, 'poison-pages', new Map([[0, 5]])),
      'the record after them',
      60_000,
    );
  } finally {
    stop.abort();
    await running;
  }
  const text = lines.join('\n');
  expect(lines).toContain(
    "poison-pages: poison-pages as group poison-pages; batches of up to 10 within 0 s; from earliest; retried 10 times (Lambda's limit with an on-failure destination); records older than 60 s skipped",
  );
  // The old records are never sent; the batch with the poison one is tried 1 + 10 times.
  expect(text).toContain(
    'poison-pages: poison-pages-0@0..1: 2 records older than maximumRecordAgeInSeconds (60 s); skipping them (Lambda would send them to arn:aws:sqs:us-east-1:123456789012:poison-pages-failed)',
  );
  expect(lines.filter((l) => /poison-pages-0@2\.\.4: 3 records.*failed: /.test(l))).toHaveLength(
    11,
  );
  expect(text).toContain(
    'poison-pages: poison-pages-0@2..4: 10 retries exhausted; skipping 3 records (Lambda would send them to arn:aws:sqs:us-east-1:123456789012:poison-pages-failed)',
  );
  // The old records never reached the handler, nor did b, behind the poison; a, ahead of it,
  // was checkpointed by its slice (its retries skip it as a duplicate); c, after the skip, ran.
  const counts = await new FileStateStore(stateDir).scanTable('poison-pages', 'counts');
  expect(Object.fromEntries(counts)).toEqual({ a: 1, c: 1 });
  expect(await committed(brokers, 'poison-pages')).toEqual([
    { partition: 0, committed: 6, lag: 0 },
  ]);
}, 150_000);

test.skipIf(process.env.KAFKA_BROKERS)(
  'dogear dev survives its broker going away: it says so, reconnects when it is back, and one Ctrl-C stops it while it is gone',
  async () => {
    // A broker of its own: this one is stopped and restarted on the same port, with its data.
    const kafka = await startKafka();
    try {
      const records = (from: number, count: number) =>
        Array.from({ length: count }, (_, i) =>
          eventRecordOf(
            { topic: 'edge-records', partition: 0, offset: from + i, value: `v${from + i}` },
            `record ${from + i}`,
          ),
        );
      await produceRecords({ brokers: [kafka.brokers], records: records(0, 10) });
      const stateDir = mkdtempSync(join(tmpdir(), 'dogear-outage-'));
      const running = spawnDogear(
        [
          'dev',
          '--no-watch',
          '--functions',
          'test/fixtures/dev-edge/functions',
          '--state-dir',
          stateDir,
        ],
        { KAFKA_BROKERS: kafka.brokers },
      );
      const said = (pattern: RegExp) => running.lines.filter((l) => pattern.test(l)).length;
      const failing = (error: Error) => {
        throw new Error(`${error.message}; dev said:\n${running.lines.join('\n')}`);
      };
      await until(
        () => caughtUp(stateDir, 'edge-records', new Map([[0, 9]])),
        'the first records',
      ).catch(failing);

      await kafka.halt!();
      await until(() => said(/lost the connection to Kafka/) === 1, 'dev to notice').catch(failing);
      await kafka.restart!();
      await produceRecords({ brokers: [kafka.brokers], records: records(10, 5) });
      await until(
        () => caughtUp(stateDir, 'edge-records', new Map([[0, 14]])),
        'the records produced after the restart',
        120_000,
      ).catch(failing);
      expect(said(/edge-records: reconnected; resuming from the committed offsets/)).toBe(1);
      await until(
        async () => (await committed(kafka.brokers, 'edge-records'))[0]?.lag === 0,
        'the offsets to be committed',
      );

      // Gone again, and dev trying to reconnect: one SIGINT ends it, at once.
      await kafka.halt!();
      await until(() => said(/lost the connection to Kafka/) === 2, 'dev to notice again').catch(
        failing,
      );
      const signalled = Date.now();
      running.child.kill('SIGINT');
      const exit = await running.exit();
      expect(exit.code, exit.stderr).toBe(0);
      expect(Date.now() - signalled).toBeLessThan(10_000);
    } finally {
      await kafka.stop();
    }
  },
  240_000,
);

/** `dogear dev` in this process on the consumers of test/fixtures/dev-responses. */
function devResponses(consumer: string, maxRetryDelayMs: number) {
  const lines: string[] = [];
  const logs: string[] = [];
  const stop = new AbortController();
  const stateDir = mkdtempSync(join(tmpdir(), `dogear-${consumer}-`));
  const running = dev({
    brokers: [inject('kafkaBrokers')],
    functions: 'test/fixtures/dev-responses/functions',
    consumers: [consumer],
    stateDir,
    watch: false,
    maxRetryDelayMs,
    progress: (line) => lines.push(line),
    log: (line) => logs.push(line),
    signal: stop.signal,
  });
  const failing = (error: Error) => {
    throw new Error(`${error.message}; dev said:\n${lines.join('\n')}`);
  };
  return { lines, logs, stateDir, running, stop, failing };
}

const pages = (topic: string, values: string[]) =>
  values.map((value, offset) =>
    eventRecordOf({ topic, partition: 0, offset, value }, `record ${offset}`),
  );

test('dogear dev reads a partial batch response as invoke and Lambda do: the lowest offset of a partition named twice', async () => {
  // Offset 2 fails once; the response names twice-pages-0@2 and twice-pages-0@4.
  await produceRecords({
    brokers: [inject('kafkaBrokers')],
    records: pages('twice-pages', ['a', 'b', 'fail-once', 'c', 'd', 'e']),
  });
  const run = devResponses('twice-pages', 20);
  try {
    await until(() => caughtUp(run.stateDir, 'twice-pages', new Map([[0, 5]])), 'the end').catch(
      run.failing,
    );
  } finally {
    run.stop.abort();
    await run.running;
  }
  // Resumed from 2, so 2 and 3 ran; resuming from 4 would have committed them unrun.
  const seen = await new FileStateStore(run.stateDir).scanTable('twice-pages', 'seen');
  expect(Object.fromEntries(seen)).toEqual({ 0: 1, 1: 1, 2: 1, 3: 1, 4: 1, 5: 1 });
  expect(run.lines.join('\n')).toMatch(/twice-pages-0@2\.\.5: 4 records, 4 processed/);
}, 120_000);

test('dogear dev takes a partial batch response naming a record not in the batch for a failed batch, as Lambda does', async () => {
  // Offset 1 always fails; the response names stranger-pages-0@99 instead.
  await produceRecords({
    brokers: [inject('kafkaBrokers')],
    records: pages('stranger-pages', ['a', 'fail', 'b']),
  });
  const run = devResponses('stranger-pages', 20);
  try {
    await until(() => run.lines.some((l) => l.includes('retries exhausted')), 'the skip').catch(
      run.failing,
    );
  } finally {
    run.stop.abort();
    await run.running;
  }
  const text = run.lines.join('\n');
  // Tried once and retried maximumRetryAttempts (2) times, the whole batch each time.
  expect(run.lines.filter((l) => /stranger-pages-0@0\.\.2: 3 records/.test(l))).toHaveLength(3);
  expect(text).toMatch(/stranger-pages-0@99, which the batch does not hold/);
  expect(text).toContain(
    'stranger-pages: stranger-pages-0@0..2: 2 retries exhausted; skipping 3 records',
  );
  // Record 2 never ran: not committed as done after the first answer.
  const seen = await new FileStateStore(run.stateDir).scanTable('stranger-pages', 'seen');
  expect(Object.fromEntries(seen)).toEqual({ 0: 1 });
}, 120_000);

test('one Ctrl-C stops dogear dev at once while a failing batch runs, not after the next backoff', async () => {
  await produceRecords({
    brokers: [inject('kafkaBrokers')],
    records: pages('slow-fail-pages', ['a']),
  });
  // Backoffs of 0.5, 1, 2 and 4 s, then the fifth delivery is slow; the next backoff is 8 s.
  const run = devResponses('slow-fail-pages', 60_000);
  let stoppedIn: number;
  try {
    await until(() => run.logs.some((l) => l.includes('slow delivery started')), 'the fifth').catch(
      run.failing,
    );
  } finally {
    const stopped = Date.now();
    run.stop.abort();
    await run.running;
    stoppedIn = Date.now() - stopped;
  }
  // The handler's two seconds, and closing the client; the 8 s backoff would come on top.
  expect(stoppedIn).toBeLessThan(6000);
}, 120_000);

test('dogear produce keeps a timestamp of 0, the epoch, and stamps a record without one', async () => {
  const brokers = inject('kafkaBrokers');
  const topic = 'epoch-pages';
  const before = Date.now();
  await produceRecords({
    brokers: [brokers],
    records: [
      eventRecordOf({ topic, partition: 0, offset: 0, value: 'epoch', timestamp: 0 }, 'r 0'),
      eventRecordOf({ topic, partition: 0, offset: 1, value: 'none' }, 'r 1'),
    ],
  });
  const out = join(mkdtempSync(join(tmpdir(), 'dogear-epoch-')), 'epoch.ndjson');
  await recordTopic({ brokers: [brokers], topic, out, idleMs: 2000 });
  const [epoch, none] = (await readFile(out, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as NdjsonRecord);
  expect(epoch).toMatchObject({ value: 'epoch', timestamp: 0, timestampType: 'CREATE_TIME' });
  expect(none!.timestamp).toBeGreaterThanOrEqual(before);
}, 60_000);

test('dogear dev sends dead letters for an SQS queue to the local topic <consumer>.dead-letters, which it creates', async () => {
  const records = ['good', 'bad', 'good'].map((value, offset) => ({
    topic: 'dev-letters',
    partition: 0,
    offset,
    value,
  }));
  await produceRecords({
    brokers: [inject('kafkaBrokers')],
    records: records.map((r, i) => eventRecordOf(r, `record ${i}`)),
  });
  const stateDir = mkdtempSync(join(tmpdir(), 'dogear-letters-'));
  const run = startDev(stateDir, ['--functions', 'test/fixtures/dev-dead-letters/functions']);
  await until(
    () => caughtUp(stateDir, 'letters', lastOffsets(records)),
    'letters to reach the end',
  );
  run.child.kill('SIGTERM');
  await new Promise((resolve) => run.child.once('exit', resolve));
  expect(
    Object.fromEntries(await new FileStateStore(stateDir).scanTable('letters', 'counts')),
  ).toEqual({
    good: 2,
  });
  const out = join(stateDir, 'letters.ndjson');
  await recordTopic({
    brokers: [inject('kafkaBrokers')],
    topic: 'letters.dead-letters',
    out,
    idleMs: 2000,
  });
  const [letter, ...more] = (await readFile(out, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as NdjsonRecord);
  expect(more).toEqual([]);
  expect(letter!.value).toBe('bad');
  const facts = JSON.parse(letter!.headers!['dogear-dead-letter']!);
  expect(facts).toMatchObject({
    consumer: 'letters',
    topic: 'dev-letters',
    partition: 0,
    offset: 1,
    attempts: 1,
  });
  expect(run.lines.join('\n')).toMatch(/letters: dev-letters-0@\d+\.\.\d+: .*1 dead-lettered/);
}, 120_000);
