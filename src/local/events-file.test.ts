import { describe, expect, test } from 'vitest';
import { eventOf, eventRecordOf } from '../event/index.ts';
import { LocalInputError } from './errors.ts';
import { eventsFor } from './events-file.ts';

const record = (offset: number, value: string) =>
  eventRecordOf({ topic: 't', partition: 0, offset, timestamp: 1, value }, `line ${offset}`);

describe('eventsFor', () => {
  test('an event JSON file is delivered as it is, unless an event is over 6 MB', () => {
    const small = eventOf([record(0, 'v')]);
    expect(eventsFor({ kind: 'events', events: [small] }, 'e.json', 't', 100)).toEqual([small]);
    // Two records of 3.5 MB (4.7 MB in base64) in one event, as no mapping would deliver them.
    const big = eventOf([record(0, 'x'.repeat(3_500_000)), record(1, 'y'.repeat(3_500_000))]);
    expect(() => eventsFor({ kind: 'events', events: [small, big] }, 'e.json', 't', 100)).toThrow(
      LocalInputError,
    );
    expect(() => eventsFor({ kind: 'events', events: [small, big] }, 'e.json', 't', 100)).toThrow(
      /e\.json: event 1 is 8\.9 MB of JSON.*never delivers more than 6 MB/,
    );
  });

  test('NDJSON records are cut by the same rule as dogear events', () => {
    const records = [record(0, 'x'.repeat(3_500_000)), record(1, 'y'.repeat(3_500_000))];
    const events = eventsFor({ kind: 'ndjson', records }, 'r.ndjson', 't', 100);
    expect(events.map((e) => e.records['t-0']!.map((r) => r.offset))).toEqual([[0], [1]]);
  });
});
