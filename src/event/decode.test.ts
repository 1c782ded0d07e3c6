import { describe, expect, test } from 'vitest';
import { decodeRecord, parseEvent, slicesOf } from './decode.ts';
import { EventFormatError, RecordDecodeError } from './errors.ts';
import type { EventRecord, KafkaEvent } from './types.ts';

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

function record(overrides: Partial<EventRecord> & Record<string, unknown> = {}): EventRecord {
  return {
    topic: 'orders',
    partition: 2,
    offset: 15,
    timestamp: 1_764_000_000_000,
    timestampType: 'CREATE_TIME',
    key: b64('order-7'),
    value: b64('{"id":7,"items":["pen"]}'),
    headers: [],
    ...overrides,
  } as EventRecord;
}

/** An MSK event as Lambda delivers it: records keyed "<topic>-<partition>". */
function mskEvent(records: EventRecord[]): Record<string, unknown> {
  const grouped: Record<string, EventRecord[]> = {};
  for (const r of records) {
    const id = `${r.topic}-${r.partition}`;
    grouped[id] ??= [];
    grouped[id].push(r);
  }
  return {
    eventSource: 'aws:kafka',
    eventSourceArn: 'arn:aws:kafka:eu-west-1:123456789012:cluster/c/abc-1',
    bootstrapServers: 'b-1.c.kafka.eu-west-1.amazonaws.com:9098',
    records: grouped,
  };
}

describe('parseEvent', () => {
  test('accepts an MSK event and a self-managed Kafka event (which has no eventSourceArn)', () => {
    const msk = mskEvent([record()]);
    expect(parseEvent(msk)).toBe(msk);
    const selfManaged = {
      eventSource: 'SelfManagedKafka',
      bootstrapServers: 'kafka-1:9092,kafka-2:9092',
      records: { 'orders-2': [record()] },
    };
    expect(parseEvent(selfManaged)).toBe(selfManaged);
    const decoded = decodeRecord(parseEvent(selfManaged).records['orders-2']![0]!);
    expect(decoded).toMatchObject({ topic: 'orders', partition: 2, offset: 15, key: 'order-7' });
    expect(decoded.value).toEqual({ id: 7, items: ['pen'] });
  });

  test('rejects what is not a Kafka event, saying what it expected', () => {
    expect(() => parseEvent([])).toThrow(EventFormatError);
    expect(() => parseEvent({ eventSource: 'aws:sqs', Records: [] })).toThrow(
      /eventSource "aws:sqs".*"aws:kafka".*"SelfManagedKafka"/,
    );
    expect(() => parseEvent({ eventSource: 'aws:kafka', records: [] })).toThrow(
      /no 'records' object/,
    );
    expect(() => parseEvent({ eventSource: 'aws:kafka', records: { 'orders-2': {} } })).toThrow(
      /records\["orders-2"\] is not an array/,
    );
  });

  test('a record missing its offset is an EventFormatError naming the topic', () => {
    const { offset: _, ...noOffset } = record();
    const error = catchError(() => parseEvent(mskEvent([noOffset as EventRecord]), 'events.json'));
    expect(error).toBeInstanceOf(EventFormatError);
    expect(error.message).toContain('events.json');
    expect(error.message).toContain('topic orders');
    expect(error.message).toMatch(/no offset/);
  });

  test('a timestamp must be a number and its type a string: Lambda serializes a long and an enum name', () => {
    expect(() => parseEvent(mskEvent([record({ timestamp: '1764000000000' as never })]))).toThrow(
      /records\["orders-2"\]\[0\].*timestamp "1764000000000".*milliseconds since the epoch/,
    );
    expect(() => parseEvent(mskEvent([record({ timestamp: 1.5 })]))).toThrow(/timestamp 1\.5/);
    const { timestamp: _, ...untimed } = record();
    expect(() => parseEvent(mskEvent([untimed as EventRecord]))).toThrow(/no timestamp/);
    const { timestampType: __, ...untyped } = record();
    expect(() => parseEvent(mskEvent([untyped as EventRecord]))).toThrow(/no timestampType/);
  });

  // Lambda hands the function what the broker stored. Kafka accepts a CREATE_TIME record with no
  // timestamp (-1) or a producer's negative time (Sarama's zero time.Time), and a record that
  // failed its event here would fail every retry, blocking its partition for good.
  test.each([
    ['CREATE_TIME', -1],
    ['CREATE_TIME', -62_135_596_800_000],
    ['LOG_APPEND_TIME', -1],
    ['NO_TIMESTAMP_TYPE', -1],
    ['NO_TIMESTAMP_TYPE', 1_764_000_000_000],
    ['CREATE_TIME', 2 ** 63],
  ])('an event with timestampType %s and timestamp %d is taken as it is', (type, timestamp) => {
    const event = mskEvent([
      record({ timestamp, timestampType: type as EventRecord['timestampType'] }),
    ]);
    const raw = parseEvent(event).records['orders-2']![0]!;
    expect(decodeRecord(raw)).toMatchObject({ timestamp, timestampType: type });
  });

  test('a timestampType Kafka does not have is passed on as it is, not failed', () => {
    const event = mskEvent([record({ timestampType: 'BOGUS' as never })]);
    expect(decodeRecord(parseEvent(event).records['orders-2']![0]!).timestampType).toBe('BOGUS');
  });

  test('a negative or fractional partition is rejected', () => {
    expect(() => parseEvent(mskEvent([record({ partition: -1 })]))).toThrow(/partition/);
    expect(() => parseEvent(mskEvent([record({ offset: 1.5 })]))).toThrow(/offset/);
  });
});

describe('decodeRecord', () => {
  test('a tombstone (value absent or null) decodes to value null, even for json', () => {
    const { value: _, ...absent } = record();
    expect(decodeRecord(absent as EventRecord).value).toBeNull();
    expect(decodeRecord(record({ value: null })).value).toBeNull();
    expect(decodeRecord(record({ value: null }), { value: 'bytes' }).value).toBeNull();
  });

  test('a record without a key decodes to key null', () => {
    const { key: _, ...keyless } = record();
    expect(decodeRecord(keyless as EventRecord).key).toBeNull();
    expect(decodeRecord(record({ key: null })).key).toBeNull();
  });

  test('header bytes are Java signed bytes: raw in rawHeaders, UTF-8 text in headers', () => {
    // 'é' is 0xc3 0xa9 in UTF-8, which Java prints as -61, -87.
    const decoded = decodeRecord(
      record({
        headers: [{ trace: [-1, 104] }, { lang: [102, 114, 97, 110, -61, -89, 97, 105, 115] }],
      }),
    );
    expect(decoded.rawHeaders).toHaveLength(2);
    expect(decoded.rawHeaders[0]!.name).toBe('trace');
    expect([...decoded.rawHeaders[0]!.value]).toEqual([0xff, 0x68]);
    expect(decoded.headers.lang).toBe('français');
    expect(decoded.headers.trace).toBe(Buffer.from([0xff, 0x68]).toString('utf8'));
  });

  test('a repeated header name: rawHeaders keeps both in order, headers keeps the last', () => {
    const decoded = decodeRecord(record({ headers: [{ v: [49] }, { v: [50] }] }));
    expect(decoded.rawHeaders.map((h) => Buffer.from(h.value).toString())).toEqual(['1', '2']);
    expect(decoded.headers.v).toBe('2');
  });

  test('value formats: json (default), string, bytes', () => {
    const raw = record({ value: b64('{"a": [1, 2]}') });
    expect(decodeRecord(raw).value).toEqual({ a: [1, 2] });
    expect(decodeRecord(raw, { value: 'string' }).value).toBe('{"a": [1, 2]}');
    const bytes = decodeRecord(record({ value: Buffer.from([0, 255, 7]).toString('base64') }), {
      value: 'bytes',
    }).value;
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect([...(bytes as Uint8Array)]).toEqual([0, 255, 7]);
    expect(decodeRecord(raw, { key: 'bytes' }).key).toEqual(new Uint8Array(Buffer.from('order-7')));
  });

  test('invalid base64 is a RecordDecodeError naming topic, partition and offset', () => {
    for (const value of ['not base64!', 'abcde', 'QQ==QQ==']) {
      const error = catchError(() => decodeRecord(record({ value })));
      expect(error, value).toBeInstanceOf(RecordDecodeError);
      expect(error).toMatchObject({ topic: 'orders', partition: 2, offset: 15 });
      expect(error.message).toContain('orders-2@15');
      expect(error.message).toContain('base64');
    }
  });

  test('a value that is not JSON names the record and suggests value: string', () => {
    const error = catchError(() => decodeRecord(record({ value: b64('hello, world') })));
    expect(error).toBeInstanceOf(RecordDecodeError);
    expect(error.message).toContain('orders-2@15');
    expect(error.message).toContain("value: 'string'");
    // The same bytes are fine once the consumer declares them text.
    expect(decodeRecord(record({ value: b64('hello, world') }), { value: 'string' }).value).toBe(
      'hello, world',
    );
  });

  test('a header that is not a byte array is a RecordDecodeError', () => {
    expect(() => decodeRecord(record({ headers: [{ h: [1, 300] }] }))).toThrow(RecordDecodeError);
    expect(() => decodeRecord(record({ headers: [{ h: 'abc' as never }] }))).toThrow(/header 'h'/);
  });
});

describe('strict UTF-8', () => {
  const hex = (hexBytes: string) => Buffer.from(hexBytes, 'hex').toString('base64');

  test('keys ff01 and fe01 are not UTF-8: with key string (the default) each fails its record by name, showing its bytes and the fix', () => {
    for (const [bytes, shown] of [
      ['ff01', 'ff 01'],
      ['fe01', 'fe 01'],
    ] as const) {
      const error = catchError(() => decodeRecord(record({ key: hex(bytes) })));
      expect(error, bytes).toBeInstanceOf(RecordDecodeError);
      expect(error).toMatchObject({ topic: 'orders', partition: 2, offset: 15 });
      expect(error.message).toContain('orders-2@15');
      expect(error.message).toMatch(/key is not UTF-8/);
      expect(error.message).toContain(shown);
      expect(error.message).toContain("key: 'bytes'");
      expect(error.message).toContain('base64');
    }
  });

  test('the same keys decode with key: bytes, and stay distinct', () => {
    const keyOf = (bytes: string) =>
      decodeRecord<unknown, Uint8Array>(record({ key: hex(bytes) }), { key: 'bytes' }).key!;
    expect([...keyOf('ff01')]).toEqual([0xff, 0x01]);
    expect([...keyOf('fe01')]).toEqual([0xfe, 0x01]);
  });

  test('a json key that is not UTF-8 fails its record too', () => {
    // {"id":"<ff>"}: JSON.parse of lenient UTF-8 would have read "\ufffd".
    const error = catchError(() =>
      decodeRecord(record({ key: hex('7b226964223a22ff227d') }), { key: 'json' }),
    );
    expect(error).toBeInstanceOf(RecordDecodeError);
    expect(error.message).toContain('orders-2@15');
    expect(error.message).toMatch(/key is not UTF-8.*at byte 7/);
  });

  test('a value that is not UTF-8 fails its record with value json or string, and decodes with value: bytes', () => {
    // {"a":"<ff>"} and "hi" followed by half a character (c3 alone).
    for (const [bytes, format] of [
      ['7b2261223a22ff227d', 'json'],
      ['6869c3', 'string'],
    ] as const) {
      const raw = record({ value: hex(bytes) });
      const error = catchError(() => decodeRecord(raw, { value: format }));
      expect(error, bytes).toBeInstanceOf(RecordDecodeError);
      expect(error.message).toContain('orders-2@15');
      expect(error.message).toMatch(/value is not UTF-8/);
      expect(error.message).toContain("value: 'bytes'");
      expect(error.message).not.toContain('ctx.state');
      expect(Buffer.from(decodeRecord(raw, { value: 'bytes' }).value as Uint8Array)).toEqual(
        Buffer.from(bytes, 'hex'),
      );
    }
    const truncated = catchError(() =>
      decodeRecord(record({ value: hex('6869c3') }), { value: 'string' }),
    );
    expect(truncated.message).toMatch(/ends inside a character/);
  });

  test('the error shows at most the first 16 bytes and says how many there are', () => {
    const error = catchError(() => decodeRecord(record({ key: hex(`${'61'.repeat(40)}ff`) })));
    expect(error.message).toContain(`${'61 '.repeat(16).trim()} …`);
    expect(error.message).toContain('41 bytes');
    expect(error.message).toContain('at byte 40');
  });

  test('valid UTF-8 decodes as before, and a byte-order mark is kept (so it is not the same key)', () => {
    expect(decodeRecord(record({ key: b64('clé-☃-😀') })).key).toBe('clé-☃-😀');
    expect(decodeRecord(record({ value: b64('"naïve"') })).value).toBe('naïve');
    expect(decodeRecord(record({ key: hex('efbbbf61') })).key).toBe('\ufeffa');
  });
});

describe('slicesOf', () => {
  test('groups records by partition and sorts each slice by offset', () => {
    const offsets = { 0: [7, 3, 5, 4], 1: [2, 0, 1] } as const;
    // Lambda keys records by "<topic>-<partition>", but a slice is whatever the records say.
    const event = mskEvent([
      ...offsets[0].map((offset) => record({ partition: 0, offset })),
      ...offsets[1].map((offset) => record({ partition: 1, offset })),
    ]) as KafkaEvent;
    const slices = slicesOf(parseEvent(event));
    expect(slices.map((s) => [s.topic, s.partition])).toEqual([
      ['orders', 0],
      ['orders', 1],
    ]);
    for (const slice of slices) {
      const expected = [...offsets[slice.partition as 0 | 1]].sort((a, b) => a - b);
      expect(slice.records.map((r) => r.offset)).toEqual(expected);
      expect(slice.records.every((r) => r.partition === slice.partition)).toBe(true);
    }
  });

  test('records of one partition under two keys still form one slice', () => {
    const event: KafkaEvent = {
      eventSource: 'SelfManagedKafka',
      records: {
        'orders-0': [record({ partition: 0, offset: 9 })],
        'orders-0-again': [record({ partition: 0, offset: 8 })],
      },
    };
    const slices = slicesOf(event);
    expect(slices).toHaveLength(1);
    expect(slices[0]!.records.map((r) => r.offset)).toEqual([8, 9]);
  });
});

/**
 * Fuzz: mutate valid events at random (bytes in base64 fields, wrong types, deleted fields) and
 * check that parsing and decoding either work or fail with our own errors, never a TypeError
 * or the like that would reach a user as a crash. Seeded, so a failure can be replayed.
 */
describe('fuzz', () => {
  function random(seed: number) {
    let state = seed >>> 0;
    return () => {
      // mulberry32
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
    };
  }

  const CASES = 4000;
  const SEED = 20_251_125;

  test(`${CASES} mutated events parse and decode or fail with dogear's errors`, () => {
    const next = random(SEED);
    const int = (n: number) => Math.floor(next() * n);
    const pick = <T>(list: readonly T[]): T => list[int(list.length)]!;
    const randomBytes = () => Buffer.from(Array.from({ length: int(12) }, () => int(256)));
    const randomText = () =>
      String.fromCharCode(...Array.from({ length: int(10) }, () => 32 + int(95)));
    const junk = (): unknown =>
      pick([
        () => null,
        () => undefined,
        () => int(1000) - 500,
        () => next(),
        () => randomText(),
        () => true,
        () => [],
        () => [int(300) - 150, 'x'],
        () => ({}),
        () => ({ [randomText()]: [int(256)] }),
        () => randomBytes().toString('base64'),
        () => Number.NaN,
      ])();

    /** Replaces, deletes or garbles one field somewhere in the event. */
    function mutate(event: Record<string, unknown>): void {
      const records = event.records as Record<string, Array<Record<string, unknown>>>;
      const lists = Object.values(records);
      const list = pick(lists);
      const r = pick(list);
      const field = pick([
        'topic',
        'partition',
        'offset',
        'timestamp',
        'timestampType',
        'key',
        'value',
        'headers',
      ]);
      switch (int(9)) {
        case 0:
          delete r[field];
          break;
        case 1:
          r[field] = junk();
          break;
        case 2: // random bytes, base64-encoded: valid base64, arbitrary content
          r[pick(['key', 'value'])] = randomBytes().toString('base64');
          break;
        case 3: // base64 with a character flipped or cut short
          r[pick(['key', 'value'])] = garble(String(r.value ?? ''));
          break;
        case 4: // a header with random (possibly out of range) bytes or a wrong shape
          r.headers = [
            pick([
              { [randomText()]: Array.from({ length: int(5) }, () => int(600) - 300) },
              junk(),
            ]),
          ];
          break;
        case 5:
          list.splice(int(list.length), 0, junk() as Record<string, unknown>);
          break;
        case 6:
          records[randomText()] = junk() as never;
          break;
        case 7:
          event[pick(['eventSource', 'records', 'eventSourceArn'])] = junk();
          break;
        default:
          r.value = b64(randomText()); // text that is rarely JSON
      }
    }

    function garble(text: string): string {
      if (text === '') return pick(['=', 'A', '====', '*']);
      const at = int(text.length);
      return pick([
        text.slice(0, at),
        `${text.slice(0, at)}${pick(['!', '=', '-', '_', ' ', 'é'])}${text.slice(at + 1)}`,
      ]);
    }

    let decoded = 0;
    let rejected = 0;
    for (let n = 0; n < CASES; n++) {
      const event = structuredClone(
        mskEvent([
          record({ partition: 0, offset: 1, headers: [{ h: [-1, 104] }] }),
          record({ partition: 0, offset: 2, key: null }),
          record({ partition: 1, offset: 1, value: null }),
        ]),
      );
      for (let m = 1 + int(3); m > 0; m--) {
        try {
          mutate(event);
        } catch {
          break; // a mutation that cannot apply (say, records no longer an object): keep the event
        }
      }
      const input = int(10) === 0 ? JSON.parse(JSON.stringify(event)) : event;
      const format = pick(['json', 'string', 'bytes'] as const);
      try {
        for (const slice of slicesOf(parseEvent(input))) {
          for (const raw of slice.records) {
            decodeRecord(raw, { value: format, key: pick(['string', 'bytes', 'json'] as const) });
            decoded++;
          }
        }
      } catch (error) {
        if (!(error instanceof EventFormatError || error instanceof RecordDecodeError)) {
          throw new Error(
            `case ${n} (seed ${SEED}) threw ${(error as Error).name}: ${(error as Error).message}\n${JSON.stringify(input)}`,
            { cause: error },
          );
        }
        rejected++;
      }
    }
    // Both paths were exercised: the mutations are neither all harmless nor all fatal.
    expect(decoded).toBeGreaterThan(CASES / 4);
    expect(rejected).toBeGreaterThan(CASES / 4);
  });
});

function catchError(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}
