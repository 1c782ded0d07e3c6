import type { EventRecord } from './types.ts';

/**
 * Lambda's payload limit for a synchronous invocation, which is how an event-source mapping
 * invokes: 6 MB, counted in MiB (6,291,456 bytes). One rule for `dogear events`, `invoke` and
 * `dev`: an event holds at most `batchSize` records and at most this many bytes of JSON.
 */
export const MAX_EVENT_BYTES = 6 * 1024 * 1024;

/**
 * Room kept for what an event holds besides its records: `eventSource`, `eventSourceArn`,
 * `bootstrapServers` and the braces around `records`.
 */
const ENVELOPE_BYTES = 4096;

/**
 * The bytes a record adds to an event's JSON: its own JSON, the comma after it, and the key of a
 * partition's list (`"<topic>-<partition>":[…],`), counted for every record so the sum never
 * falls short, whatever the mix of partitions.
 */
export function eventRecordBytes(record: EventRecord): number {
  return Buffer.byteLength(JSON.stringify(record)) + 1 + record.topic.length + 16;
}

/** How many bytes of records an event may carry. */
export const EVENT_RECORD_BYTES = MAX_EVENT_BYTES - ENVELOPE_BYTES;

/**
 * How many items, from `from` on, go into the next event: at most `batchSize`, and no more than
 * fit in `EVENT_RECORD_BYTES` by `bytesOf`, but always at least one (a caller decides what to do
 * with one record that does not fit alone). 0 when there is nothing left.
 */
export function nextBatchLength<T>(
  items: readonly T[],
  batchSize: number,
  bytesOf: (item: T) => number,
  from = 0,
): number {
  let taken = 0;
  let bytes = 0;
  while (from + taken < items.length && taken < batchSize) {
    const size = bytesOf(items[from + taken]!);
    if (taken > 0 && bytes + size > EVENT_RECORD_BYTES) break;
    bytes += size;
    taken++;
  }
  return taken;
}
