/**
 * `recordTopic` against a real broker: what is produced, recorded and read back through
 * `eventRecordOf` must be the same bytes at the same coordinates, and replaying the recording
 * through a consumer must give the state an oracle computes from what was produced.
 */

import { mkdtempSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import {
  Admin,
  type CompressionAlgorithmValue,
  ConfigResourceTypes,
  Producer,
} from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { decodeRecord, eventRecordOf, type NdjsonRecord } from '../src/event/index.ts';
import { LocalInputError, produceRecords, recordTopic } from '../src/local/index.ts';
import { defineConsumer } from '../src/runtime/index.ts';
import { invoke } from '../src/testing/index.ts';

const brokers = inject('kafkaBrokers').split(',');
const dir = mkdtempSync(join(tmpdir(), 'dogear-record-'));
const PARTITIONS = 3;
const PER_PARTITION = 40;
const COMPRESSIONS: CompressionAlgorithmValue[] = ['none', 'gzip', 'zstd', 'lz4', 'snappy'];

/** One produced record, as the oracle knows it. */
interface Produced {
  partition: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: Array<[string, Buffer]>;
  timestamp: number;
}

let admin: Admin;
let producer: Producer;
/** Each partition's records in send order: index = offset. */
let produced: Produced[][];
let topic: string;
/** Before the first record's timestamp; timestamps then grow by 1 s per record. */
const base = Date.now() - 3_600_000;

beforeAll(async () => {
  admin = new Admin({ clientId: 'record-test', bootstrapBrokers: brokers });
  // Idempotent: right after a topic is created, the client may resend a whole produce request
  // when only some partitions failed, which would write the others twice.
  producer = new Producer({ clientId: 'record-test', bootstrapBrokers: brokers, idempotent: true });
  topic = await createTopic('record', PARTITIONS);
  produced = Array.from({ length: PARTITIONS }, () => []);
  const all = Array.from({ length: PARTITIONS * PER_PARTITION }, (_, i) => someRecord(i));
  // Several sends, each compressed its own way: the recorder must read every codec.
  for (let start = 0, chunk = 0; start < all.length; start += 24, chunk++) {
    const slice = all.slice(start, start + 24);
    await send(slice, COMPRESSIONS[chunk % COMPRESSIONS.length]!);
    for (const record of slice) produced[record.partition]!.push(record);
  }
});

afterAll(async () => {
  await producer?.close();
  await admin?.close();
});

async function createTopic(
  prefix: string,
  partitions: number,
  configs: Array<{ name: string; value: string }> = [],
) {
  const name = `${prefix}-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
  await admin.createTopics({ topics: [name], partitions, replicas: 1, configs });
  return name;
}

async function send(records: Produced[], compression: CompressionAlgorithmValue = 'none') {
  await producer.send({
    compression,
    messages: records.map((r) => ({
      topic,
      partition: r.partition,
      timestamp: BigInt(r.timestamp),
      ...(r.key ? { key: r.key } : {}),
      ...(r.value ? { value: r.value } : {}),
      // Distinct Buffer objects are distinct Map keys, so a name can repeat on the wire.
      headers: new Map(r.headers.map(([name, value]) => [Buffer.from(name), value])),
    })),
  });
}

/** Record `i`: every kind of key, value and headers the recorder must keep exactly. */
function someRecord(i: number): Produced {
  const keys = [null, Buffer.from(`user-${i % 7}`), Buffer.from([0xff, i % 5]), Buffer.alloc(0)];
  const values = [
    Buffer.from([0x80, 0xff, i % 256, 0xc3]), // not UTF-8
    Buffer.from(JSON.stringify({ order: i, items: ['a', 'b'] })), // compact JSON
    Buffer.from(`{ "order": ${i} }`), // JSON, but not as JSON.stringify writes it
    null, // tombstone
    Buffer.from(`\ufeffbom ${i}`), // a byte-order mark to keep
    Buffer.alloc(0),
  ];
  const headers: Array<Array<[string, Buffer]>> = [
    [],
    [
      ['source', Buffer.from('web')],
      ['trace', Buffer.from(`t-${i}`)],
    ],
    [
      ['hop', Buffer.from('a')],
      ['hop', Buffer.from('b')],
    ],
    [['bin', Buffer.from([0x80, 0xff, 0x00])]],
  ];
  return {
    partition: i % PARTITIONS,
    key: keys[i % keys.length]!,
    value: values[i % values.length]!,
    headers: headers[i % headers.length]!,
    timestamp: base + i * 1000,
  };
}

async function readLines(file: string): Promise<NdjsonRecord[]> {
  const text = await readFile(file, 'utf8');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as NdjsonRecord);
}

/** A line read back the way `dogear invoke` reads it, as bytes. */
function decoded(line: NdjsonRecord) {
  return decodeRecord<Uint8Array, Uint8Array>(eventRecordOf(line, 'recording'), {
    key: 'bytes',
    value: 'bytes',
  });
}

function expectFaithful(lines: NdjsonRecord[]) {
  for (const line of lines) {
    const record = decoded(line);
    const original = produced[record.partition]![record.offset]!;
    expect(record.topic).toBe(topic);
    expect(record.key && Buffer.from(record.key)).toEqual(original.key);
    expect(record.value && Buffer.from(record.value)).toEqual(original.value);
    expect(record.rawHeaders.map((h) => [h.name, Buffer.from(h.value)])).toEqual(original.headers);
    expect(record.timestamp).toBe(original.timestamp);
    expect(record.timestampType).toBe('CREATE_TIME');
  }
}

function coordinates(lines: NdjsonRecord[]) {
  return lines.map((line) => [line.partition, line.offset]);
}

function expectedCoordinates(from: (partition: number) => number, to = PER_PARTITION) {
  return Array.from({ length: PARTITIONS }, (_, p) =>
    Array.from({ length: Math.max(0, to - from(p)) }, (_, i) => [p, from(p) + i]),
  ).flat();
}

const keyName = (key: Uint8Array | null) =>
  key === null ? '(no key)' : `k:${Buffer.from(key).toString('hex')}`;

/** Value bytes and records per key: what a replay of the whole topic must leave behind. */
const ByteCounter = (name: string) =>
  defineConsumer({ name, topic, value: 'bytes', key: 'bytes', batchSize: 17 }, (record, ctx) => {
    ctx.table('bytes').add(keyName(record.key), record.value?.length ?? 0);
    ctx.table('records').add(keyName(record.key), 1);
  });

describe('recording a topic', () => {
  let file: string;
  let lines: NdjsonRecord[];
  const progress: string[] = [];

  beforeAll(async () => {
    const result = await recordTopic({
      brokers,
      topic,
      out: join(dir, 'all', 'topic.ndjson'),
      progress: (line) => progress.push(line),
      progressEvery: 50,
    });
    expect(result).toMatchObject({
      topic,
      records: PARTITIONS * PER_PARTITION,
      partitions: PARTITIONS,
      stoppedBy: 'end',
    });
    expect(result.byPartition).toEqual(
      Array.from({ length: PARTITIONS }, (_, partition) => ({
        partition,
        startOffset: 0,
        nextOffset: PER_PARTITION,
        records: PER_PARTITION,
      })),
    );
    file = result.file!;
    lines = await readLines(file);
  });

  test('holds every record of every partition, sorted by partition then offset', () => {
    expect(coordinates(lines)).toEqual(expectedCoordinates(() => 0));
  });

  test('keeps the bytes, headers and timestamps exactly', () => {
    expectFaithful(lines);
  });

  test('writes text as text, JSON as JSON, and bytes, repeats and tombstones as such', () => {
    const some = (test: (line: NdjsonRecord) => boolean) => lines.filter(test).length;
    expect(some((l) => typeof l.valueBase64 === 'string')).toBeGreaterThan(0);
    expect(some((l) => typeof l.keyBase64 === 'string')).toBeGreaterThan(0);
    expect(some((l) => typeof l.value === 'object' && l.value !== null)).toBeGreaterThan(0);
    expect(some((l) => l.value === null && l.valueBase64 === undefined)).toBeGreaterThan(0);
    expect(some((l) => l.key === null)).toBeGreaterThan(0);
    expect(some((l) => l.headers !== undefined)).toBeGreaterThan(0);
    expect(some((l) => l.headersBase64?.some(([n]) => n === 'hop') === true)).toBeGreaterThan(0);
  });

  test('reports progress every 50 records and at the end', () => {
    expect(progress[0]).toMatch(/reading 3 partitions from earliest, up to 120 offsets/);
    expect(progress.filter((l) => / \d+ records \(/.test(l))).toHaveLength(2);
    expect(progress.at(-1)).toMatch(/recorded 120 records from 3 partitions to .*topic\.ndjson/);
  });

  test('joins no consumer group and commits nothing', async () => {
    const groups = [...(await admin.listGroups()).keys()];
    expect(groups.filter((g) => g.startsWith('dogear-record'))).toEqual([]);
  });

  test('replays through a consumer to the state the produced records make', async () => {
    const run = await invoke(ByteCounter('byte-counter'), lines);
    expect(run.error).toBeUndefined();
    const bytes: Record<string, number> = {};
    const records: Record<string, number> = {};
    for (const record of produced.flat()) {
      const key = keyName(record.key);
      bytes[key] = (bytes[key] ?? 0) + (record.value?.length ?? 0);
      records[key] = (records[key] ?? 0) + 1;
    }
    expect(await run.table('bytes')).toEqual(bytes);
    expect(await run.table('records')).toEqual(records);
    // Replaying the same recording again changes nothing: every record is a duplicate.
    const again = await invoke(ByteCounter('byte-counter'), lines, { store: run.store });
    expect(again.reports.reduce((n, r) => n + r.duplicates, 0)).toBe(lines.length);
    expect(await again.table('bytes')).toEqual(bytes);
  });

  test('writes the same lines to a stream, and leaves the stream open', async () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (chunk: Buffer) => chunks.push(chunk));
    const result = await recordTopic({ brokers, topic, out });
    expect(result.file).toBeUndefined();
    expect(out.writableEnded).toBe(false);
    expect(Buffer.concat(chunks).toString('utf8')).toBe(await readFile(file, 'utf8'));
  });
});

describe('where recording starts and stops', () => {
  test('from an offset: that offset in every partition', async () => {
    const result = await recordTopic({ brokers, topic, from: 30, out: join(dir, 'from-30') });
    const lines = await readLines(result.file!);
    expect(coordinates(lines)).toEqual(expectedCoordinates(() => 30));
    expectFaithful(lines);
  });

  test('from an offset past the end: nothing, at once', async () => {
    const result = await recordTopic({ brokers, topic, from: 1000, out: join(dir, 'past-end') });
    expect(result).toMatchObject({ records: 0, stoppedBy: 'end' });
    expect(result.durationMs).toBeLessThan(5000);
  });

  test('from a time: the first record at or after it in each partition', async () => {
    const at = new Date(base + 60 * 1000); // record 60: partition 0, offset 20
    const result = await recordTopic({ brokers, topic, from: at, out: join(dir, 'from-time') });
    const lines = await readLines(result.file!);
    const expected = produced.flatMap((records, p) =>
      records.flatMap((r, offset) => (r.timestamp >= at.getTime() ? [[p, offset]] : [])),
    );
    expect(coordinates(lines)).toEqual(expected);
    expect(coordinates(lines)).toEqual(expectedCoordinates(() => 20));
    expectFaithful(lines);
  });

  test('from a time after every record: nothing', async () => {
    const result = await recordTopic({ brokers, topic, from: new Date(), out: join(dir, 'none') });
    expect(result.records).toBe(0);
  });

  test('max: that many records, spread over the partitions, each a run from its start', async () => {
    const result = await recordTopic({ brokers, topic, max: 10, out: join(dir, 'max') });
    expect(result).toMatchObject({ records: 10, stoppedBy: 'max' });
    const lines = await readLines(result.file!);
    for (let p = 0; p < PARTITIONS; p++) {
      const offsets = lines.filter((l) => l.partition === p).map((l) => l.offset);
      expect(offsets.length).toBeGreaterThan(0);
      expect(offsets).toEqual(offsets.map((_, i) => i));
    }
    expectFaithful(lines);
  });

  test('latest: only records produced after recording starts, until max', async () => {
    let started!: () => void;
    const ready = new Promise<void>((resolve) => {
      started = resolve;
    });
    const recording = recordTopic({
      brokers,
      topic,
      from: 'latest',
      max: 4,
      idleMs: 20_000,
      out: join(dir, 'latest'),
      progress: (line) => line.includes('reading') && started(),
    });
    await ready;
    const fresh = [0, 1, 2, 3].map((i) => ({
      ...someRecord(i),
      value: Buffer.from(`new ${i}`),
      timestamp: Date.now(),
    }));
    await send(fresh);
    for (const record of fresh) produced[record.partition]!.push(record);
    const result = await recording;
    expect(result).toMatchObject({ records: 4, stoppedBy: 'max' });
    const lines = await readLines(result.file!);
    expect(lines.map((l) => l.value).sort()).toEqual(['new 0', 'new 1', 'new 2', 'new 3']);
    expect(lines.every((l) => l.offset >= PER_PARTITION)).toBe(true);
    expectFaithful(lines);
  });

  test('latest on a quiet topic: stops after idleMs, or at once on a signal', async () => {
    const idle = await recordTopic({
      brokers,
      topic,
      from: 'latest',
      idleMs: 300,
      out: join(dir, 'quiet'),
    });
    expect(idle).toMatchObject({ records: 0, stoppedBy: 'idle' });
    const signal = AbortSignal.timeout(200);
    const stopped = await recordTopic({
      brokers,
      topic,
      from: 'latest',
      signal,
      out: join(dir, 'signal'),
    });
    expect(stopped).toMatchObject({ records: 0, stoppedBy: 'signal' });
    expect(stopped.durationMs).toBeLessThan(3000);
  });

  test('an unknown topic is a clear error', async () => {
    const missing = recordTopic({
      brokers,
      topic: `missing-${Date.now()}`,
      out: join(dir, 'missing'),
    });
    await expect(missing).rejects.toThrow(LocalInputError);
    await expect(missing).rejects.toThrow(/does not exist/);
  });
});

test('the test broker keeps records older than 7 days: recordings replay with their timestamps', async () => {
  // A topic's default retention would delete them at the broker's first retention check.
  const [topicConfig] = await admin.describeConfigs({
    resources: [
      {
        resourceType: ConfigResourceTypes.TOPIC,
        resourceName: topic,
        configurationKeys: ['retention.ms'],
      },
    ],
  });
  expect(topicConfig!.configs.find((c) => c.name === 'retention.ms')?.value).toBe('-1');
});

test('LogAppendTime and transactions: the broker’s time, no aborted records', async () => {
  const name = await createTopic('record-tx', 1, [
    { name: 'message.timestamp.type', value: 'LogAppendTime' },
  ]);
  const transactional = new Producer({
    clientId: 'record-test-tx',
    bootstrapBrokers: brokers,
    transactionalId: `record-test-${Date.now()}`,
    idempotent: true,
  });
  const before = Date.now();
  try {
    await transactional.send({
      messages: [{ topic: name, partition: 0, value: Buffer.from('plain'), timestamp: 5000n }],
    });
    const aborted = await transactional.beginTransaction();
    await aborted.send({
      messages: ['x', 'y'].map((v) => ({ topic: name, partition: 0, value: Buffer.from(v) })),
    });
    await aborted.abort();
    const committed = await transactional.beginTransaction();
    await committed.send({ messages: [{ topic: name, partition: 0, value: Buffer.from('kept') }] });
    await committed.commit();
  } finally {
    await transactional.close();
  }
  // commit() returns before the coordinator has written the commit marker to the partition, and
  // a record stops at the last stable offset it finds when it starts: under load the marker can
  // come later, so record again (into a new file) until the committed record is readable.
  let lines: Awaited<ReturnType<typeof readLines>> = [];
  let result!: Awaited<ReturnType<typeof recordTopic>>;
  for (let attempt = 0; attempt < 20; attempt++) {
    result = await recordTopic({ brokers, topic: name, out: join(dir, `tx-${attempt}`) });
    lines = await readLines(result.file!);
    if (lines.length >= 2) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  expect(lines.map((l) => l.value)).toEqual(['plain', 'kept']);
  expect(lines.every((l) => l.timestampType === 'LOG_APPEND_TIME')).toBe(true);
  expect(lines[0]!.timestamp).toBeGreaterThanOrEqual(before); // not the 5000 the producer set
  // The aborted records and both transaction markers take offsets; the recording skips them.
  expect(result.byPartition[0]).toMatchObject({ records: 2, nextOffset: lines[1]!.offset + 2 });
});

test('dogear produce keeps an empty key and value apart from none: a recording replays as it was', async () => {
  const name = await createTopic('produce-empty', 1);
  const lines: NdjsonRecord[] = [
    { topic: name, partition: 0, offset: 0, key: '', value: '' },
    { topic: name, partition: 0, offset: 1, key: null, value: null },
  ];
  await produceRecords({ brokers, records: lines.map((l, i) => eventRecordOf(l, `line ${i}`)) });
  const result = await recordTopic({ brokers, topic: name, out: join(dir, 'produce-empty') });
  const recorded = await readLines(result.file!);
  expect(recorded.map(({ key, value }) => ({ key, value }))).toEqual([
    { key: '', value: '' },
    { key: null, value: null },
  ]);
});
