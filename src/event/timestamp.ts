import type { TimestampType } from './types.ts';

export const TIMESTAMP_TYPES: ReadonlySet<TimestampType> = new Set([
  'CREATE_TIME',
  'LOG_APPEND_TIME',
  'NO_TIMESTAMP_TYPE',
]);

/**
 * What is wrong with a timestamp of the given type, or undefined if nothing is: milliseconds
 * since the epoch, an integer, -1 exactly when there is none (`NO_TIMESTAMP_TYPE`). The problem
 * reads after "has", naming the field as `field` spells it: `"timestamp" "…", a string; …`.
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
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return undefined;
  if (typeof value === 'string') {
    const time = Date.parse(value);
    const hint = /^\d+$/.test(value.trim())
      ? 'write it as a number of milliseconds since the epoch'
      : Number.isNaN(time)
        ? 'write milliseconds since the epoch, as a number'
        : `write milliseconds since the epoch, as a number (this time is ${time})`;
    return `${field} ${JSON.stringify(value)}, a string; ${hint}`;
  }
  return `${field} ${JSON.stringify(value) ?? String(value)}; write milliseconds since the epoch, a non-negative integer`;
}
