/**
 * Property test of exactly-once state: random mixes of `get`, `set`, `update`, `add`, `delete`
 * (on tables and on `ctx.state`) over a few keys, cut into random batches over several
 * partitions and delivered through the public runtime (`defineConsumer` + `createHandler`) with
 * redeliveries, overlapping slices, cold and warm caches, concurrent invocations and injected
 * failures. Each store (memory, file, DynamoDB Local) must end with the tables and checkpoints of
 * a plain fold of the records, each applied once in offset order; a record that can never commit
 * (a value DynamoDB refuses) must stop its partition at that record, with the same error in every
 * store.
 *
 * Numbers are decimals as DynamoDB holds them: `set(n)` stores String(n) and reads back n; `add(n)`
 * adds the decimal String(n) exactly (0.1 + 0.2 reads back 0.3; a counter past 2^53 keeps counting
 * exactly and reads back as Number(exact decimal)). The fold does that with BigInt. Note String(n),
 * not n's binary value: add(-(2 ** 55)) adds -36028797018963970, as DynamoDB's ADD would.
 *
 * The seed is printed; replay with DOGEAR_PROPERTY_SEED=<seed> (and, for one test picked with
 * -t, DOGEAR_PROPERTY_PATH=<path> from the failure, to go straight to the counterexample).
 *
 * Measured on the 2 shared cores, every property passing at full size (40 runs for memory, 30
 * for file, 15 for DynamoDB Local): 7.6 s for this file inside `npm test`, 25 s on its own at
 * load average 6-8. Tests time out at 180 s (3 x 60 s); each property also stops itself,
 * shrinking included, after BUDGET_MS, and passes with fewer runs if that comes first.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { afterAll, describe, inject, test } from 'vitest';
import { type EventRecord, eventOf, eventRecordOf, type KafkaRecord } from '../src/event/index.ts';
import {
  BatchFailedError,
  type ConsumerDefinition,
  type Context,
  createHandler,
  createLogger,
  defineConsumer,
  type InvocationReport,
  lambdaContext,
  type Reads,
  RecordFailedError,
} from '../src/runtime/index.ts';
import {
  FileStateStore,
  MemoryStateStore,
  openDynamoStateStore,
  StateCache,
  type StateStore,
} from '../src/state/index.ts';

// ---------------------------------------------------------------------------------------------
// Seed and sizes

const seedEnv = process.env.DOGEAR_PROPERTY_SEED;
const SEED = seedEnv ? Number.parseInt(seedEnv, 10) : Math.floor(Math.random() * 2 ** 31);
if (!Number.isSafeInteger(SEED))
  throw new Error(`DOGEAR_PROPERTY_SEED=${seedEnv} is not an integer`);
const PATH = process.env.DOGEAR_PROPERTY_PATH;
process.stderr.write(
  `state-property: fast-check seed ${SEED} (replay: DOGEAR_PROPERTY_SEED=${SEED} npx vitest run test/state-property.test.ts)\n`,
);

type StoreKind = 'memory' | 'file' | 'dynamodb';
const STORES: readonly StoreKind[] = ['memory', 'file', 'dynamodb'];
/** Runs per property and store; DynamoDB Local costs about a second a run. */
const RUNS: Record<StoreKind, number> = { memory: 40, file: 30, dynamodb: 15 };
const INVALID_RUNS = 3;
/** Per test, past which fast-check stops (a failure's shrinking included) and reports what it has. */
const BUDGET_MS: Record<StoreKind, number> = { memory: 20_000, file: 20_000, dynamodb: 40_000 };
const TEST_TIMEOUT_MS = 180_000;

// ---------------------------------------------------------------------------------------------
// Exact decimals, as DynamoDB adds them: value = m * 10^e

interface Dec {
  readonly m: bigint;
  readonly e: number;
}

function decOf(n: number): Dec {
  const text = String(n);
  const match = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/.exec(text);
  if (!match) throw new Error(`oracle: cannot read ${text} as a decimal`);
  const [, sign, int, frac = '', exp = '0'] = match;
  const m = BigInt(`${int}${frac}`);
  return normal({ m: sign ? -m : m, e: Number(exp) - frac.length });
}

function normal({ m, e }: Dec): Dec {
  if (m === 0n) return { m: 0n, e: 0 };
  while (m % 10n === 0n) {
    m /= 10n;
    e += 1;
  }
  return { m, e };
}

function addDec(a: Dec, b: Dec): Dec {
  const e = Math.min(a.e, b.e);
  return normal({ m: a.m * 10n ** BigInt(a.e - e) + b.m * 10n ** BigInt(b.e - e), e });
}

const decNumber = (d: Dec) => Number(`${d.m}e${d.e}`);

// ---------------------------------------------------------------------------------------------
// What a record does: its value is a list of operations

/** Per-partition tables (`j<p>` JSON, `n<p>` numbers) keep non-commuting writes in one partition. */
type Fn = 'inc' | 'append' | 'wrap' | 'drop';
type Op =
  | { op: 'get'; table: string; key: string }
  | { op: 'set'; table: string; key: string; value: unknown }
  | { op: 'add'; table: string; key: string; n: number }
  | { op: 'delete'; table: string; key: string }
  | { op: 'update'; table: string; key: string; fn: Fn }
  | { op: 'copy'; from: [table: string, key: string]; to: [table: string, key: string] }
  | { op: 'throw' }
  | { op: 'state'; verb: 'get' }
  | { op: 'state'; verb: 'delete' }
  | { op: 'state'; verb: 'set'; value: number }
  | { op: 'state'; verb: 'add'; n: number }
  | { op: 'state'; verb: 'update'; fn: 'inc' | 'drop' };

const depth = (v: unknown): number =>
  typeof v === 'object' && v !== null
    ? 1 + Math.max(0, ...Object.values(v).map((x) => depth(x)))
    : 0;

/** Pure, deterministic, and bounded in depth (DynamoDB nests 32 levels at most). */
const UPDATES: Record<Fn, (v: unknown) => unknown> = {
  inc: (v) => (typeof v === 'number' ? v + 1 : 0),
  append: (v) => (Array.isArray(v) ? [...v, v.length] : v === undefined ? [] : [v]),
  wrap: (v) => (depth(v) < 8 ? { w: v ?? null } : 'deep'),
  drop: () => undefined,
};

const TOPIC = 'prop';
const STATE = 'state';
const SHARED = 'sum';
/** Few keys, so operations collide; keys may hold anything. */
const KEYS = ['a', 'b', 'ü🙂', 'x|y', ''] as const;
const STATE_NAMES = ['a', 'b', 'é'] as const;

/**
 * What a record's operations read, by table, for `reads`: every key they read, and one they do
 * not (a key named and never read must not become a condition of the commit).
 */
function readsOf(tables: readonly string[]): Reads<unknown, string> {
  const reads: Record<string, (record: KafkaRecord<unknown, string>) => string[]> = {};
  for (const table of tables) {
    reads[table] = (record) => {
      const keys: string[] = [KEYS[record.offset % KEYS.length]!];
      for (const op of record.value as Op[]) {
        if ((op.op === 'get' || op.op === 'update') && op.table === table) keys.push(op.key);
        if (op.op === 'copy' && op.from[0] === table) keys.push(op.from[1]);
      }
      return keys;
    };
  }
  return reads;
}

/**
 * The consumer: runs a record's operations; `throw` throws on the record's first attempt only.
 * With `tables`, it names what its records read (`reads`) for the slice to read ahead.
 */
function consumerFor(
  group: string,
  thrown: Set<string>,
  tables?: readonly string[],
): ConsumerDefinition {
  return defineConsumer(
    { name: 'state-property', topic: TOPIC, group, ...(tables ? { reads: readsOf(tables) } : {}) },
    async (record: KafkaRecord<unknown, string>, ctx: Context) => {
      for (const op of record.value as Op[]) {
        switch (op.op) {
          case 'get':
            await ctx.table(op.table).get(op.key);
            break;
          case 'set':
            ctx.table(op.table).set(op.key, op.value);
            break;
          case 'add':
            ctx.table(op.table).add(op.key, op.n);
            break;
          case 'delete':
            ctx.table(op.table).delete(op.key);
            break;
          case 'update':
            await ctx.table(op.table).update(op.key, UPDATES[op.fn]);
            break;
          case 'copy': {
            const value = await ctx.table(op.from[0]).get(op.from[1]);
            if (value === undefined) ctx.table(op.to[0]).delete(op.to[1]);
            else ctx.table(op.to[0]).set(op.to[1], value);
            break;
          }
          case 'throw': {
            const id = `${record.partition}@${record.offset}`;
            if (!thrown.has(id)) {
              thrown.add(id);
              throw new Error(`injected failure at ${id}`);
            }
            break;
          }
          case 'state':
            if (op.verb === 'get') await ctx.state.get();
            else if (op.verb === 'delete') ctx.state.delete();
            else if (op.verb === 'set') ctx.state.set(op.value);
            else if (op.verb === 'add') ctx.state.add(op.n);
            else await ctx.state.update(UPDATES[op.fn]);
            break;
        }
      }
    },
  );
}

// ---------------------------------------------------------------------------------------------
// The cases

interface Rec {
  readonly offset: number;
  /** The record key: `ctx.state` is keyed by it. */
  readonly key: string;
  readonly ops: Op[];
  /** Set on a record whose last op writes a value DynamoDB refuses: it can never commit. */
  readonly invalid?: string;
}

/** How the test delivers, before the final drain delivers whatever is left. */
type Via = 'warm' | 'other' | 'cold';
type Action =
  /** The next records of each partition (`take`), starting `back` records before (overlap). */
  | { kind: 'next'; take: number[]; back: number[]; via: Via }
  /** An event delivered earlier, again (`which` modulo the history). */
  | { kind: 'resend'; which: number; via: Via }
  /** Like `next` to the warm instance, and at the same time a shorter slice of it to the other. */
  | { kind: 'concurrent'; take: number[]; back: number[] }
  /** Every process restarts: new caches (and, for the file store, a new store on the same log). */
  | { kind: 'restart' };

interface Case {
  readonly partitions: Rec[][];
  readonly schedule: Action[];
  /** The warm caches' byte budget (`maxBytes`); the default when absent. */
  readonly cacheBytes?: number;
  /**
   * Whether slices read ahead (`readAhead`, and `reads` naming what records read): the same
   * records must end in the same state either way. @default true
   */
  readonly readAhead?: boolean;
}

/** What numbers and map keys a property's values hold, so each kind of failure has its own name. */
interface Cfg {
  readonly fractions: boolean;
  readonly big: boolean;
  readonly specialKeys: boolean;
}
const CFG_JSON: Cfg = { fractions: false, big: false, specialKeys: false };
const CFG_KEYS: Cfg = { fractions: false, big: false, specialKeys: true };
const CFG_DECIMAL: Cfg = { fractions: true, big: false, specialKeys: false };
const CFG_BIG: Cfg = { fractions: false, big: true, specialKeys: false };

/** `fc.record` without null-prototype objects, so counterexamples print plainly. */
const record = <T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> =>
  fc.record(model, { noNullPrototype: true }) as fc.Arbitrary<T>;

function numberArb(cfg: Cfg): fc.Arbitrary<number> {
  const arbs: fc.Arbitrary<number>[] = [fc.integer({ min: -20, max: 20 })];
  if (cfg.fractions) {
    arbs.push(
      fc.constantFrom(0.1, 0.2, 0.3, 1.5, -0.7),
      fc
        .tuple(fc.integer({ min: -999, max: 999 }), fc.integer({ min: 1, max: 3 }))
        .map(([m, k]) => Number(`${m}e-${k}`)),
    );
  }
  if (cfg.big) arbs.push(fc.constantFrom(2 ** 53, 2 ** 53 + 2, 2 ** 60, -(2 ** 55), 2 ** 64));
  return fc.oneof(...arbs);
}

const stringArb = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 4 }),
  fc.constantFrom('', 'é', 'e\u0301', '🙂', 'a|b', 'Ω≈ç'),
);

/** Map keys: never empty (DynamoDB refuses that); with `specialKeys`, ones objects treat specially. */
const objectKeyArb = (cfg: Cfg) => {
  const plain = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 3 });
  if (!cfg.specialKeys) return plain;
  return fc.oneof(
    plain,
    fc.constant('__proto__'),
    fc.constantFrom('constructor', 'toString', 'hasOwnProperty', '0', '10'),
  );
};

function jsonArb(cfg: Cfg): fc.Arbitrary<unknown> {
  const leaf = fc.oneof(fc.constant(null), fc.boolean(), numberArb(cfg), stringArb);
  const { value } = fc.letrec<{
    value: unknown;
    array: unknown[];
    object: Record<string, unknown>;
  }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', maxDepth: 3, depthIdentifier: 'json' },
      leaf,
      tie('array'),
      tie('object'),
    ),
    array: fc.array(tie('value'), { maxLength: 3, depthIdentifier: 'json' }),
    object: fc.dictionary(objectKeyArb(cfg), tie('value'), {
      maxKeys: 3,
      noNullPrototype: true,
      depthIdentifier: 'json',
    }),
  }));
  return value;
}

/** Ops with table placeholders: `J` and `N` become the partition's own `j<p>` and `n<p>`. */
function opArb(cfg: Cfg): fc.Arbitrary<Op> {
  const num = numberArb(cfg);
  const key = fc.constantFrom(...KEYS);
  /** Numbers collide on fewer keys, so adds meet adds, sets and reads of the same item. */
  const nKey = fc.constantFrom(...KEYS.slice(0, 3));
  const table = fc.constantFrom('N', 'J');
  // Properties about numbers do more with numbers, the one about map keys sets more maps.
  const n = cfg.fractions || cfg.big ? 2 : 1;
  const maps = cfg.specialKeys
    ? fc.oneof(
        fc.dictionary(objectKeyArb(cfg), jsonArb(cfg), {
          minKeys: 1,
          maxKeys: 3,
          noNullPrototype: true,
        }),
        jsonArb(cfg),
      )
    : jsonArb(cfg);
  const w = (weight: number, arbitrary: fc.Arbitrary<Op>) => ({ weight, arbitrary });
  return fc.oneof(
    w(3 * n, record({ op: fc.constant('add'), table: fc.constant('N'), key: nKey, n: num })),
    w(n, record({ op: fc.constant('add'), table: fc.constant(SHARED), key, n: num })),
    w(2 * n, record({ op: fc.constant('set'), table: fc.constant('N'), key: nKey, value: num })),
    w(3, record({ op: fc.constant('set'), table: fc.constant('J'), key, value: maps })),
    w(1, record({ op: fc.constant('get'), table, key })),
    w(1, record({ op: fc.constant('delete'), table, key })),
    w(
      2,
      record({
        op: fc.constant('update'),
        table: fc.constant('N'),
        key: nKey,
        fn: fc.constantFrom<Fn>('inc', 'drop'),
      }),
    ),
    w(
      2,
      record({
        op: fc.constant('update'),
        table: fc.constant('J'),
        key,
        fn: fc.constantFrom<Fn>('append', 'wrap', 'inc', 'drop'),
      }),
    ),
    w(
      2,
      fc
        .tuple(fc.constantFrom(['N', 'N'], ['N', 'J'], ['J', 'J']), nKey, nKey)
        .map(([[from, to], a, b]): Op => ({ op: 'copy', from: [from!, a], to: [to!, b] })),
    ),
    w(1, fc.constant({ op: 'throw' })),
    w(
      3,
      fc.oneof(
        record({ op: fc.constant('state'), verb: fc.constant('get') }),
        record({ op: fc.constant('state'), verb: fc.constant('delete') }),
        record({ op: fc.constant('state'), verb: fc.constant('set'), value: num }),
        record({ op: fc.constant('state'), verb: fc.constant('add'), n: num }),
        record({
          op: fc.constant('state'),
          verb: fc.constant('update'),
          fn: fc.constantFrom('inc', 'drop'),
        }),
      ) as fc.Arbitrary<Op>,
    ),
  );
}

interface RawRec {
  gap: number;
  name: string;
  ops: Op[];
  invalid?: string;
}
interface RawCase {
  partitions: Array<{ first: number; records: RawRec[] }>;
  schedule: Action[];
  cacheBytes: number | undefined;
  readAhead: boolean;
}

const via = fc.constantFrom<Via>('warm', 'warm', 'other', 'cold');
const take = fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 3, maxLength: 3 });
const back = fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 3, maxLength: 3 });
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 5, arbitrary: record({ kind: fc.constant('next'), take, back, via }) },
  { weight: 2, arbitrary: record({ kind: fc.constant('resend'), which: fc.nat(), via }) },
  { weight: 1, arbitrary: record({ kind: fc.constant('concurrent'), take, back }) },
  { weight: 1, arbitrary: record({ kind: fc.constant('restart') }) },
);

function rawCaseArb(cfg: Cfg): fc.Arbitrary<RawCase> {
  const rec = record({
    gap: fc.integer({ min: 1, max: 3 }),
    name: fc.constantFrom(...STATE_NAMES),
    ops: fc.array(opArb(cfg), { minLength: 1, maxLength: 4 }),
  });
  return record({
    partitions: fc.array(
      record({
        first: fc.integer({ min: 0, max: 3 }),
        records: fc.array(rec, { maxLength: 12, size: 'medium' }),
      }),
      { minLength: 1, maxLength: 3 },
    ),
    schedule: fc.array(actionArb, { maxLength: 10 }),
    // Nothing kept, a few entries kept (evicting all the time), or the default.
    cacheBytes: fc.constantFrom(undefined, undefined, 0, 1000),
    readAhead: fc.boolean(),
  });
}

const resolveTable = (table: string, p: number) =>
  table === 'J' ? `j${p}` : table === 'N' ? `n${p}` : table;

function resolveOp(op: Op, p: number): Op {
  if (op.op === 'copy') {
    return {
      op: 'copy',
      from: [resolveTable(op.from[0], p), op.from[1]],
      to: [resolveTable(op.to[0], p), op.to[1]],
    };
  }
  return 'table' in op ? { ...op, table: resolveTable(op.table, p) } : op;
}

function toCase(raw: RawCase): Case {
  return {
    partitions: raw.partitions.map(({ first, records }, p) => {
      let offset = first - 1;
      return records.map((r) => {
        offset += r.gap;
        return {
          offset,
          key: `${p}/${r.name}`,
          ops: r.ops.map((op) => resolveOp(op, p)),
          ...(r.invalid ? { invalid: r.invalid } : {}),
        };
      });
    }),
    schedule: raw.schedule,
    ...(raw.cacheBytes === undefined ? {} : { cacheBytes: raw.cacheBytes }),
    readAhead: raw.readAhead,
  };
}

const caseArb = (cfg: Cfg) => rawCaseArb(cfg).map(toCase);

const nested = (levels: number): unknown => {
  let v: unknown = 0;
  for (let i = 0; i < levels; i++) v = [v];
  return v;
};
/** Writes DynamoDB refuses: each one, as a record's last op, makes the record fail for good. */
const INVALID = {
  'map with an empty key': (key) => ({ op: 'set', table: 'J', key, value: { '': 1 } }),
  'empty key in a nested map': (key) => ({ op: 'set', table: 'J', key, value: { a: [{ '': 1 }] } }),
  'nesting of 40 levels': (key) => ({ op: 'set', table: 'J', key, value: nested(40) }),
  'set 1e300': (key) => ({ op: 'set', table: 'N', key, value: 1e300 }),
  '1e300 in a nested list': (key) => ({ op: 'set', table: 'J', key, value: { x: [1e300] } }),
  'add 1e300': (key) => ({ op: 'add', table: 'N', key, n: 1e300 }),
  'set 1e-200': (key) => ({ op: 'set', table: 'N', key, value: 1e-200 }),
} satisfies Record<string, (key: string) => Op>;

/** A valid case with one or two records that end in the `invalid` write. */
const invalidCaseArb = (invalid: keyof typeof INVALID) =>
  fc
    .tuple(
      rawCaseArb(CFG_JSON),
      fc.array(record({ p: fc.nat(), i: fc.nat(), key: fc.constantFrom(...KEYS) }), {
        minLength: 1,
        maxLength: 2,
      }),
    )
    .map(([raw, injections]) => {
      const partitions = raw.partitions.map((p) => ({ ...p, records: [...p.records] }));
      for (const { p, i, key } of injections) {
        const { records } = partitions[p % partitions.length]!;
        const at = i % (records.length + 1);
        const op = INVALID[invalid](key);
        if (at === records.length) records.push({ gap: 1, name: 'a', ops: [op], invalid });
        else records[at] = { ...records[at]!, ops: [...records[at]!.ops, op], invalid };
      }
      return toCase({ ...raw, partitions });
    });

// ---------------------------------------------------------------------------------------------
// The oracle: a plain fold

type Held = { num: Dec } | { json: unknown };

interface Observed {
  tables: Record<string, Array<[key: string, value: unknown]>>;
  checkpoints: Array<{ partition: number; offset: number }>;
  stuck: Array<{ partition: number; offset: number | null; error?: string }>;
}

const tablesOf = (c: Case) => [
  ...c.partitions.flatMap((_, p) => [`j${p}`, `n${p}`]),
  STATE,
  SHARED,
];

function fold(c: Case): Observed {
  const items = new Map<string, Map<string, Held>>();
  const table = (name: string) => {
    let t = items.get(name);
    if (!t) {
      t = new Map();
      items.set(name, t);
    }
    return t;
  };
  const read = (name: string, key: string): unknown => {
    const held = items.get(name)?.get(key);
    if (!held) return undefined;
    return 'num' in held ? decNumber(held.num) : structuredClone(held.json);
  };
  const write = (name: string, key: string, value: unknown) => {
    if (value === undefined) table(name).delete(key);
    else if (typeof value === 'number') table(name).set(key, { num: decOf(value) });
    else table(name).set(key, { json: JSON.parse(JSON.stringify(value)) });
  };
  const add = (name: string, key: string, n: number) => {
    const held = items.get(name)?.get(key);
    if (held && !('num' in held)) throw new Error(`oracle: add to ${name}/${key}, not a number`);
    table(name).set(key, { num: addDec(held?.num ?? { m: 0n, e: 0 }, decOf(n)) });
  };
  const checkpoints: Observed['checkpoints'] = [];
  const stuck: Observed['stuck'] = [];
  c.partitions.forEach((records, partition) => {
    let last = -1;
    for (const r of records) {
      if (r.invalid) {
        stuck.push({ partition, offset: r.offset });
        break;
      }
      // The same JSON the consumer decodes.
      for (const op of JSON.parse(JSON.stringify(r.ops)) as Op[]) {
        if (op.op === 'get' || op.op === 'throw') continue;
        if (op.op === 'set') write(op.table, op.key, op.value);
        else if (op.op === 'add') add(op.table, op.key, op.n);
        else if (op.op === 'delete') write(op.table, op.key, undefined);
        else if (op.op === 'update')
          write(op.table, op.key, UPDATES[op.fn](read(op.table, op.key)));
        else if (op.op === 'copy') write(op.to[0], op.to[1], read(op.from[0], op.from[1]));
        else if (op.verb === 'set') write(STATE, r.key, op.value);
        else if (op.verb === 'add') add(STATE, r.key, op.n);
        else if (op.verb === 'delete') write(STATE, r.key, undefined);
        else if (op.verb === 'update') write(STATE, r.key, UPDATES[op.fn](read(STATE, r.key)));
      }
      last = r.offset;
    }
    if (last >= 0) checkpoints.push({ partition, offset: last });
  });
  const tables: Observed['tables'] = {};
  for (const name of tablesOf(c)) {
    const keys = [...(items.get(name)?.keys() ?? [])].sort();
    if (keys.length > 0) tables[name] = keys.map((k) => [k, read(name, k)]);
  }
  return { tables, checkpoints, stuck };
}

// ---------------------------------------------------------------------------------------------
// Delivering a case to a store, the way Lambda would

const quiet = createLogger(() => {});
const scratch = mkdtempSync(join(tmpdir(), 'dogear-prop-'));
let runs = 0;
let tables = 0;
/** What the deliveries did, per test: printed, so a green run shows it exercised the runtime. */
const tally = {
  runs: 0,
  records: 0,
  invocations: 0,
  duplicates: 0,
  failed: 0,
  reruns: 0,
  fences: 0,
  stuck: 0,
};
const resetTally = () => {
  for (const k of Object.keys(tally) as Array<keyof typeof tally>) tally[k] = 0;
};

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The store a run uses, and how a process restart or a final read gets it. */
async function storeFor(kind: StoreKind) {
  if (kind === 'memory') {
    const store = new MemoryStateStore();
    return { current: () => store, restart: () => {}, final: () => store };
  }
  if (kind === 'file') {
    const dir = mkdtempSync(join(scratch, 'file-'));
    let store = new FileStateStore(dir);
    return {
      current: () => store,
      restart: () => {
        store = new FileStateStore(dir);
      },
      // A fresh process replays the log: what is on disk is what counts.
      final: () => new FileStateStore(dir),
    };
  }
  tables += 1;
  const store = await openDynamoStateStore({
    endpoint: inject('dynamodbEndpoint'),
    table: `dogear-prop-${tables}-${Date.now()}`,
  });
  return { current: () => store, restart: () => {}, final: () => store };
}

/** One Lambda process: a handler with its warm cache. */
function instanceOf(
  consumer: ConsumerDefinition,
  store: StateStore,
  cacheBytes: number | undefined,
  readAhead: boolean,
) {
  const reports: InvocationReport[] = [];
  const handler = createHandler(consumer, {
    store,
    readAhead,
    cache: new StateCache(cacheBytes === undefined ? {} : { maxBytes: cacheBytes }),
    log: quiet,
    onReport: (r) => {
      reports.push(r);
      tally.invocations += 1;
      tally.duplicates += r.duplicates;
      tally.failed += r.failed;
      tally.reruns += r.reruns;
      tally.fences += r.fences;
    },
  });
  return { handler, reports };
}
type Instance = ReturnType<typeof instanceOf>;

const describeError = (e: unknown) =>
  e instanceof Error ? `${e.name}: ${e.message}` : `thrown ${String(e)}`;

/** What one invocation did to one partition. */
type Outcome =
  | { partition: number; ok: true; end: number }
  | { partition: number; ok: false; at: number | null; error: string };

async function runCase(kind: StoreKind, c: Case): Promise<Observed> {
  runs += 1;
  const group = `prop-${runs}`;
  const thrown = new Set<string>();
  const readAhead = c.readAhead ?? true;
  const consumer = consumerFor(group, thrown, readAhead ? tablesOf(c) : undefined);
  const context = lambdaContext(consumer);
  const stores = await storeFor(kind);
  let warm = instanceOf(consumer, stores.current(), c.cacheBytes, readAhead);
  let other = instanceOf(consumer, stores.current(), c.cacheBytes, readAhead);

  const records = c.partitions.map((rs, partition) =>
    rs.map((r) =>
      eventRecordOf(
        { topic: TOPIC, partition, offset: r.offset, key: r.key, value: r.ops, timestamp: 0 },
        `p${partition}@${r.offset}`,
      ),
    ),
  );
  /** Per partition: the index of the next record the poller hands out. */
  const pos = c.partitions.map(() => 0);
  const fails = c.partitions.map(() => 0);
  const stuck = new Map<number, { offset: number | null; error: string }>();
  const history: Array<Map<number, [start: number, end: number]>> = [];

  const cut = (takeN: number[], backN: number[]) => {
    const slices = new Map<number, [number, number]>();
    records.forEach((rs, p) => {
      if (stuck.has(p)) return;
      const start = Math.max(0, pos[p]! - (backN[p] ?? 0));
      const end = Math.min(rs.length, pos[p]! + (takeN[p] ?? 0));
      if (end > start) slices.set(p, [start, end]);
    });
    return slices;
  };

  const invoke = async (
    instance: Instance,
    slices: Map<number, [number, number]>,
  ): Promise<Outcome[]> => {
    const list: EventRecord[] = [];
    for (const [p, [start, end]] of [...slices].sort((a, b) => a[0] - b[0]))
      list.push(...records[p]!.slice(start, end));
    const before = instance.reports.length;
    let error: unknown;
    try {
      await instance.handler(eventOf(list), context);
    } catch (e) {
      error = e;
    }
    const report = instance.reports.length > before ? instance.reports.at(-1) : undefined;
    const failures = error instanceof BatchFailedError ? [...error.failures] : error ? [error] : [];
    const unnamed = failures.filter((f) => !(f instanceof RecordFailedError));
    const fulfilled = new Map(report?.partitions.map((s) => [s.partition, s]));
    return [...slices.keys()]
      .sort((a, b) => a - b)
      .map((partition): Outcome => {
        const s = fulfilled.get(partition);
        const end = slices.get(partition)![1];
        if (s && !s.failure) return { partition, ok: true, end };
        if (s?.failure) {
          const cause = s.failure.cause;
          return { partition, ok: false, at: s.failure.offset, error: describeError(cause) };
        }
        return { partition, ok: false, at: null, error: describeError(unnamed.shift() ?? error) };
      });
  };

  /** Moves the poller as Lambda would: past what succeeded, back to a failed record. */
  const settle = (outcomes: Outcome[]) => {
    for (const p of new Set(outcomes.map((o) => o.partition))) {
      if (stuck.has(p)) continue;
      const mine = outcomes.filter((o) => o.partition === p);
      let best = -1;
      let bestFailed = false;
      let failure: { offset: number | null; error: string } | undefined;
      for (const o of mine) {
        const reached = o.ok
          ? o.end
          : o.at === null
            ? -1
            : records[p]!.findIndex((r) => r.offset === o.at);
        if (!o.ok) failure = { offset: o.at, error: o.error };
        if (reached > best || (reached === best && o.ok)) {
          best = reached;
          bestFailed = !o.ok;
        }
      }
      if (best > pos[p]!) {
        pos[p] = best;
        fails[p] = bestFailed ? 1 : 0;
      } else if (failure) fails[p]! += 1;
      // Three deliveries in a row that fail without progress: a record that never commits.
      if (failure && fails[p]! >= 3) stuck.set(p, failure);
    }
  };

  const fresh = () => instanceOf(consumer, stores.current(), c.cacheBytes, readAhead);
  const pick = (v: Via) => (v === 'warm' ? warm : v === 'other' ? other : fresh());

  for (const action of c.schedule) {
    if (action.kind === 'restart') {
      stores.restart();
      warm = fresh();
      other = fresh();
    } else if (action.kind === 'resend') {
      if (history.length === 0) continue;
      const slices = new Map(
        [...history[action.which % history.length]!].filter(([p]) => !stuck.has(p)),
      );
      if (slices.size > 0) settle(await invoke(pick(action.via), slices));
    } else {
      const slices = cut(action.take, action.back);
      if (slices.size === 0) continue;
      history.push(slices);
      if (action.kind === 'next') settle(await invoke(pick(action.via), slices));
      else {
        // A shorter slice of the same records at the same time, as from a zombie invocation.
        const shorter = new Map(
          [...slices].map(([p, [start, end]]): [number, [number, number]] => [
            p,
            [start, start + Math.max(1, Math.floor((end - start) / 2))],
          ]),
        );
        settle((await Promise.all([invoke(warm, slices), invoke(other, shorter)])).flat());
      }
    }
  }
  // Lambda goes on until every partition is consumed (or retries a record that never commits).
  for (let round = 0; round < 100; round++) {
    const slices = cut(
      records.map((rs) => rs.length),
      [],
    );
    if (slices.size === 0) break;
    settle(await invoke(warm, slices));
  }

  tally.runs += 1;
  tally.records += records.flat().length;
  tally.stuck += stuck.size;
  const final = stores.final();
  const observed: Observed = { tables: {}, checkpoints: [], stuck: [] };
  for (const name of tablesOf(c)) {
    const rows = [...(await final.scanTable(group, name))].sort((a, b) =>
      a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0,
    );
    if (rows.length > 0) observed.tables[name] = rows;
  }
  observed.checkpoints = (await final.scanCheckpoints(group))
    .map(({ partition, offset }) => ({ partition, offset }))
    .sort((a, b) => a.partition - b.partition);
  observed.stuck = [...stuck]
    .map(([partition, s]) => ({ partition, ...s }))
    .sort((a, b) => a.partition - b.partition);
  return observed;
}

// ---------------------------------------------------------------------------------------------
// Comparing

const show = (v: unknown) => (v === undefined ? '(absent)' : fc.stringify(v));

/** What differs between the fold and a store, one line per item, checkpoint or stuck partition. */
function differences(expected: Observed, actual: Observed): string[] {
  const lines: string[] = [];
  for (const name of new Set([...Object.keys(expected.tables), ...Object.keys(actual.tables)])) {
    const want = new Map(expected.tables[name] ?? []);
    const got = new Map(actual.tables[name] ?? []);
    for (const key of new Set([...want.keys(), ...got.keys()])) {
      if (!isDeepStrictEqual(want.get(key), got.get(key))) {
        lines.push(
          `${name}[${JSON.stringify(key)}]: fold ${show(want.get(key))}, store ${show(got.get(key))}`,
        );
      }
    }
  }
  const partitions = new Set([
    ...expected.checkpoints.map((c) => c.partition),
    ...actual.checkpoints.map((c) => c.partition),
  ]);
  for (const p of partitions) {
    const want = expected.checkpoints.find((c) => c.partition === p)?.offset;
    const got = actual.checkpoints.find((c) => c.partition === p)?.offset;
    if (want !== got)
      lines.push(`checkpoint of partition ${p}: fold ${show(want)}, store ${show(got)}`);
  }
  for (const p of new Set([...expected.stuck, ...actual.stuck].map((s) => s.partition))) {
    const want = expected.stuck.find((s) => s.partition === p);
    const got = actual.stuck.find((s) => s.partition === p);
    if (want?.offset === got?.offset && want && got) continue;
    lines.push(
      `partition ${p}: ${want ? `the fold stops at the record at offset ${want.offset}` : 'the fold consumes every record'}, the store ${got ? `stopped${got.offset === null ? ' (a whole slice failed)' : ` at offset ${got.offset}`}: ${got.error}` : 'consumed every record'}`,
    );
  }
  return lines;
}

function report(lines: string[], limit = 25): string {
  return lines.length <= limit
    ? lines.join('\n')
    : `${lines.slice(0, limit).join('\n')}\n… and ${lines.length - limit} more`;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Runs one property with the file's seed. `where` is a fragment of the describe block's name and
 * the test's name: the failure says how to rerun just that test.
 */
async function check(
  where: [group: string, test: string],
  property: fc.IAsyncProperty<[Case]>,
  numRuns: number,
  budgetMs: number,
  examples: readonly Case[] = [],
) {
  const name = `${where[0]}: ${where[1]}`;
  resetTally();
  const started = performance.now();
  try {
    await fc.assert(property, {
      seed: SEED,
      numRuns,
      examples: examples.map((c): [Case] => [c]),
      ...(PATH ? { path: PATH } : {}),
      plugins: [fc.interruptAfterTimeLimit(budgetMs)],
    });
  } catch (error) {
    if (error instanceof Error) {
      const only = `${escapeRegExp(where[0])}.*${escapeRegExp(where[1])}$`;
      error.message = `${name}\n${error.message}\n\nReplay: DOGEAR_PROPERTY_SEED=${SEED} npx vitest run test/state-property.test.ts -t '${only}' (add DOGEAR_PROPERTY_PATH=<path above> to start at the counterexample)`;
    }
    throw error;
  } finally {
    process.stderr.write(
      `${name}: ${tally.runs} runs (shrinking included), ${tally.records} records, ${tally.invocations} invocations, ${tally.duplicates} duplicates skipped, ${tally.failed} failed slices, ${tally.reruns} reruns (${tally.fences} fenced), ${tally.stuck} partitions stopped; ${Math.round(performance.now() - started)} ms\n`,
    );
  }
}

/** Cases the brief names, run before the random ones: a failure among them needs no shrinking. */
const at = (offset: number, ...ops: Op[]): Rec => ({ offset, key: '0/a', ops });
const add = (key: string, n: number): Op => ({ op: 'add', table: 'n0', key, n });
/** `sizes` records per batch in partition 0, then whatever is left in one. */
const inBatches = (records: Rec[], ...sizes: number[]): Case => ({
  partitions: [records],
  schedule: sizes.map((n) => ({ kind: 'next', take: [n, 0, 0], back: [0, 0, 0], via: 'warm' })),
});
const decimals = [
  at(0, add('a', 0.1)),
  at(1, add('a', 0.2)),
  at(2, { op: 'copy', from: ['n0', 'a'], to: ['j0', 'a'] }),
];
const pastSafe = [
  at(0, add('c', 2 ** 53)),
  at(1, add('c', 1)),
  at(2, add('c', 1), { op: 'copy', from: ['n0', 'c'], to: ['j0', 'c'] }),
  at(3, add('c', -(2 ** 53))),
];

const SPECIAL_KEYS =
  '{"__proto__":{"x":1},"constructor":2,"toString":"s","0":[{"__proto__":null}]}';

const PROPERTIES: ReadonlyArray<{
  label: string;
  cfg: Cfg;
  /** Of the store's runs. */
  share: number;
  examples?: Case[];
}> = [
  { label: 'integers, strings and nested JSON', cfg: CFG_JSON, share: 1 },
  {
    label: 'map keys __proto__, constructor, toString',
    cfg: CFG_KEYS,
    share: 0.5,
    examples: [
      inBatches([
        // JSON.parse makes `__proto__` an own key, as decoding a record does; a literal would not.
        at(0, { op: 'set', table: 'j0', key: 'a', value: JSON.parse(SPECIAL_KEYS) }),
        at(1, { op: 'copy', from: ['j0', 'a'], to: ['j0', 'b'] }),
      ]),
    ],
  },
  {
    label: 'decimal fractions (0.1 + 0.2 is 0.3)',
    cfg: CFG_DECIMAL,
    share: 1,
    examples: [
      inBatches([at(0, add('a', 0.1), add('a', 0.2))]),
      inBatches(decimals),
      inBatches(decimals, 1, 1),
    ],
  },
  {
    label: 'numbers past 2^53',
    cfg: CFG_BIG,
    share: 1,
    examples: [
      inBatches(pastSafe),
      inBatches(pastSafe, 1, 1, 1),
      inBatches([
        at(0, { op: 'set', table: 'n0', key: 'b', value: 2 ** 60 }),
        at(1, { op: 'set', table: 'j0', key: 'b', value: { n: 2 ** 60, list: [2 ** 64] } }),
      ]),
    ],
  },
];

for (const { label, cfg, share, examples } of PROPERTIES) {
  describe(`state equals the fold of the records: ${label}`, () => {
    for (const kind of STORES) {
      const name = `${kind} store`;
      test(
        name,
        async () => {
          await check(
            [label, name],
            fc.asyncProperty(caseArb(cfg), async (c) => {
              const lines = differences(fold(c), await runCase(kind, c));
              if (lines.length > 0)
                throw new Error(`${kind} store differs from the fold:\n${report(lines)}`);
            }),
            Math.max(1, Math.round(RUNS[kind] * share)),
            BUDGET_MS[kind],
            examples,
          );
        },
        TEST_TIMEOUT_MS,
      );
    }
  });
}

describe('a value DynamoDB refuses fails its record with the same error in every store, and stops only its partition', () => {
  for (const invalid of Object.keys(INVALID) as Array<keyof typeof INVALID>) {
    const name = `${invalid}`;
    test(
      name,
      async () => {
        await check(
          ['DynamoDB refuses', name],
          fc.asyncProperty(invalidCaseArb(invalid), async (c) => {
            const expected = fold(c);
            const lines: string[] = [];
            const stuck = new Map<StoreKind, Observed['stuck']>();
            for (const kind of STORES) {
              const actual = await runCase(kind, c);
              stuck.set(kind, actual.stuck);
              lines.push(...differences(expected, actual).map((l) => `${kind}: ${l}`));
            }
            const [first, ...rest] = STORES;
            for (const kind of rest) {
              if (!isDeepStrictEqual(stuck.get(kind), stuck.get(first!))) {
                lines.push(
                  `${kind} stopped ${show(stuck.get(kind))} where ${first} stopped ${show(stuck.get(first!))}`,
                );
              }
            }
            if (lines.length > 0) throw new Error(`stores differ:\n${report(lines, 40)}`);
          }),
          INVALID_RUNS,
          BUDGET_MS.dynamodb / 2,
        );
      },
      TEST_TIMEOUT_MS,
    );
  }
});
