import fc from 'fast-check';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { cacheBudget, cachedBytes, StateCache } from './cache.ts';
import { MemoryStateStore } from './memory.ts';
import { StateTransaction } from './transaction.ts';
import type { PartitionRef, StoredItem } from './types.ts';

const MiB = 1024 * 1024;
const item = (value: unknown, version = 1): StoredItem => ({ value, version, exists: true });
/** Items of one size, so a budget can be given in items. */
const same = (i: number) => item(`value-${String(i).padStart(4, '0')}`);
const sizeOfSame = cachedBytes('k0000', same(0));
const id = (i: number) => `k${String(i).padStart(4, '0')}`;

describe('the byte budget', () => {
  test('evicts the least recently used item first when a set goes over the budget', () => {
    const cache = new StateCache({ maxBytes: 3 * sizeOfSame });
    for (let i = 0; i < 3; i++) cache.setWritten(id(i), same(i));
    expect(cache.bytes).toBe(3 * sizeOfSame);
    cache.setWritten(id(3), same(3));
    expect(cache.item(id(0))).toBeUndefined();
    expect(cache.item(id(1))).toEqual(same(1));
    expect(cache.item(id(2))).toEqual(same(2));
    expect(cache.item(id(3))).toEqual(same(3));
    expect(cache.bytes).toBe(3 * sizeOfSame);
  });

  test('a read makes an item the most recently used', () => {
    const cache = new StateCache({ maxBytes: 3 * sizeOfSame });
    for (let i = 0; i < 3; i++) cache.setRead(id(i), same(i));
    expect(cache.item(id(0))).toEqual(same(0));
    cache.setRead(id(3), same(3));
    expect(cache.item(id(1))).toBeUndefined();
    expect(cache.item(id(0))).toEqual(same(0));
  });

  test('one large item evicts as many small ones as it needs, oldest first', () => {
    const cache = new StateCache({ maxBytes: 4 * sizeOfSame });
    for (let i = 0; i < 4; i++) cache.setWritten(id(i), same(i));
    // Each character adds two bytes: this one costs about one and a half of the others.
    const big = item('x'.repeat(Math.floor((1.5 * sizeOfSame - cachedBytes('big', item(''))) / 2)));
    expect(cachedBytes('big', big)).toBeGreaterThan(sizeOfSame);
    expect(cachedBytes('big', big)).toBeLessThanOrEqual(2 * sizeOfSame);
    cache.setWritten('big', big);
    expect([0, 1, 2, 3].map((i) => cache.item(id(i)) !== undefined)).toEqual([
      false,
      false,
      true,
      true,
    ]);
    expect(cache.item('big')).toEqual(big);
  });

  test('an item larger than the whole budget is not kept, nor the older copy it replaces', () => {
    const cache = new StateCache({ maxBytes: 10_000 });
    cache.setWritten('small', item('s'));
    cache.setWritten('huge', item('small first', 1));
    const huge = item('h'.repeat(20_000), 2);
    cache.setWritten('huge', huge);
    expect(cache.item('huge')).toBeUndefined();
    expect(cache.item('small')).toEqual(item('s'));
    expect(cache.bytes).toBe(cachedBytes('small', item('s')));
  });

  test('a dropped, expired or cleared item gives its bytes back', () => {
    let now = 0;
    const cache = new StateCache({ maxBytes: 10_000, maxReadAgeMs: 1000, now: () => now });
    cache.setRead('read', item('r'));
    cache.setWritten('written', item('w'));
    cache.dropItem('written');
    expect(cache.bytes).toBe(cachedBytes('read', item('r')));
    now = 1001;
    expect(cache.item('read')).toBeUndefined();
    expect(cache.bytes).toBe(0);
    cache.setWritten('again', item('a'));
    cache.clear();
    expect(cache.bytes).toBe(0);
  });

  test('never holds more bytes than its budget, and keeps what an LRU list of that budget keeps', () => {
    const op = fc.oneof(
      fc.record({
        op: fc.constantFrom('setRead' as const, 'setWritten' as const),
        key: fc.integer({ min: 0, max: 8 }),
        value: fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.integer(),
          fc.array(fc.integer(), { maxLength: 20 }),
          fc.jsonValue({ maxDepth: 2 }),
        ),
      }),
      fc.record({ op: fc.constant('item' as const), key: fc.integer({ min: 0, max: 8 }) }),
      fc.record({ op: fc.constant('dropItem' as const), key: fc.integer({ min: 0, max: 8 }) }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1500 }),
        fc.array(op, { minLength: 10, maxLength: 100, size: 'max' }),
        (max, ops) => {
          const cache = new StateCache({ maxBytes: max });
          // The model: most recently used last, each with its size.
          let model: Array<{ id: string; item: StoredItem; bytes: number }> = [];
          for (const step of ops) {
            const key = `k${step.key}`;
            if (step.op === 'item') {
              const found = model.find((e) => e.id === key);
              expect(cache.item(key)).toEqual(found?.item);
              if (found) model = [...model.filter((e) => e !== found), found];
            } else if (step.op === 'dropItem') {
              cache.dropItem(key);
              model = model.filter((e) => e.id !== key);
            } else {
              const stored = item(step.value);
              cache[step.op](key, stored);
              model = model.filter((e) => e.id !== key);
              const bytes = cachedBytes(key, stored);
              if (bytes <= max) model.push({ id: key, item: stored, bytes });
              while (model.reduce((n, e) => n + e.bytes, 0) > max) model.shift();
            }
            expect(cache.bytes).toBeLessThanOrEqual(max);
            expect(cache.bytes).toBe(model.reduce((n, e) => n + e.bytes, 0));
          }
        },
      ),
    );
  });

  test('an item costs at least its JSON and the fixed cost of an entry', () => {
    const value = { name: 'ü'.repeat(10), counts: [1, 2, 3] };
    expect(cachedBytes('id', item(value))).toBeGreaterThan(JSON.stringify(value).length * 2);
    expect(cachedBytes('id', { value: undefined, version: 3, exists: false })).toBeGreaterThan(0);
  });
});

describe('the budget from the function memory', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  test('is a quarter of AWS_LAMBDA_FUNCTION_MEMORY_SIZE', () => {
    expect(cacheBudget('128')).toBe(32 * MiB);
    expect(cacheBudget('10240')).toBe(2560 * MiB);
    vi.stubEnv('AWS_LAMBDA_FUNCTION_MEMORY_SIZE', '512');
    expect(new StateCache().maxBytes).toBe(128 * MiB);
  });

  test('is a quarter of 1024 MiB when the variable is absent or not a size', () => {
    expect(cacheBudget(undefined)).toBe(256 * MiB);
    expect(cacheBudget('')).toBe(256 * MiB);
    expect(cacheBudget('lots')).toBe(256 * MiB);
    expect(cacheBudget('-5')).toBe(256 * MiB);
    vi.stubEnv('AWS_LAMBDA_FUNCTION_MEMORY_SIZE', undefined);
    expect(new StateCache().maxBytes).toBe(256 * MiB);
  });

  test('an explicit maxBytes wins, and a wrong one is refused', () => {
    vi.stubEnv('AWS_LAMBDA_FUNCTION_MEMORY_SIZE', '512');
    expect(new StateCache({ maxBytes: 1000 }).maxBytes).toBe(1000);
    expect(() => new StateCache({ maxBytes: -1 })).toThrow(/maxBytes.*-1/);
    expect(() => new StateCache({ maxBytes: Number.NaN })).toThrow(/maxBytes/);
  });
});

describe('a cache that keeps nothing', () => {
  const p0: PartitionRef = { group: 'g', topic: 't', partition: 0 };

  /** One record at the next offset, committed; returns what `run` returned. */
  async function record<T>(
    store: MemoryStateStore,
    cache: StateCache,
    run: (txn: StateTransaction) => Promise<T> | T,
  ): Promise<T> {
    const txn = await StateTransaction.open(store, cache, p0);
    txn.beginRecord(txn.checkpoint.offset + 1);
    const result = await run(txn);
    txn.endRecord();
    await txn.commit();
    return result;
  }

  test('still reads its own writes, across records and warm invocations', async () => {
    const store = new MemoryStateStore();
    const cache = new StateCache({ maxBytes: 0 });
    await record(store, cache, (txn) => {
      txn.put('t', 'doc', { body: 'first' });
      txn.add('t', 'n', 1);
    });
    const seen = await record(store, cache, async (txn) => {
      const before = await txn.get('t', 'doc');
      txn.put('t', 'doc', { body: 'second' });
      txn.add('t', 'n', 1);
      return [before, await txn.get('t', 'doc'), await txn.get('t', 'n')];
    });
    expect(seen).toEqual([{ body: 'first' }, { body: 'second' }, 2]);
    expect(await record(store, cache, (txn) => txn.get('t', 'doc'))).toEqual({ body: 'second' });
    expect(cache.bytes).toBe(0);
  });
});

describe('versions only move forward', () => {
  test('a read that answers late does not replace a newer version this process wrote', () => {
    const cache = new StateCache();
    cache.setWritten('x', { value: 'mine', version: 2, exists: true });
    cache.setRead('x', { value: undefined, version: 0, exists: false });
    expect(cache.item('x')).toEqual({ value: 'mine', version: 2, exists: true });
    cache.setRead('x', { value: 'theirs', version: 3, exists: true });
    expect(cache.item('x')?.value).toBe('theirs');
  });
});
