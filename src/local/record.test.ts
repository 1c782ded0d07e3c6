import { describe, expect, test } from 'vitest';
import { decodeRecord, EventFormatError, eventRecordOf } from '../event/index.ts';
import { eventRecordOfMessage } from './dev.ts';
import { LocalInputError } from './errors.ts';
import { ndjsonRecordOf, recordTopic, timestampOf, type WireRecord } from './record.ts';

const bytes = (...values: number[]) => Uint8Array.from(values);
const text = (s: string) => new TextEncoder().encode(s);

function wire(overrides: Partial<WireRecord>): WireRecord {
  return {
    topic: 't',
    partition: 2,
    offset: 7,
    timestamp: 1_700_000_000_000,
    timestampType: 'CREATE_TIME',
    key: text('k'),
    value: text('v'),
    headers: [],
    ...overrides,
  };
}

/** Through a file line and back, the way `dogear invoke` reads a recording. */
function roundTrip(record: WireRecord) {
  const line = JSON.parse(JSON.stringify(ndjsonRecordOf(record)));
  return decodeRecord<Uint8Array, Uint8Array>(eventRecordOf(line, 'line 1'), {
    key: 'bytes',
    value: 'bytes',
  });
}

function expectSameBytes(record: WireRecord): void {
  const back = roundTrip(record);
  expect(back.key === null ? null : Buffer.from(back.key)).toEqual(
    record.key === null ? null : Buffer.from(record.key),
  );
  expect(back.value === null ? null : Buffer.from(back.value)).toEqual(
    record.value === null ? null : Buffer.from(record.value),
  );
  expect(back.rawHeaders.map((h) => [h.name, Buffer.from(h.value)])).toEqual(
    record.headers.map(([name, value]) => [
      Buffer.from(name ?? []).toString('utf8'),
      Buffer.from(value ?? []),
    ]),
  );
  expect([back.topic, back.partition, back.offset, back.timestamp, back.timestampType]).toEqual([
    record.topic,
    record.partition,
    record.offset,
    record.timestamp,
    record.timestampType,
  ]);
}

// A v2 batch (every batch a client of Kafka 0.11 on writes) says CREATE_TIME or LOG_APPEND_TIME,
// also for a record without a timestamp: NO_TIMESTAMP_TYPE belongs to magic v0 messages, and
// Java's client (so Lambda) reports CREATE_TIME with -1.
describe('timestampOf', () => {
  const batch = (attributes: number, firstTimestamp: bigint) => ({
    attributes,
    firstTimestamp,
    maxTimestamp: firstTimestamp,
  });
  test.each([
    [-1n, -1],
    [-62_135_596_800_000n, -62_135_596_800_000],
    [1_700_000_000_000n, 1_700_000_000_000],
  ])('a producer time of %d is CREATE_TIME', (first, timestamp) => {
    expect(timestampOf(batch(0, first), { timestampDelta: 0n })).toEqual({
      timestamp,
      timestampType: 'CREATE_TIME',
    });
  });

  test('a batch the broker stamped is LOG_APPEND_TIME', () => {
    expect(timestampOf(batch(1 << 3, 5n), { timestampDelta: 3n })).toEqual({
      timestamp: 5,
      timestampType: 'LOG_APPEND_TIME',
    });
  });

  test('a message dev fetched without its batch attributes is CREATE_TIME, -1 too', () => {
    const message = { topic: 't', partition: 0, offset: 3n, timestamp: -1n, headerEntries: [] };
    expect(eventRecordOfMessage(message as never)).toMatchObject({
      timestamp: -1,
      timestampType: 'CREATE_TIME',
    });
  });
});

describe('ndjsonRecordOf', () => {
  test('text stays text, other bytes become base64, null stays null', () => {
    expect(ndjsonRecordOf(wire({ key: null, value: bytes(0xff, 0x00) }))).toEqual({
      topic: 't',
      partition: 2,
      offset: 7,
      timestamp: 1_700_000_000_000,
      timestampType: 'CREATE_TIME',
      key: null,
      valueBase64: '/wA=',
    });
    expect(ndjsonRecordOf(wire({ key: bytes(0xc3), value: null }))).toMatchObject({
      keyBase64: 'ww==',
      value: null,
    });
  });

  test('compact JSON objects stay JSON; anything JSON.stringify would change stays text', () => {
    expect(ndjsonRecordOf(wire({ value: text('{"a":[1,2]}') })).value).toEqual({ a: [1, 2] });
    for (const raw of ['{ "a": 1 }', '{"b":1,"1":2}', '{"n":1.0}', 'null', '"s"', '42', '[1,]']) {
      expect(ndjsonRecordOf(wire({ value: text(raw) })).value).toBe(raw);
    }
  });

  test('unique text headers become an object; repeats, binary, null or reordering names do not', () => {
    const h = (name: string, value: Uint8Array | null) => [text(name), value] as const;
    expect(ndjsonRecordOf(wire({ headers: [h('a', text('1')), h('b', text('2'))] }))).toMatchObject(
      { headers: { a: '1', b: '2' } },
    );
    for (const headers of [
      [h('a', text('1')), h('a', text('2'))],
      [h('a', bytes(0x80))],
      [h('a', null)],
      [h('b', text('1')), h('7', text('2'))],
    ]) {
      const line = ndjsonRecordOf(wire({ headers }));
      expect(line.headers).toBeUndefined();
      expect(line.headersBase64).toHaveLength(headers.length);
    }
  });

  test('bytes round-trip exactly through eventRecordOf, including BOMs and bad UTF-8', () => {
    const cases: WireRecord[] = [
      wire({ value: bytes(0xef, 0xbb, 0xbf, 0x61) }), // a BOM a strict decoder would strip
      wire({ value: bytes(0xed, 0xa0, 0x80) }), // an encoded surrogate: not UTF-8
      wire({ key: bytes(), value: bytes() }), // empty is not null
      wire({ value: text('{"__proto__":{"x":1}}') }),
      wire({ headers: [[text('__proto__'), text('p')]] }),
      wire({ headers: [[null, text('no name')]] }),
      wire({ timestampType: 'LOG_APPEND_TIME' }),
    ];
    for (const record of cases) expectSameBytes(record);
  });

  test('random records round-trip exactly', () => {
    let seed = 42;
    const next = () => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed / 2 ** 32;
    };
    const someBytes = () => {
      const kind = next();
      if (kind < 0.15) return null;
      if (kind < 0.5) return text(JSON.stringify({ n: Math.floor(next() * 1e6), s: 'é' }));
      return Uint8Array.from({ length: Math.floor(next() * 12) }, () => Math.floor(next() * 256));
    };
    for (let i = 0; i < 500; i++) {
      const headers = Array.from({ length: Math.floor(next() * 4) }, () => {
        const value = someBytes();
        return [text(next() < 0.5 ? 'h' : `h${i}`), value] as const;
      });
      // Lambda has no null header value; it arrives as empty bytes.
      const record = wire({ offset: i, key: someBytes(), value: someBytes(), headers });
      expectSameBytes(record);
    }
  });
});

describe('eventRecordOf with headersBase64', () => {
  test('gives Java-signed bytes in wire order, names repeating', () => {
    const event = eventRecordOf(
      {
        topic: 't',
        partition: 0,
        offset: 0,
        headersBase64: [
          ['a', '/wA='],
          ['a', null],
        ],
      },
      'x',
    );
    expect(event.headers).toEqual([{ a: [-1, 0] }, { a: [] }]);
  });

  test('rejects bad base64, bad entries, and both header fields at once', () => {
    const at = (fields: object) => () =>
      eventRecordOf({ topic: 't', partition: 0, offset: 0, ...fields }, 'x');
    expect(at({ headersBase64: [['a', 'not base64!']] })).toThrow(EventFormatError);
    expect(at({ headersBase64: [['a']] })).toThrow(/entry 0/);
    expect(at({ headersBase64: {} })).toThrow(EventFormatError);
    expect(at({ headers: { a: 'x' }, headersBase64: [] })).toThrow(/keep one/);
  });
});

describe('options', () => {
  test('bad options fail before connecting', async () => {
    const base = { brokers: ['127.0.0.1:1'], topic: 't' };
    await expect(recordTopic({ ...base, from: -1 })).rejects.toThrow(LocalInputError);
    await expect(recordTopic({ ...base, from: new Date('nope') })).rejects.toThrow(/valid Date/);
    await expect(recordTopic({ ...base, max: 0 })).rejects.toThrow(/positive integer/);
    await expect(recordTopic({ ...base, brokers: [] })).rejects.toThrow(/brokers/);
    await expect(recordTopic({ ...base, maxRecords: 1 } as never)).rejects.toThrow(
      "Unknown option 'maxRecords'",
    );
  });
});
