/**
 * What a cancelled `TransactWriteItems` means, from its cancellation reasons: one table from
 * reason to typed error, for direct commits and intents alike.
 */
import {
  StateConflictError,
  StateError,
  StateLimitError,
  StateTypeError,
  StateValueError,
} from '../errors.ts';
import type { Commit } from '../types.ts';

/** DynamoDB's words for a number it cannot hold: past 38 digits, or out of its range. */
export const OUT_OF_RANGE = /overflow|underflow|precision/i;

export interface CancellationReason {
  readonly Code?: string;
  readonly Message?: string;
}

export function cancellationReasons(error: unknown): CancellationReason[] | undefined {
  if ((error as Error)?.name !== 'TransactionCanceledException') return undefined;
  return (error as { CancellationReasons?: CancellationReason[] }).CancellationReasons ?? [];
}

/** Codes that a retry of the same transaction may get past. */
const TRANSIENT = new Set([
  'None',
  'TransactionConflict',
  'ThrottlingError',
  'ProvisionedThroughputExceeded',
  'RequestLimitExceeded',
]);

export function isTransient(reasons: readonly CancellationReason[]): boolean {
  return reasons.every((r) => TRANSIENT.has(r.Code ?? 'None'));
}

/** An item of a transaction, as the error names it. */
export interface Named {
  readonly table: string;
  readonly key: string;
  readonly op: string;
}

/**
 * The typed error for a commit whose transaction was `[checkpoint, ...items]`, or undefined when
 * the cancellation is transient and the commit may be retried.
 */
export function commitCancelled(
  error: unknown,
  reasons: readonly CancellationReason[],
  commit: Commit,
  items: readonly Named[],
): Error | undefined {
  const codes = reasons.map((r) => r.Code ?? 'None');
  const { group, topic, partition } = commit.partition;
  const fenced = codes[0] === 'ConditionalCheckFailed';
  const stale = items.filter((_, i) => codes[i + 1] === 'ConditionalCheckFailed');
  if (fenced || stale.length > 0) {
    return new StateConflictError(
      fenced
        ? `Checkpoint of ${group} ${topic}-${partition} moved: another invocation committed first`
        : `Items changed since they were read: ${stale.map((w) => `${w.table}/${w.key}`).join(', ')}`,
      stale.map(({ table, key }) => ({ table, key })),
      fenced,
      { cause: error },
    );
  }
  const invalid = codes.indexOf('ValidationError');
  if (invalid >= 0) {
    const item = invalid > 0 ? items[invalid - 1] : undefined;
    const message = reasons[invalid]?.Message ?? '';
    if (item?.op === 'add' && OUT_OF_RANGE.test(message)) {
      return new StateValueError(
        `Cannot add to ${item.table}/${item.key}: the sum is not a number DynamoDB holds (${message})`,
        { table: item.table, key: item.key, topic, partition },
        { cause: error },
      );
    }
    if (item?.op === 'add') {
      return new StateTypeError(
        `Cannot add to ${item.table}/${item.key}: it does not hold a number (${message})`,
        { table: item.table, key: item.key, topic, partition },
        { cause: error },
      );
    }
    return new StateLimitError(
      `DynamoDB rejected ${item ? `${item.table}/${item.key}` : 'the commit'}: ${message}`,
      item ? { table: item.table, key: item.key, topic, partition } : { topic, partition },
      { cause: error },
    );
  }
  return undefined;
}

/**
 * DynamoDB rejects a whole transaction, without naming the item, when `ADD` meets a value that
 * is not a number; name the items that add.
 */
export function addedToNonNumber(
  error: unknown,
  items: readonly Named[],
): StateTypeError | undefined {
  if (!/incorrect data type/.test((error as Error)?.message ?? '')) return undefined;
  const adds = items.filter((w) => w.op === 'add').map((w) => `${w.table}/${w.key}`);
  return new StateTypeError(
    `Cannot add to an item that does not hold a number: one of ${adds.slice(0, 10).join(', ')}${adds.length > 10 ? ` and ${adds.length - 10} more` : ''}; nothing of this commit was written`,
    {},
    { cause: error },
  );
}

/** A cancellation that is neither a conflict nor invalid, after the retries ran out. */
export function cancelledForGood(
  error: unknown,
  reasons: readonly CancellationReason[],
  commit: Commit,
  attempts: number,
): StateError {
  const codes = reasons.map((r) => r.Code ?? 'None');
  return new StateError(
    `Commit of ${commit.partition.topic}-${commit.partition.partition} cancelled (${codes.join(', ')}) after ${attempts} attempts; nothing was written`,
    { cause: error },
  );
}
