import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { EventRecord } from '../event/index.ts';
import { partitionOfMessage } from '../output/index.ts';
import type { OutboxMessage } from '../state/index.ts';
import { readEventsFile } from './events-file.ts';
import { ndjsonFileRelay } from './outputs-file.ts';

const b64 = (bytes: string | Buffer) => Buffer.from(bytes).toString('base64');
/** Lambda's header bytes: Java's signed bytes. */
const javaBytes = (b: Buffer) => Array.from(b, (x) => (x > 127 ? x - 256 : x));

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dogear-outputs-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

function output(i: number, fields: Partial<OutboxMessage> = {}): OutboxMessage {
  return {
    to: 'alerts',
    key: b64(`sensor-${i}`),
    value: b64(JSON.stringify({ sensor: i, too: 'hot' })),
    headers: [],
    origin: `thermometer|readings|0|${i}|0`,
    ...fields,
  };
}

/** What `readEventsFile` must give back for `message`: its bytes, its headers, its origin. */
function expectRecord(record: EventRecord, message: OutboxMessage) {
  expect(record.topic).toBe(message.to);
  expect(record.key ?? null).toBe(message.key);
  expect(record.value ?? null).toBe(message.value);
  expect(record.headers).toEqual([
    ...message.headers
      .filter(([name]) => name !== 'dogear-origin')
      .map(([name, value]) => ({
        [name]: value === null ? [] : javaBytes(Buffer.from(value, 'base64')),
      })),
    { 'dogear-origin': javaBytes(Buffer.from(message.origin)) },
  ]);
}

describe('ndjsonFileRelay', () => {
  test('outputs read back with readEventsFile: the same bytes and headers, partitioned as Kafka would, offsets continuing', async () => {
    const path = join(dir, 'out.ndjson');
    const messages = [
      output(0),
      output(1, { value: b64(Buffer.from([0, 0xff, 0xfe, 0x80])) }), // not UTF-8
      output(2, { key: null }), // keyless: by origin
      output(3, { value: null }), // a tombstone
      output(4, { key: b64(''), value: b64('') }), // empty, not null
      output(5, {
        value: b64('{"a": 1}'), // JSON, but not compact: kept as text
        headers: [
          ['trace', b64('x')],
          ['trace', b64('y')],
          ['none', null],
          ['bin', b64(Buffer.from([0xc3, 0x28]))],
          ['dogear-origin', b64('upstream|t|0|0|0')], // replaced by this message's
        ],
      }),
      ...Array.from({ length: 20 }, (_, i) => output(10 + i)),
    ];
    const relay = ndjsonFileRelay(path, { partitions: { alerts: 3 } });
    await relay.send(messages.slice(0, 12));
    await relay.send(messages.slice(12));

    // Another run appends to the same file: offsets go on from the last line of each partition.
    const again = [output(100), output(101, { key: null }), output(102, { to: 'other' })];
    await ndjsonFileRelay(path, { partitions: { alerts: 3 } }).send(again);

    const file = await readEventsFile(path);
    if (file.kind !== 'ndjson') throw new Error('expected NDJSON');
    const all = [...messages, ...again];
    expect(file.records).toHaveLength(all.length);
    const nextOffset = new Map<string, number>();
    file.records.forEach((record, i) => {
      const message = all[i]!;
      expectRecord(record, message);
      const partitions = message.to === 'alerts' ? 3 : 1;
      expect(record.partition, message.origin).toBe(partitionOfMessage(message, partitions));
      const id = `${record.topic}-${record.partition}`;
      expect(record.offset, message.origin).toBe(nextOffset.get(id) ?? 0);
      nextOffset.set(id, record.offset + 1);
      expect(record.timestampType).toBe('CREATE_TIME');
      expect(Math.abs(record.timestamp - Date.now())).toBeLessThan(60_000);
    });
    // Every partition of the 3 was used, so offsets continuing was checked in each.
    expect([...nextOffset.keys()].sort()).toEqual(['alerts-0', 'alerts-1', 'alerts-2', 'other-0']);
    // Readable as text where it is text: the JSON value stays JSON.
    const first = JSON.parse((await readFile(path, 'utf8')).split('\n')[0]!);
    expect(first.value).toEqual({ sensor: 0, too: 'hot' });
    expect(first.key).toBe('sensor-0');
  });

  test('a dead letter to a topic is a record of that topic; one to an ARN goes to the dead-letters file', async () => {
    const path = join(dir, 'out.ndjson');
    const facts = {
      consumer: 'Thermometer',
      group: 'thermometer',
      topic: 'readings',
      partition: 1,
      offset: 7,
      timestamp: 1_700_000_000_000,
      attempts: 3,
      error: { name: 'RangeError', message: 'bad reading' },
      at: 1_700_000_000_500,
    };
    const headers: OutboxMessage['headers'] = [
      ['trace', b64('abc')],
      ['dogear-dead-letter', b64(JSON.stringify(facts))],
    ];
    const toTopic = output(7, { to: 'readings-dead', headers, deadLetter: facts });
    const queue = 'arn:aws:sqs:eu-west-1:123456789012:dead';
    const toQueue = output(8, { to: queue, headers, deadLetter: { ...facts, offset: 8 } });
    await ndjsonFileRelay(path).send([toTopic, toQueue]);

    const file = await readEventsFile(path);
    if (file.kind !== 'ndjson') throw new Error('expected NDJSON');
    expect(file.records).toHaveLength(1);
    expectRecord(file.records[0]!, toTopic);

    const lines = (await readFile(join(dir, 'out.dead-letters.ndjson'), 'utf8')).trim().split('\n');
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      {
        to: queue,
        ...facts,
        offset: 8,
        origin: toQueue.origin,
        key: toQueue.key,
        value: toQueue.value,
        headers: [['trace', b64('abc')]],
      },
    ]);
  });

  test('sends made at once (partitions relay concurrently) append in turn: offsets follow the file', async () => {
    const path = join(dir, 'out.ndjson');
    const relay = ndjsonFileRelay(path);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => relay.send([output(i), output(100 + i)])),
    );
    const file = await readEventsFile(path);
    const offsets = (file as { records: EventRecord[] }).records.map((r) => r.offset);
    expect(offsets).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  test('a file that is not records is not appended to', async () => {
    const path = join(dir, 'notes.ndjson');
    await import('node:fs/promises').then((fs) =>
      fs.writeFile(path, '{"topic":"a","partition":0,"offset":0}\nhello\n'),
    );
    await expect(ndjsonFileRelay(path).send([output(0)])).rejects.toThrow(
      `${path}:2 is not JSON, so the outputs cannot be appended after it; write the outputs to a new file, or fix that line`,
    );
  });
});
