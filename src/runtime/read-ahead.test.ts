/**
 * Batched reads: what a slice reads ahead, and what it does not. The store counts its reads;
 * that the results are the same with and without reading ahead is test/state-property.test.ts's
 * job (it runs both), and that a stale item read ahead is fenced is test/dynamo-store.test.ts's.
 */
import { describe, expect, test } from 'vitest';
import { eventOf, eventRecordOf, type NdjsonRecord } from '../event/index.ts';
import { type ItemRef, MemoryStateStore, StateCache, type StoredItem } from '../state/index.ts';
import { defineConsumer } from './consumer.ts';
import { BatchFailedError, RecordFailedError } from './errors.ts';
import { createHandler, type InvocationReport } from './handler.ts';
import { lambdaContext } from './lambda-context.ts';
import { createLogger } from './logger.ts';
import type { ConsumerDefinition } from './types.ts';

/** A memory store that counts its reads: one `readItem` per item, one `readItems` per batch. */
class CountingStore extends MemoryStateStore {
  single = 0;
  batches: ItemRef[][] = [];
  override async readItem(group: string, table: string, key: string): Promise<StoredItem> {
    this.single++;
    return super.readItem(group, table, key);
  }
  override async readItems(group: string, refs: readonly ItemRef[]): Promise<StoredItem[]> {
    this.batches.push([...refs]);
    return super.readItems(group, refs);
  }
}

interface Payment {
  id: string;
  account: string;
  amount: number;
}

/** `count` payments on partition 0, over `accounts` accounts, keyed by account. */
function payments(count: number, accounts: number, topic = 'payments'): NdjsonRecord[] {
  return Array.from({ length: count }, (_, offset) => {
    const account = `acct-${offset % accounts}`;
    const value: Payment = { id: `p${offset}`, account, amount: offset + 1 };
    return { topic, partition: 0, offset, key: account, value: JSON.stringify(value) };
  });
}

async function run(
  definition: ConsumerDefinition,
  store: MemoryStateStore,
  records: NdjsonRecord[],
  options: { readAhead?: boolean; cache?: StateCache } = {},
) {
  const reports: InvocationReport[] = [];
  const lines: string[] = [];
  const handler = createHandler(definition, {
    store,
    cache: options.cache ?? new StateCache(),
    log: createLogger((line) => lines.push(line), 'debug'),
    onReport: (r) => reports.push(r),
    ...(options.readAhead === undefined ? {} : { readAhead: options.readAhead }),
  });
  const event = eventOf(records.map((r, i) => eventRecordOf(r, `record ${i}`)));
  let error: unknown;
  try {
    await handler(event, lambdaContext(definition));
  } catch (e) {
    error = e;
  }
  return { reports, lines, error };
}

const balances = () =>
  defineConsumer({ name: 'balances', topic: 'payments' }, async (record, ctx) => {
    const { amount } = record.value as Payment;
    await ctx.state.update((b) => ((b as number | undefined) ?? 0) + amount);
  });

describe('a slice reads ahead, in one batch, the ctx.state items its records will read', () => {
  test('20 records over 5 accounts: one batch of the 5 items, no read one by one', async () => {
    const store = new CountingStore();
    await run(balances(), store, payments(20, 5));
    expect(store.single).toBe(0);
    expect(store.batches.map((b) => b.map((r) => `${r.table}/${r.key}`).sort())).toEqual([
      ['state/acct-0', 'state/acct-1', 'state/acct-2', 'state/acct-3', 'state/acct-4'],
    ]);
    const state = await store.scanTable('balances', 'state');
    // acct-0 gets payments 0, 5, 10, 15: amounts 1 + 6 + 11 + 16.
    expect(state.get('acct-0')).toBe(34);
    expect([...state.values()].reduce((a, b) => (a as number) + (b as number), 0)).toBe(210);
  });

  test('with readAhead: false, each item is read when its first record reads it', async () => {
    const store = new CountingStore();
    await run(balances(), store, payments(20, 5), { readAhead: false });
    expect(store.batches).toEqual([]);
    expect(store.single).toBe(5);
    expect((await store.scanTable('balances', 'state')).get('acct-0')).toBe(34);
  });

  test('a warm process reads ahead only the items its cache does not hold', async () => {
    const store = new CountingStore();
    const cache = new StateCache();
    await run(balances(), store, payments(10, 5), { cache });
    // The next batch brings two new accounts beside three known ones.
    const next = payments(16, 7).slice(10);
    await run(balances(), store, next, { cache });
    expect(store.batches.map((b) => b.map((r) => r.key).sort())).toEqual([
      ['acct-0', 'acct-1', 'acct-2', 'acct-3', 'acct-4'],
      ['acct-5', 'acct-6'],
    ]);
    expect(store.single).toBe(0);
  });

  test('a consumer that only adds (word-count) reads nothing, ahead or not', async () => {
    const store = new CountingStore();
    const counts = defineConsumer({ name: 'counts', topic: 'payments' }, (record, ctx) => {
      ctx.state.add((record.value as Payment).amount);
      ctx.table('ids').set((record.value as Payment).id, 1);
    });
    await run(counts, store, payments(20, 5));
    expect(store.batches).toEqual([]);
    expect(store.single).toBe(0);
  });
});

describe('ConsumerOptions.reads names the ctx.table items a record reads', () => {
  const dedup = (reads = true) =>
    defineConsumer(
      {
        name: 'dedup',
        topic: 'payments',
        ...(reads ? { reads: { seen: (record) => (record.value as Payment).id } } : {}),
      },
      async (record, ctx) => {
        const { id, account, amount } = record.value as Payment;
        if (await ctx.table('seen').get(id)) return;
        ctx.table('seen').set(id, 1);
        ctx.table('totals').add(account, amount);
      },
    );

  test('the named items are read in one batch at the slice first read; a duplicate id counts once', async () => {
    const store = new CountingStore();
    const records = payments(6, 2);
    // Offset 6 redelivers payment p1 under a new offset: it must not count again.
    records.push({ ...records[1]!, offset: 6 });
    await run(dedup(), store, records);
    expect(store.single).toBe(0);
    expect(store.batches).toHaveLength(1);
    expect(store.batches[0]!.map((r) => r.key).sort()).toEqual([
      'p0',
      'p1',
      'p2',
      'p3',
      'p4',
      'p5',
    ]);
    const totals = await store.scanTable('dedup', 'totals');
    expect(Object.fromEntries(totals)).toEqual({ 'acct-0': 1 + 3 + 5, 'acct-1': 2 + 4 + 6 });
  });

  test('without reads, each ctx.table read is one read of the store', async () => {
    const store = new CountingStore();
    await run(dedup(false), store, payments(6, 2));
    expect(store.batches).toEqual([]);
    expect(store.single).toBe(6);
  });

  test('a reads function that throws names nothing for that record, is logged, and the record still runs', async () => {
    const store = new CountingStore();
    const definition = defineConsumer(
      {
        name: 'picky',
        topic: 'payments',
        reads: {
          seen: (record) => {
            if (record.offset === 2) throw new Error('no id here');
            return (record.value as Payment).id;
          },
        },
      },
      async (record, ctx) => {
        await ctx.table('seen').get((record.value as Payment).id);
        ctx.table('seen').set((record.value as Payment).id, record.offset);
      },
    );
    const { reports, lines } = await run(definition, store, payments(4, 4));
    expect(reports[0]!.processed).toBe(4);
    expect(store.batches[0]!.map((r) => r.key).sort()).toEqual(['p0', 'p1', 'p3']);
    expect(store.single).toBe(1);
    const warning = lines.map((l) => JSON.parse(l)).find((l) => l.level === 'warn');
    expect(warning).toMatchObject({ offset: 2, error: 'no id here' });
    expect(warning.message).toContain('reads.seen threw for 1 record(s)');
  });

  test('a record that does not decode is not read ahead, and fails in its turn with its own error', async () => {
    const store = new CountingStore();
    const records = payments(4, 4);
    records[2] = { ...records[2]!, value: '{not json' };
    const { reports, error } = await run(dedup(), store, records);
    expect(store.batches[0]!.map((r) => r.key).sort()).toEqual(['p0', 'p1', 'p3']);
    expect(reports[0]!.processed).toBe(2);
    expect(error).toBeInstanceOf(BatchFailedError);
    const failure = (error as BatchFailedError).failures[0] as RecordFailedError;
    expect(failure).toBeInstanceOf(RecordFailedError);
    expect(failure.offset).toBe(2);
    expect(failure.message).toContain('payments-0@2');
    expect(failure.message).toMatch(/JSON/);
  });
});

describe('table.getMany', () => {
  test('in @onBatch: the keys not held are read in one batch, values come back in key order', async () => {
    const store = new CountingStore();
    const seed = defineConsumer({ name: 'many', topic: 'payments' }, (record, ctx) => {
      ctx.table('totals').set((record.value as Payment).account, record.offset);
    });
    await run(seed, store, payments(3, 3));
    const reader = defineConsumer(
      { name: 'many', topic: 'payments' },
      {
        onBatch: async (slice, ctx) => {
          const accounts = slice.records.map((r) => (r.value as Payment).account);
          const values = await ctx.table('totals').getMany([...accounts, 'acct-9', accounts[0]!]);
          ctx.table('seen').set(
            'values',
            values.map((v) => v ?? null),
          );
        },
      },
    );
    const later = payments(6, 3).slice(3);
    await run(reader, store, later);
    expect(store.batches.map((b) => b.map((r) => r.key))).toEqual([
      ['acct-0', 'acct-1', 'acct-2', 'acct-9'],
    ]);
    expect(store.single).toBe(0);
    expect((await store.scanTable('many', 'seen')).get('values')).toEqual([0, 1, 2, null, 0]);
  });

  test('a key that is not valid is refused naming the record', async () => {
    const store = new CountingStore();
    const definition = defineConsumer({ name: 'bad-key', topic: 'payments' }, async (_r, ctx) => {
      await ctx.table('totals').getMany(['ok', 'x'.repeat(3000)]);
    });
    const { error } = await run(definition, store, payments(1, 1));
    expect(String((error as Error).message)).toContain('payments-0@0');
    expect(store.batches).toEqual([]);
  });
});

describe('found in review', () => {
  test('a slice reads ahead 250 records at a time, so what it holds read ahead stays bounded', async () => {
    const store = new CountingStore();
    await run(balances(), store, payments(600, 600));
    expect(store.batches.map((b) => b.length)).toEqual([250, 250, 100]);
    expect(store.single).toBe(0);
  });

  test("ctx.table('') is refused after a ctx.state read, as before it", async () => {
    const store = new CountingStore();
    const definition = defineConsumer({ name: 'empty', topic: 'payments' }, async (_r, ctx) => {
      await ctx.state.get();
      ctx.table('').set('k', 1);
    });
    const { error } = await run(definition, store, payments(1, 1));
    expect(String((error as Error)?.message)).toMatch(/Table name '' must be/);
  });
});
