/**
 * What a value and a key may be: one check for every store, so a write DynamoDB would refuse
 * fails the record that made it, in a test with the memory store as in Lambda. See the write
 * rules in docs/state.md.
 */
import { decimalProblem } from './decimal.ts';
import type { Commit, CommitLimits } from './types.ts';

/** DynamoDB nests 32 levels, the item's attribute `v` being the first. */
export const MAX_NESTING = 31;
/** DynamoDB's limit on a partition key, which holds the group, the table and the key. */
export const MAX_PARTITION_KEY_BYTES = 2048;

/** A value a store can hold: a JSON copy of what the handler gave, and its size. */
export interface CheckedValue {
  readonly value: unknown;
  /**
   * About what DynamoDB counts for it, or its JSON if that is larger: a blind write past 99
   * travels as JSON inside the checkpoint item's intent.
   */
  readonly bytes: number;
}

/** Characters JSON escapes, or that may be a surrogate; a string without them is its own JSON. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters JSON escapes
const ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/;

/** Why a write cannot be stored, and what to do instead. */
export interface Refusal {
  readonly problem: string;
  readonly fix: string;
}

export function isRefusal(checked: CheckedValue | Refusal): checked is Refusal {
  return 'problem' in checked;
}

/**
 * Copies `value` as JSON would keep it (`undefined` properties dropped, `undefined` in arrays
 * as null), so a later change by the handler to its own object cannot reach the buffer, and
 * checks it against what DynamoDB stores: no empty map keys, at most 31 nested maps and lists,
 * numbers DynamoDB can hold, and only JSON's types.
 */
export function checkValue(value: unknown): CheckedValue | Refusal {
  const path: Array<string | number> = [];
  let bytes = 0;
  let json = 0;
  let refusal: Refusal | undefined;
  const where = () =>
    path.length === 0
      ? ''
      : ` at ${path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('')}`;
  const refuse = (problem: string, fix: string) => {
    refusal ??= { problem: `${problem}${where()}`, fix };
    return undefined;
  };
  const copy = (v: unknown, depth: number): unknown => {
    if (refusal) return undefined;
    switch (typeof v) {
      case 'string': {
        const size = Buffer.byteLength(v);
        bytes += size;
        json += ESCAPED.test(v) ? Buffer.byteLength(JSON.stringify(v)) : size + 2;
        return v;
      }
      case 'boolean':
        bytes += 1;
        json += 5;
        return v;
      case 'number': {
        const problem = decimalProblem(v);
        if (problem) return refuse(problem, 'store it as a string, or scale it into range');
        const digits = String(v).length;
        bytes += 1 + Math.ceil(digits / 2);
        json += digits;
        return v === 0 ? 0 : v; // -0 is 0 in DynamoDB
      }
      case 'bigint':
        return refuse(
          `a BigInt (${v}n)`,
          'store it as a string, or as a number if it is within ±2^53',
        );
      case 'object':
        break;
      default:
        return refuse(
          `a ${typeof v}`,
          'store JSON: null, booleans, numbers, strings, arrays and plain objects',
        );
    }
    if (v === null) {
      bytes += 1;
      json += 4;
      return null;
    }
    if (depth >= MAX_NESTING) {
      return refuse(
        `nesting deeper than ${MAX_NESTING} maps and lists (DynamoDB's 32 levels, counting the item's attribute)`,
        'flatten the value, or split it over several keys',
      );
    }
    bytes += 3;
    json += 2;
    if (Array.isArray(v)) {
      const out = new Array<unknown>(v.length);
      for (let i = 0; i < v.length; i++) {
        path.push(i);
        const item = v[i];
        out[i] = item === undefined ? null : copy(item, depth + 1);
        bytes += 1;
        json += 1;
        path.pop();
      }
      return out;
    }
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) {
      const kind = (v as object).constructor?.name ?? 'object';
      return refuse(
        `an instance of ${kind}`,
        kind === 'Date'
          ? 'store date.toISOString() or date.getTime()'
          : 'store a plain object, an array or a primitive',
      );
    }
    const out: Record<string, unknown> = {};
    for (const name of Object.keys(v)) {
      const item = (v as Record<string, unknown>)[name];
      if (item === undefined) continue;
      path.push(name);
      if (name === '') refuse('an empty map key', 'give every property a non-empty name');
      setOwn(out, name, copy(item, depth + 1));
      const nameBytes = Buffer.byteLength(name);
      bytes += 1 + nameBytes;
      json += 2 + (ESCAPED.test(name) ? Buffer.byteLength(JSON.stringify(name)) : nameBytes + 2);
      path.pop();
    }
    return out;
  };
  const copied = copy(value, 0);
  return refusal ?? { value: copied, bytes: Math.max(bytes, json) };
}

/** Why `key` cannot name an item of `table`, or undefined. */
export function keyProblem(group: string, table: string, key: unknown): Refusal | undefined {
  if (typeof key !== 'string') {
    return {
      problem: `a ${key === null ? 'null' : typeof key} key (${String(key).slice(0, 40)})`,
      fix: 'keys are strings: pass String(key), or JSON.stringify(key) for a structured one',
    };
  }
  // `s|<group>|<table>|<key>`: ASCII names, so only the key needs counting in bytes. UTF-8
  // takes at most 3 bytes per UTF-16 unit, so most keys are short enough without counting.
  const fixed = group.length + table.length + 4;
  if (fixed + 3 * key.length <= MAX_PARTITION_KEY_BYTES) return undefined;
  const bytes = fixed + Buffer.byteLength(key);
  if (bytes > MAX_PARTITION_KEY_BYTES) {
    return {
      problem: `a key of ${Buffer.byteLength(key)} bytes: with the group and table it makes a ${bytes}-byte partition key, over DynamoDB's 2,048 bytes`,
      fix: 'use a shorter key, e.g. a hash of this one',
    };
  }
  return undefined;
}

/**
 * Why `commit` exceeds `limits`, or undefined. The transaction sizes its commits so this never
 * happens; the stores check again so that a bug cannot reach DynamoDB as a raw error.
 */
export function commitProblem(commit: Commit, limits: CommitLimits): string | undefined {
  let conditioned = 0;
  let bytes = 0;
  let blindBytes = 0;
  for (const write of commit.writes) {
    const size = write.bytes ?? 0;
    bytes += size;
    if (size > limits.maxItemBytes) {
      return `${write.table}/${write.key} is about ${size} bytes, over the ${limits.maxItemBytes}-byte item limit`;
    }
    if (write.expectedVersion !== undefined) conditioned += 1;
    else blindBytes += size;
  }
  if (conditioned > limits.maxWrites) {
    return `${conditioned} writes carry a read version, over the ${limits.maxWrites} that share a transaction with the checkpoint`;
  }
  if (bytes > limits.maxBytes) return `about ${bytes} bytes, over ${limits.maxBytes}`;
  // What rides in the checkpoint item beside the offset: an intent, the outbox, the marks.
  const { outbox, upstream } = commit.checkpoint;
  const carried =
    (commit.writes.length > limits.maxWrites ? blindBytes : 0) +
    (outbox?.length ? Buffer.byteLength(JSON.stringify(outbox)) : 0) +
    (upstream ? Buffer.byteLength(JSON.stringify(upstream)) : 0);
  if (carried > limits.maxIntentBytes) {
    return `about ${carried} bytes of intent, outbox and upstream marks, over the ${limits.maxIntentBytes} the checkpoint item holds for them`;
  }
  return undefined;
}

/**
 * Sets a property as JSON.parse does: `__proto__` becomes an own property like any other name,
 * instead of replacing the object's prototype.
 */
export function setOwn(target: Record<string, unknown>, name: string, value: unknown): void {
  if (name === '__proto__') {
    Object.defineProperty(target, name, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else target[name] = value;
}
