/**
 * What a value and a key may be, and what numbers mean, checked the same way on all three stores
 * (memory, file, DynamoDB Local), through the runtime as a consumer meets them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, test } from 'vitest';
import type { NdjsonRecord } from '../src/event/index.ts';
import { type Context, defineConsumer, RecordFailedError } from '../src/runtime/index.ts';
import {
  FileStateStore,
  MemoryStateStore,
  openDynamoStateStore,
  type StateStore,
} from '../src/state/index.ts';
import { invoke } from '../src/testing/index.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

let tables = 0;
const stores: Record<string, () => Promise<StateStore>> = {
  memory: async () => new MemoryStateStore(),
  file: async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dogear-rules-'));
    dirs.push(dir);
    return new FileStateStore(dir);
  },
  dynamodb: async () =>
    openDynamoStateStore({
      endpoint: inject('dynamodbEndpoint'),
      table: `dogear-rules-${++tables}-${Date.now()}`,
    }),
};

/** A value nested `depth` maps deep. */
const nested = (depth: number): unknown => (depth === 0 ? 1 : { d: nested(depth - 1) });

/** Values DynamoDB refuses, each with what the error must say. */
const refused: Array<[string, () => unknown, RegExp]> = [
  ['a map with an empty key', () => ({ '': 1 }), /empty/],
  ['nesting deeper than 32 levels', () => nested(33), /32 levels/],
  ['a number past DynamoDB’s range', () => 1e300, /range/],
  ['a BigInt', () => 10n, /BigInt/],
  ['a Date', () => new Date(0), /toISOString|plain/],
];

/** Each record says what it does: `{ set: value-name }` or `{ add: n }` on `t/<key>`. */
interface Op {
  key: string;
  set?: string;
  add?: number;
  update?: 'inc';
  n?: number;
}

function opsConsumer(values: Record<string, () => unknown>, batchSize = 500) {
  return defineConsumer({ name: 'rules', topic: 't', batchSize }, async (record, ctx: Context) => {
    const op = record.value as Op;
    const table = ctx.table('t');
    if (op.set !== undefined) table.set(op.key, values[op.set]!());
    if (op.add !== undefined) table.add(op.key, op.add);
    if (op.update === 'inc')
      await table.update(op.key, (v) => (v === undefined ? 0 : (v as number)) + (op.n ?? 1));
  });
}

const records = (ops: Op[], partition = 0): NdjsonRecord[] =>
  ops.map((value, offset) => ({ topic: 't', partition, offset, value }));

for (const [kind, open] of Object.entries(stores)) {
  describe(`${kind} store`, () => {
    describe('a value DynamoDB refuses fails its own record, by name', () => {
      for (const [what, make, says] of refused) {
        test(what, async () => {
          const store = await open();
          const run = await invoke(
            opsConsumer({ good: () => ({ ok: true }), bad: make }),
            records([
              { key: 'a', set: 'good' },
              { key: 'b', add: 2 },
              { key: 'c', set: 'bad' },
              { key: 'd', set: 'good' },
            ]),
            { store },
          );
          const failure = run.reports[0]!.partitions[0]!.failure;
          expect(failure).toBeInstanceOf(RecordFailedError);
          expect(failure!.offset).toBe(2);
          expect(failure!.message).toMatch(/t-0@2/);
          expect(failure!.message).toMatch(/t\/c/);
          expect(failure!.message).toMatch(says);
          // The records before it committed; the one after did not run.
          expect(await run.table('t')).toEqual({ a: { ok: true }, b: 2 });
          expect((await store.scanCheckpoints('rules'))[0]!.offset).toBe(1);
        });
      }

      test('in a slice wide enough for an intent (more than 99 writes)', async () => {
        const store = await open();
        const ops: Op[] = Array.from({ length: 151 }, (_, i) => ({ key: `k${i}`, add: 1 }));
        ops.splice(120, 0, { key: 'deep', set: 'bad' });
        const run = await invoke(opsConsumer({ bad: () => nested(40) }), records(ops), { store });
        const failure = run.reports[0]!.partitions[0]!.failure;
        expect(failure?.offset).toBe(120);
        const table = await run.table('t');
        expect(Object.keys(table)).toHaveLength(120);
        expect(table.k119).toBe(1);
        // The partition is not stuck: the next delivery reads the checkpoint and goes on.
        const again = await invoke(opsConsumer({ bad: () => 'fixed' }), records(ops), { store });
        expect(again.error).toBeUndefined();
        expect(Object.keys(await again.table('t'))).toHaveLength(152);
      });
    });

    test('blind values whose JSON is larger than DynamoDB counts them still fit an intent', async () => {
      const store = await open();
      const ops: Op[] = Array.from({ length: 150 }, (_, i) => ({ key: `k${i}`, set: 'flags' }));
      const run = await invoke(opsConsumer({ flags: () => Array(600).fill(true) }), records(ops), {
        store,
      });
      expect(run.error).toBeUndefined();
      expect(Object.keys(await run.table('t'))).toHaveLength(150);
    });

    test('a partition key over 2,048 bytes fails its record, by name', async () => {
      const store = await open();
      const long = 'x'.repeat(2100);
      const run = await invoke(
        opsConsumer({}),
        records([
          { key: 'a', add: 1 },
          { key: long, add: 1 },
        ]),
        { store },
      );
      const failure = run.reports[0]!.partitions[0]!.failure;
      expect(failure?.offset).toBe(1);
      expect(failure?.message).toMatch(/2,?048 bytes/);
      expect(await run.table('t')).toEqual({ a: 1 });
    });

    test('a large integer (a nanosecond timestamp) is stored and read back as it was set', async () => {
      const store = await open();
      const ns = 1733011200123456800; // a nanosecond timestamp, as JSON.parse rounds it
      const run = await invoke(
        opsConsumer({ ns: () => ns, obj: () => ({ at: ns, list: [ns, -ns] }) }),
        records([
          { key: 'n', set: 'ns' },
          { key: 'o', set: 'obj' },
        ]),
        { store },
      );
      expect(run.error).toBeUndefined();
      expect(await run.table('t')).toEqual({ n: ns, o: { at: ns, list: [ns, -ns] } });
    });

    describe('numbers are decimals, as DynamoDB holds them', () => {
      test('0.1 + 0.2 is 0.3, in one slice and across two, warm and cold', async () => {
        const ops: Op[] = [
          { key: 'x', add: 0.1 },
          { key: 'x', add: 0.2 },
        ];
        const one = await invoke(opsConsumer({}), records(ops), { store: await open() });
        expect(await one.table('t')).toEqual({ x: 0.3 });
        const two = await invoke(opsConsumer({}, 1), records(ops), { store: await open() });
        expect(await two.table('t')).toEqual({ x: 0.3 });
        // A read after the adds (warm cache, then a cold process) sees the same number.
        const store = await open();
        const seen: unknown[] = [];
        const reader = defineConsumer(
          { name: 'rules', topic: 't', batchSize: 1 },
          async (r, ctx) => {
            const op = r.value as Op;
            if (op.add !== undefined) ctx.table('t').add(op.key, op.add);
            else seen.push(await ctx.table('t').get(op.key));
          },
        );
        const readOps: Op[] = [...ops, { key: 'x' }];
        await invoke(reader, records(readOps), { store });
        await invoke(reader, records([...readOps, { key: 'x' }]), { store });
        expect(seen).toEqual([0.3, 0.3]);
      });

      test('a counter added past 2^53 keeps counting exactly and stays a number', async () => {
        const store = await open();
        const big = 2 ** 53;
        const ops: Op[] = [
          { key: 'c', add: big },
          { key: 'c', add: 1 },
          { key: 'c', add: 1 },
          { key: 'c', update: 'inc', n: 0 },
        ];
        const run = await invoke(opsConsumer({}, 2), records(ops), { store });
        expect(run.error).toBeUndefined();
        const value = (await run.table('t')).c;
        expect(typeof value).toBe('number');
        expect(value).toBe(big + 2);
      });
    });

    test('99 read-then-writes, a blind add, then a read of the blind key: the slice commits', async () => {
      const store = await open();
      const ops: Op[] = Array.from({ length: 99 }, (_, i) => ({ key: `r${i}`, update: 'inc' }));
      ops.push({ key: 'blind', add: 5 }, { key: 'blind', update: 'inc' });
      const run = await invoke(opsConsumer({}), records(ops), { store });
      expect(run.error).toBeUndefined();
      const table = await run.table('t');
      expect(Object.keys(table)).toHaveLength(100);
      expect(table.blind).toBe(6);
      expect((await store.scanCheckpoints('rules'))[0]!.offset).toBe(100);
    });
  });
}
