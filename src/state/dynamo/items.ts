/**
 * The table's items, and the one builder of their update expressions, used by direct commits and
 * by intents alike. One partition key `pk`, so each item spreads on its own:
 *   checkpoint  `c|<group>|<topic>|<partition>`  offset, ver, intent, fp, tid
 *   state item  `s|<group>|<table>|<key>`        v (the value, native DynamoDB types), ver, del
 *   once        `o|<group>|<topic>|<partition>|<offset>|<name>`  done, r (JSON), startedAt, leaseUntil, ttl
 * Group and table names never hold `|`, so every prefix is unambiguous. See docs/state.md.
 */
import type { AttributeValue, TransactWriteItem } from '@aws-sdk/client-dynamodb';
import { decimalText, numberFields, parseDecimal } from '../decimal.ts';
import type { Change, OnceKey, PartitionRef, StoredItem } from '../types.ts';
import { setOwn } from '../write-rules.ts';

/** The start of each kind of key a group's items have. */
export const groupKeyPrefix = {
  checkpoint: (group: string) => `c|${group}|`,
  item: (group: string) => `s|${group}|`,
  once: (group: string) => `o|${group}|`,
};

/**
 * The prefixes every key of a group's items starts with, one per kind: what `reset` deletes, and
 * what each consumer's IAM role is limited to (src/serverless/iam.ts), so the two cannot drift
 * from the keys `pkOf` writes.
 */
export function groupKeyPrefixes(group: string): string[] {
  return Object.values(groupKeyPrefix).map((prefix) => prefix(group));
}

export const pkOf = {
  checkpoint: (p: PartitionRef) => `${groupKeyPrefix.checkpoint(p.group)}${p.topic}|${p.partition}`,
  item: (group: string, table: string, key: string) =>
    `${groupKeyPrefix.item(group)}${table}|${key}`,
  once: (k: OnceKey) =>
    `${groupKeyPrefix.once(k.group)}${k.topic}|${k.partition}|${k.offset}|${k.name}`,
};

/**
 * A value that passed the write rules, in DynamoDB's types. Numbers go as the decimal they
 * print as, or as `exact` for a top-level number that no JS number prints as.
 */
export function attributeOf(value: unknown, exact?: string): AttributeValue {
  if (exact !== undefined) return { N: exact };
  switch (typeof value) {
    case 'string':
      return { S: value };
    case 'number':
      return { N: decimalText(value) };
    case 'boolean':
      return { BOOL: value };
  }
  if (value === null || value === undefined) return { NULL: true };
  if (Array.isArray(value)) return { L: value.map((v) => attributeOf(v)) };
  const map: Record<string, AttributeValue> = {};
  for (const [name, v] of Object.entries(value as object)) setOwn(map, name, attributeOf(v));
  return { M: map };
}

/** A stored value back as JSON; nested numbers as the nearest JS number. */
function jsonOf(attribute: AttributeValue): unknown {
  if (attribute.S !== undefined) return attribute.S;
  if (attribute.N !== undefined) return Number(attribute.N);
  if (attribute.BOOL !== undefined) return attribute.BOOL;
  if (attribute.L !== undefined) return attribute.L.map(jsonOf);
  if (attribute.M !== undefined) {
    const out: Record<string, unknown> = {};
    for (const [name, v] of Object.entries(attribute.M)) setOwn(out, name, jsonOf(v));
    return out;
  }
  return null;
}

/** A state item as read: a top-level number keeps its exact decimal when no JS number holds it. */
export function storedItemOf(item: Record<string, AttributeValue> | undefined): StoredItem {
  if (!item) return { value: undefined, version: 0, exists: false };
  const version = Number(item.ver?.N ?? 0);
  if (item.del?.BOOL || item.v === undefined) return { value: undefined, version, exists: false };
  if (item.v.N !== undefined) {
    return { ...numberFields(parseDecimal(item.v.N)), version, exists: true };
  }
  return { value: jsonOf(item.v), version, exists: true };
}

/** What one update does to a state item, and what it must find there first. */
export interface ItemUpdate {
  readonly table: string;
  readonly key: string;
  readonly change: Change;
  /** The version it was read at (0: absent); unset for a blind write. */
  readonly expectedVersion?: number;
  /** For an intent: the offset it reflects, marked per partition so it lands once. */
  readonly mark?: { readonly partition: PartitionRef; readonly offset: number };
}

/** The one builder of a state item's update, for direct commits and intents. */
export function itemUpdate(
  tableName: string,
  group: string,
  update: ItemUpdate,
): TransactWriteItem {
  const values: Record<string, AttributeValue> = { ':one': { N: '1' } };
  const names: Record<string, string> = {};
  const set: string[] = [];
  let expression: string;
  const { change, mark } = update;
  if (mark) {
    names['#a'] = `a|${mark.partition.topic}|${mark.partition.partition}`;
    values[':off'] = { N: String(mark.offset) };
    set.push('#a = :off');
  }
  if (change.op === 'add') {
    values[':d'] = { N: decimalText(change.delta) };
    expression = `ADD v :d, ver :one${set.length ? ` SET ${set.join(', ')}` : ''} REMOVE del`;
  } else {
    values[':zero'] = { N: '0' };
    if (change.op === 'put') {
      values[':v'] = attributeOf(change.value, change.exact);
      set.unshift('v = :v', 'ver = if_not_exists(ver, :zero) + :one');
      expression = `SET ${set.join(', ')} REMOVE del`;
    } else {
      values[':true'] = { BOOL: true };
      set.unshift('del = :true', 'ver = if_not_exists(ver, :zero) + :one');
      expression = `SET ${set.join(', ')} REMOVE v`;
    }
  }
  let condition: string | undefined;
  if (mark) condition = 'attribute_not_exists(#a) OR #a < :off';
  else if (update.expectedVersion === 0) condition = 'attribute_not_exists(pk)';
  else if (update.expectedVersion !== undefined) {
    condition = 'ver = :expected';
    values[':expected'] = { N: String(update.expectedVersion) };
  }
  return {
    Update: {
      TableName: tableName,
      Key: { pk: { S: pkOf.item(group, update.table, update.key) } },
      UpdateExpression: expression,
      ExpressionAttributeValues: values,
      ...(Object.keys(names).length ? { ExpressionAttributeNames: names } : {}),
      ...(condition ? { ConditionExpression: condition } : {}),
    },
  };
}
