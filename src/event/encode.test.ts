import { describe, expect, test } from 'vitest';
import { eventRecordOf, eventsOf } from './encode.ts';
import { EventFormatError, RecordTooLargeError } from './errors.ts';
import { MAX_EVENT_BYTES, nextBatchLength } from './payload.ts';

const line = (fields: Record<string, unknown>) =>
  eventRecordOf({ topic: 't', partition: 0, offset: 0, timestamp: 1, ...fields }, 'f.ndjson:3');

const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

describe('eventsOf: the 6 MB cut', () => {
  test('100 records of 120 KB become events of at most 6 MB, in order', () => {
    const records = Array.from({ length: 100 }, (_, offset) =>
      line({ offset, value: 'x'.repeat(120_000) }),
    );
    const events = eventsOf(records, 100);
    expect(events.length).toBeGreaterThan(2);
    for (const event of events) expect(bytes(event)).toBeLessThanOrEqual(MAX_EVENT_BYTES);
    expect(events.flatMap((e) => Object.values(e.records).flat())).toEqual(records);
    // Full: the next record would not have fit.
    const first = Object.values(events[0]!.records).flat().length;
    expect(bytes(eventsOf(records.slice(0, first + 1), 100)[0])).toBeGreaterThan(
      MAX_EVENT_BYTES - 200_000,
    );
  });

  test('batchSize still bounds small records', () => {
    const records = Array.from({ length: 25 }, (_, offset) => line({ offset, value: 'v' }));
    expect(eventsOf(records, 10).map((e) => Object.values(e.records).flat().length)).toEqual([
      10, 10, 5,
    ]);
  });

  test('a record that cannot fit in any event names itself', () => {
    const huge = line({ offset: 7, value: 'x'.repeat(5_000_000) });
    const error = catchError(() => eventsOf([huge], 10));
    expect(error).toBeInstanceOf(RecordTooLargeError);
    expect(error.message).toMatch(/t-0@7 .*6\.\d MB.*6 MB/);
  });

  test('nextBatchLength takes at least one item, and none of an empty list', () => {
    expect(nextBatchLength([], 10, () => 1)).toBe(0);
    expect(nextBatchLength([1, 2, 3], 10, () => MAX_EVENT_BYTES * 2)).toBe(1);
    expect(nextBatchLength([1, 2, 3], 2, () => 1)).toBe(2);
    expect(nextBatchLength([1, 2, 3], 10, () => 1, 2)).toBe(1);
  });
});

describe('eventRecordOf', () => {
  test('a tombstone leaves value out and a keyless record leaves key out, as Lambda does', () => {
    const tombstone = line({ key: 'k', value: null });
    expect(tombstone).not.toHaveProperty('value');
    expect(tombstone.key).toBe(Buffer.from('k').toString('base64'));
    expect(line({ value: 'v' })).not.toHaveProperty('key');
    expect(line({ valueBase64: null })).not.toHaveProperty('value');
  });

  test('a missing timestamp is Kafka’s "no timestamp": -1 and NO_TIMESTAMP_TYPE', () => {
    const r = eventRecordOf({ topic: 't', partition: 0, offset: 0 }, 'f:1');
    expect(r).toMatchObject({ timestamp: -1, timestampType: 'NO_TIMESTAMP_TYPE' });
    expect(line({ timestamp: -1, timestampType: 'NO_TIMESTAMP_TYPE' })).toMatchObject({
      timestamp: -1,
      timestampType: 'NO_TIMESTAMP_TYPE',
    });
  });

  test('timestampType: CREATE_TIME by default, each of the three kept', () => {
    expect(line({}).timestampType).toBe('CREATE_TIME');
    for (const type of ['CREATE_TIME', 'LOG_APPEND_TIME'] as const) {
      expect(line({ timestampType: type }).timestampType).toBe(type);
    }
  });

  // What a broker stores and `dogear record` writes: a CREATE_TIME record without a timestamp,
  // and a producer's time before the epoch (Sarama's zero time.Time).
  test.each([
    [-1, 'CREATE_TIME'],
    [-62_135_596_800_000, 'CREATE_TIME'],
    [-1, 'LOG_APPEND_TIME'],
  ] as const)('timestamp %d with %s is kept', (timestamp, timestampType) => {
    expect(line({ timestamp, timestampType })).toMatchObject({ timestamp, timestampType });
  });

  test.each([
    [{ timestamp: '1764000000000' }, /"timestamp" "1764000000000".*write it as a number/],
    [{ timestamp: '2025-11-24T16:00:00Z' }, /"timestamp".*1764000000000/],
    [{ timestamp: 1.5 }, /"timestamp" 1\.5/],
    [
      { timestampType: 'create_time' },
      /"timestampType" "create_time".*CREATE_TIME, LOG_APPEND_TIME or NO_TIMESTAMP_TYPE/,
    ],
    [{ timestampType: 'NO_TIMESTAMP_TYPE' }, /NO_TIMESTAMP_TYPE.*timestamp 1.*-1/],
    [{ timestamp: undefined, timestampType: 'CREATE_TIME' }, /CREATE_TIME but no "timestamp"/],
  ])('%j is an error naming the line', (fields, message) => {
    const error = catchError(() => line(fields));
    expect(error).toBeInstanceOf(EventFormatError);
    expect(error.message).toContain('f.ndjson:3');
    expect(error.message).toMatch(message);
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
