/**
 * Intents: the blind writes of a commit past 99 writes, carried inside the checkpoint item so the
 * transaction decides them, then applied in transactions of up to 100 items. Each item is marked
 * with the offset it reflects (`a|<topic>|<partition>`), so applying twice changes nothing.
 */
import type { Decimal } from '../decimal.ts';
import type { ItemWrite, PartitionRef } from '../types.ts';
import type { ItemUpdate } from './items.ts';

/** A blind write as the checkpoint item carries it: `[table, key, op, value or delta, exact]`. */
export type IntentWrite =
  | [table: string, key: string, op: 'put', value: unknown, exact?: string]
  | [table: string, key: string, op: 'add', delta: Decimal]
  | [table: string, key: string, op: 'delete'];

export function intentOf({ table, key, change }: ItemWrite): IntentWrite {
  if (change.op === 'put') {
    return change.exact === undefined
      ? [table, key, 'put', change.value]
      : [table, key, 'put', change.value, change.exact];
  }
  if (change.op === 'add') return [table, key, 'add', change.delta];
  return [table, key, 'delete'];
}

/** The update that applies one intent write, marked with the commit's offset. */
export function intentUpdate(
  write: IntentWrite,
  partition: PartitionRef,
  offset: number,
): ItemUpdate {
  const [table, key] = write;
  const mark = { partition, offset };
  if (write[2] === 'put') {
    const exact = write[4];
    return {
      table,
      key,
      change:
        exact === undefined
          ? { op: 'put', value: write[3] }
          : { op: 'put', value: write[3], exact },
      mark,
    };
  }
  if (write[2] === 'add') return { table, key, change: { op: 'add', delta: write[3] }, mark };
  return { table, key, change: { op: 'delete' }, mark };
}
