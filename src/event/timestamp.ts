import type { TimestampType } from './types.ts';

export const TIMESTAMP_TYPES: ReadonlySet<TimestampType> = new Set([
  'CREATE_TIME',
  'LOG_APPEND_TIME',
  'NO_TIMESTAMP_TYPE',
]);

/**
 * What is wrong with a timestamp a user wrote (an NDJSON line), or undefined if nothing is:
 * milliseconds since the epoch as an integer, -1 with `NO_TIMESTAMP_TYPE`. A `CREATE_TIME` or
 * `LOG_APPEND_TIME` may be negative, as brokers store it (-1 for a record sent without a time,
 * large negatives from producers' zero times), so a recording of such a topic reads back. The
 * problem reads after "has", naming the field as `field` spells it: `"timestamp" "…", a string; …`.
 */
export function timestampProblem(
  value: unknown,
  type: TimestampType,
  field = 'timestamp',
): string | undefined {
  if (type === 'NO_TIMESTAMP_TYPE') {
    return value === -1
      ? undefined
      : `timestampType NO_TIMESTAMP_TYPE with timestamp ${JSON.stringify(value)}; a record without a timestamp has timestamp -1`;
  }
  if (typeof value === 'number' && Number.isSafeInteger(value)) return undefined;
  return notMilliseconds(value, field);
}

/**
 * What is wrong with the timestamp of a record Lambda delivered, or undefined if nothing is.
 * Lambda serializes Java's `long`, so any integer is one the broker stored and is taken as it
 * is, whatever its type says: failing the event would fail it on every retry, blocking the
 * partition for good.
 */
export function deliveredTimestampProblem(value: unknown, field = 'timestamp'): string | undefined {
  return typeof value === 'number' && Number.isInteger(value)
    ? undefined
    : notMilliseconds(value, field);
}

function notMilliseconds(value: unknown, field: string): string {
  if (typeof value === 'string') {
    const time = Date.parse(value);
    const hint = /^-?\d+$/.test(value.trim())
      ? 'write it as a number of milliseconds since the epoch'
      : Number.isNaN(time)
        ? 'write milliseconds since the epoch, as a number'
        : `write milliseconds since the epoch, as a number (this time is ${time})`;
    return `${field} ${JSON.stringify(value)}, a string; ${hint}`;
  }
  return `${field} ${JSON.stringify(value) ?? String(value)}; write milliseconds since the epoch, an integer`;
}
