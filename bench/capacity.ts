/**
 * What DynamoDB bills for one request, by AWS's capacity rules, computed from the request (and,
 * for reads, the response): DynamoDB Local reports no consumed capacity worth trusting (2 for a
 * whole transaction), so the benchmarks reckon it themselves. One instance per stream of
 * requests, because clearing an intent is billed by the size of the checkpoint that carried it.
 *
 * Rules (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html,
 * https://aws.amazon.com/dynamodb/pricing/on-demand/):
 * - a write is 1 unit per KB of the item, rounded up; a transaction's item, 2 per KB;
 * - a read is 1 unit per 4 KB of the item, rounded up, when strongly consistent, ½ when not; a
 *   read that finds nothing still costs the minimum;
 * - `BatchGetItem` is billed as one `GetItem` per key it read: keys left in `UnprocessedKeys`
 *   were not read.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';

export interface Units {
  /** Items in a `TransactWriteItems`, else 0. */
  readonly transactItems: number;
  readonly write: number;
  readonly read: number;
}

type Json = Record<string, unknown>;
type Item = Record<string, AttributeValue>;

const READ_BYTES = 4096;

export class CapacityRules {
  /** The size of the last checkpoint written with an intent: the UpdateItem that clears it pays for it. */
  private lastIntentBytes = 0;

  /**
   * The units of one request that succeeded. `action` is DynamoDB's (`GetItem`, not
   * `GetItemCommand`); `output`, when given, sizes what a read returned.
   */
  unitsOf(action: string, input: Json, output?: Json): Units {
    switch (action) {
      case 'TransactWriteItems': {
        // 2 units per KB of each item written (rounded up): the checkpoint with an intent is several KB.
        const items = (input.TransactItems ?? []) as Json[];
        const writes = items.filter((i) => !i.ConditionCheck);
        const intent = writes.find((i) => JSON.stringify(i).includes('intent = :intent'));
        if (intent) this.lastIntentBytes = JSON.stringify(intent).length;
        const write = writes.reduce(
          (sum, i) => sum + 2 * Math.ceil(JSON.stringify(i).length / 1024),
          0,
        );
        return { transactItems: items.length, write, read: 2 * (items.length - writes.length) };
      }
      case 'UpdateItem':
        // An update is billed on the larger of the item before and after: dogear's clearing of an
        // intent pays for the checkpoint item that carried it.
        return {
          transactItems: 0,
          write:
            input.UpdateExpression === 'REMOVE intent' ? Math.ceil(this.lastIntentBytes / 1024) : 1,
          read: 0,
        };
      case 'PutItem':
      case 'DeleteItem':
        return { transactItems: 0, write: 1, read: 0 };
      case 'GetItem': {
        const item = output?.Item as Item | undefined;
        return { transactItems: 0, write: 0, read: readUnits(item, input.ConsistentRead === true) };
      }
      case 'BatchGetItem':
        return { transactItems: 0, write: 0, read: batchReadUnits(input, output) };
      default:
        throw new Error(`No capacity rule for ${action}: add one to bench/capacity.ts`);
    }
  }
}

/** One read of `item` (absent: the minimum). */
function readUnits(item: Item | undefined, consistent: boolean): number {
  const blocks = item ? Math.max(1, Math.ceil(itemBytes(item) / READ_BYTES)) : 1;
  return blocks * (consistent ? 1 : 0.5);
}

/**
 * A `BatchGetItem`: per table, each item returned by its size, each key read but not found at
 * the minimum, keys left unprocessed not at all. Without the response, every key requested.
 */
function batchReadUnits(input: Json, output: Json | undefined): number {
  const requested = (input.RequestItems ?? {}) as Record<
    string,
    { Keys?: unknown[]; ConsistentRead?: boolean }
  >;
  const responses = (output?.Responses ?? {}) as Record<string, Item[]>;
  const unprocessed = (output?.UnprocessedKeys ?? {}) as Record<string, { Keys?: unknown[] }>;
  let units = 0;
  for (const [table, { Keys = [], ConsistentRead = false }] of Object.entries(requested)) {
    if (!output) {
      units += Keys.length * (ConsistentRead ? 1 : 0.5);
      continue;
    }
    const returned = responses[table] ?? [];
    const read = Keys.length - (unprocessed[table]?.Keys?.length ?? 0);
    for (const item of returned) units += readUnits(item, ConsistentRead);
    units += Math.max(0, read - returned.length) * readUnits(undefined, ConsistentRead);
  }
  return units;
}

/** An upper bound of an item's size as DynamoDB reckons it: names plus values. */
export function itemBytes(item: Item): number {
  const utf8 = (s: string) => Buffer.byteLength(s, 'utf8');
  const value = (v: AttributeValue): number => {
    if (v.S !== undefined) return utf8(v.S);
    if (v.N !== undefined) return v.N.length + 1;
    if (v.B !== undefined) return v.B.length;
    if (v.BOOL !== undefined || v.NULL !== undefined) return 1;
    if (v.M !== undefined) return 3 + itemBytes(v.M) + Object.keys(v.M).length;
    if (v.L !== undefined) return 3 + v.L.reduce((n, e) => n + value(e) + 1, 0);
    if (v.SS !== undefined) return v.SS.reduce((n, e) => n + utf8(e), 0);
    if (v.NS !== undefined) return v.NS.reduce((n, e) => n + e.length + 1, 0);
    return 400 * 1024; // a type not reckoned here: fail the check rather than guess
  };
  return Object.entries(item).reduce((n, [name, v]) => n + utf8(name) + value(v), 0);
}
