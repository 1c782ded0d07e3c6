import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test, vi } from 'vitest';
import { StateCache } from './cache.ts';
import {
  StateConflictError,
  StateLimitError,
  StateProtocolError,
  StateTypeError,
  StateValueError,
} from './errors.ts';
import { FileStateStore } from './file.ts';
import { MemoryStateStore } from './memory.ts';
import { StateTransaction } from './transaction.ts';
import { DYNAMODB_LIMITS, type PartitionRef } from './types.ts';

const GROUP = 'g';
const p0: PartitionRef = { group: GROUP, topic: 't', partition: 0 };
const p1: PartitionRef = { group: GROUP, topic: 't', partition: 1 };

/** A transaction as one invocation opens it; each call is its own process (own cache). */
const open = async (store: MemoryStateStore, partition = p0, cache = new StateCache()) =>
  asSliceRunner(await StateTransaction.open(store, cache, partition));

/**
 * Drives the record lifecycle as the slice runner does, so tests read as records: the first read
 * or write while no record runs begins the next record (offsets 0, 1, 2, … after the checkpoint).
 */
function asSliceRunner(txn: StateTransaction): StateTransaction {
  let offset = txn.checkpoint.offset;
  const steps = new Set<PropertyKey>(['get', 'put', 'add', 'delete']);
  return new Proxy(txn, {
    get(target, name) {
      const value = Reflect.get(target, name, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (steps.has(name) && target.phase === 'idle') target.beginRecord(++offset);
        return value.apply(target, args);
      };
    },
  });
}

/** Commits `values` into table `t` as one record at `offset`, from a fresh process. */
async function seed(store: MemoryStateStore, values: Record<string, unknown>, partition = p1) {
  const txn = await open(store, partition);
  for (const [key, value] of Object.entries(values)) txn.put('t', key, value);
  txn.endRecord();
  await txn.commit();
}

const table = async (store: MemoryStateStore, name = 't') =>
  Object.fromEntries(await store.scanTable(GROUP, name));

describe('buffering', () => {
  test('writes are visible to the transaction but not to the store until commit', async () => {
    const store = new MemoryStateStore();
    const txn = await open(store);
    txn.put('t', 'a', 1);
    txn.add('t', 'b', 2);
    expect(await txn.get('t', 'a')).toBe(1);
    expect(await txn.get('t', 'b')).toBe(2);
    txn.endRecord();
    expect(await table(store)).toEqual({});
    expect((await store.readItem(GROUP, 't', 'a')).exists).toBe(false);
    expect(await store.readCheckpoint(p0)).toMatchObject({ offset: -1, version: 0 });

    await txn.commit();
    expect(await table(store)).toEqual({ a: 1, b: 2 });
    expect(await store.readCheckpoint(p0)).toMatchObject({ offset: 0, version: 1 });
    expect(txn.checkpoint).toEqual({ offset: 0, version: 1 });
  });

  test("aborting a record drops that record's writes and keeps the earlier records'", async () => {
    const store = new MemoryStateStore();
    const txn = await open(store);
    txn.put('t', 'a', 1); // record 0
    txn.endRecord();
    txn.add('t', 'a', 5); // record 1: throws, say
    txn.put('t', 'b', 2);
    txn.delete('t', 'c');
    expect(await txn.get('t', 'a')).toBe(6);
    txn.abortRecord();
    expect(await txn.get('t', 'a')).toBe(1);
    expect(await txn.get('t', 'b')).toBeUndefined();
    txn.put('t', 'c', 3); // record 2
    txn.endRecord();
    await txn.commit();
    expect(await table(store)).toEqual({ a: 1, c: 3 });
  });
});

describe('add', () => {
  test('add needs no read: it is a blind write, and adds from two partitions both land', async () => {
    const store = new MemoryStateStore();
    await seed(store, { n: 10 });
    const read = vi.spyOn(store, 'readItem');
    const commit = vi.spyOn(store, 'commit');
    const a = await open(store, p0);
    const b = await open(store, { ...p0, partition: 2 });
    a.add('t', 'n', 5);
    b.add('t', 'n', 7);
    a.endRecord();
    b.endRecord();
    await b.commit();
    await a.commit(); // no conflict: neither read n, and adds commute
    expect(read).not.toHaveBeenCalled();
    for (const [c] of commit.mock.calls) expect(c.writes[0]!.expectedVersion).toBeUndefined();
    expect(await table(store)).toEqual({ n: 22 });
  });

  test('add combines with put and delete, in the record and across records', async () => {
    const store = new MemoryStateStore();
    await seed(store, { gone: 100, kept: 1 });
    const txn = await open(store);
    txn.put('t', 'x', 3);
    txn.add('t', 'x', 4); // same record: 3 + 4
    txn.endRecord();
    txn.add('t', 'x', 10); // a later record adds to the slice's put
    txn.delete('t', 'gone');
    txn.endRecord();
    txn.add('t', 'gone', 2); // counts from 0 after a delete, not from 100
    txn.add('t', 'kept', 1); // from the stored 1
    txn.put('t', 'y', 1);
    txn.add('t', 'y', 1);
    txn.put('t', 'y', 50); // a put after an add replaces it
    txn.endRecord();
    expect(await txn.get('t', 'x')).toBe(17); // a record that reads
    expect(await txn.get('t', 'gone')).toBe(2);
    txn.endRecord();
    await txn.commit();
    expect(await table(store)).toEqual({ x: 17, gone: 2, kept: 2, y: 50 });
  });

  test('add to a value that is not a number is a StateTypeError', async () => {
    const store = new MemoryStateStore();
    await seed(store, { word: 'hello' });
    const txn = await open(store);
    txn.put('t', 's', 'text');
    expect(() => txn.add('t', 's', 1)).toThrow(StateTypeError);
    expect(() => txn.add('t', 'n', Number.NaN)).toThrow(StateTypeError);
    txn.abortRecord();
    txn.add('t', 'word', 1);
    await expect(txn.get('t', 'word')).rejects.toThrow(StateTypeError);
  });

  test("add over an earlier record's text fails the record that adds, and the text commits", async () => {
    const store = new MemoryStateStore();
    const txn = await open(store);
    txn.put('t', 's', 'text');
    txn.add('t', 'n', 1);
    txn.endRecord();
    txn.add('t', 'n', 1);
    expect(() => txn.add('t', 's', 1)).toThrow(/Cannot add to t\/s: it holds a string/);
    txn.abortRecord();
    await txn.commit();
    expect(await table(store)).toEqual({ s: 'text', n: 1 });
  });
});

describe('conflicts', () => {
  test('an item changed by another writer since it was read fails the commit, naming it', async () => {
    const store = new MemoryStateStore();
    await seed(store, { sum: 1 });
    const mine = await open(store, p0);
    const theirs = await open(store, { ...p0, partition: 2 });
    const before = (await mine.get('t', 'sum')) as number;
    // Another partition's invocation does a read-modify-write of the same key and commits first.
    theirs.put('t', 'sum', ((await theirs.get('t', 'sum')) as number) + 100);
    theirs.endRecord();
    await theirs.commit();

    mine.put('t', 'sum', before + 10);
    mine.put('t', 'other', 'x');
    mine.endRecord();
    const error = await mine.commit().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StateConflictError);
    expect(error).toMatchObject({ checkpoint: false, items: [{ table: 't', key: 'sum' }] });
    // All or nothing: neither the conflicting write, nor the other one, nor the checkpoint.
    expect(await table(store)).toEqual({ sum: 101 });
    expect(await store.readCheckpoint(p0)).toMatchObject({ offset: -1, version: 0 });
  });

  test('an item created by another writer after this one read it as absent is a conflict', async () => {
    const store = new MemoryStateStore();
    const mine = await open(store, p0);
    expect(await mine.get('t', 'k')).toBeUndefined();
    await seed(store, { k: 'theirs' });
    mine.put('t', 'k', 'mine');
    mine.endRecord();
    await expect(mine.commit()).rejects.toThrow(StateConflictError);
    expect(await table(store)).toEqual({ k: 'theirs' });
  });

  test('a moved checkpoint fences the older invocation of the same partition', async () => {
    const store = new MemoryStateStore();
    const zombie = await open(store, p0);
    const newer = await open(store, p0); // its own process, so its own cache
    newer.add('t', 'n', 1);
    newer.endRecord();
    await newer.commit();

    zombie.add('t', 'n', 1); // a blind add: only the checkpoint can stop it
    zombie.endRecord();
    const error = await zombie.commit().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StateConflictError);
    expect(error).toMatchObject({ checkpoint: true });
    expect(await table(store)).toEqual({ n: 1 });
    expect(await store.readCheckpoint(p0)).toMatchObject({ offset: 0, version: 1 });
  });

  test('after a conflict, a new transaction from the same cache sees the new values', async () => {
    const store = new MemoryStateStore();
    await seed(store, { sum: 1 });
    const cache = new StateCache();
    const mine = await open(store, p0, cache);
    await mine.get('t', 'sum');
    await seed(store, { sum: 2 }); // another process
    mine.put('t', 'sum', 11);
    mine.endRecord();
    await expect(mine.commit()).rejects.toThrow(StateConflictError);
    const again = await open(store, p0, cache);
    expect(await again.get('t', 'sum')).toBe(2);
  });
});

describe('limits', () => {
  const { maxWrites, maxItemBytes } = DYNAMODB_LIMITS;

  /** Reads then writes: a write that must carry the version it read. */
  async function bump(txn: StateTransaction, key: string) {
    const before = (await txn.get('t', key)) as number | undefined;
    txn.put('t', key, (before ?? 0) + 1);
  }

  test(`a record writing more than ${maxWrites} items it read is a StateLimitError`, async () => {
    const txn = await open(new MemoryStateStore());
    for (let i = 0; i < maxWrites; i++) await bump(txn, `k${i}`);
    await bump(txn, 'one-more');
    expect(() => txn.endRecord()).toThrow(StateLimitError);
    expect(() => txn.endRecord()).toThrow(/writes 100 items \(100 after reading them/);
  });

  test('blind writes past 99 items fit one commit, up to the intent size', async () => {
    const store = new MemoryStateStore();
    const txn = await open(store);
    for (let i = 0; i < 1000; i++) txn.add('t', `w${i}`, 1);
    expect(txn.endRecord()).toBe('joined');
    await txn.commit();
    expect(Object.keys(await table(store))).toHaveLength(1000);
    // 2,000 blind values of 200 bytes each are well over the 350 KB an intent may carry.
    for (let i = 0; i < 2000; i++) txn.put('t', `v${i}`, 'x'.repeat(200));
    expect(() => txn.endRecord()).toThrow(/bytes of blind writes/);
  });

  test(`endRecord() says commit-first when slice and record exceed ${maxWrites} writes`, async () => {
    const txn = await open(new MemoryStateStore());
    for (let i = 0; i < 60; i++) await bump(txn, `s${i}`);
    expect(txn.endRecord()).toBe('joined');
    // Keys the slice already writes do not add to the count: 60 + 39 = 99.
    for (let i = 0; i < 30; i++) txn.add('t', `s${i}`, 1);
    for (let i = 0; i < 39; i++) await bump(txn, `r${i}`);
    expect(txn.endRecord()).toBe('joined');
    await bump(txn, 'r-100th');
    expect(txn.endRecord()).toBe('commit-first');
  });

  test('commit-first, then the record alone: each commit is whole', async () => {
    const store = new MemoryStateStore();
    const txn = await open(store);
    for (let i = 0; i < 60; i++) await bump(txn, `s${i}`);
    txn.endRecord();
    for (let i = 0; i < 60; i++) await bump(txn, `r${i}`);
    expect(txn.endRecord()).toBe('commit-first');
    expect(txn.phase).toBe('held');
    // What the slice runner does: commit the finished records; the held one joins after.
    expect(await txn.commit()).toBe(1);
    expect(txn.phase).toBe('idle');
    expect((await table(store)).r0).toBeUndefined();
    expect(await txn.commit()).toBe(1);
    expect(Object.keys(await table(store))).toHaveLength(120);
    expect(await store.readCheckpoint(p0)).toMatchObject({ offset: 1, version: 2 });
  });

  test('an item over 400 KB is a StateLimitError that names it', async () => {
    const txn = await open(new MemoryStateStore());
    txn.put('t', 'fine', 'x'.repeat(300 * 1024));
    expect(txn.endRecord()).toBe('joined');
    txn.put('t', 'huge', 'x'.repeat(maxItemBytes + 1));
    expect(() => txn.endRecord()).toThrow(StateLimitError);
    expect(() => txn.endRecord()).toThrow(/t\/huge.*item limit/);
  });

  test('slices whose bytes exceed 4 MB commit first', async () => {
    const txn = await open(new MemoryStateStore());
    const big = 'x'.repeat(390 * 1024);
    for (let i = 0; i < 10; i++) {
      txn.put('t', `b${i}`, big);
      expect(txn.endRecord()).toBe('joined');
    }
    txn.put('t', 'b10', big);
    expect(txn.endRecord()).toBe('commit-first');
  });

  test('a read through a blind add of the slice carries its condition with the reading record', async () => {
    // 99 records read-then-write their own key, one adds blindly, then one reads the blind key:
    // the read turns that add into a conditioned write, one more than fits beside the 99.
    const store = new MemoryStateStore();
    const commit = vi.spyOn(store, 'commit');
    const txn = await open(store);
    for (let i = 0; i < maxWrites; i++) {
      await bump(txn, `r${i}`);
      expect(txn.endRecord()).toBe('joined');
    }
    txn.add('t', 'blind', 5);
    expect(txn.endRecord()).toBe('joined');
    expect(await txn.get('t', 'blind')).toBe(5);
    expect(txn.endRecord()).toBe('commit-first');
    await txn.commit();
    await txn.commit();
    for (const [c] of commit.mock.calls) {
      expect(c.writes.filter((w) => w.expectedVersion !== undefined).length).toBeLessThanOrEqual(
        maxWrites,
      );
    }
    expect(Object.keys(await table(store))).toHaveLength(100);
    expect(await store.readCheckpoint(p0)).toMatchObject({ offset: 100, version: 2 });
  });

  test('a held record keeps the condition of what it read, so a write between commits conflicts', async () => {
    const store = new MemoryStateStore();
    await seed(store, { x: 1 });
    const txn = await open(store);
    for (let i = 0; i < maxWrites; i++) await bump(txn, `r${i}`);
    expect(txn.endRecord()).toBe('joined');
    await bump(txn, 'r0'); // the held record reads r0 through the slice's write
    await bump(txn, 'x');
    expect(txn.endRecord()).toBe('commit-first');
    await txn.commit();
    await seed(store, { x: 50 }); // another partition writes x between the two commits
    await expect(txn.commit()).rejects.toThrow(StateConflictError);
    expect((await table(store)).x).toBe(50);
  });

  test('every memory-store commit obeys DynamoDB’s limits: more is a bug, refused loudly', async () => {
    const store = new MemoryStateStore();
    const writes = Array.from({ length: 100 }, (_, i) => ({
      table: 't',
      key: `k${i}`,
      change: { op: 'put' as const, value: i },
      expectedVersion: 0,
      bytes: 80,
    }));
    await expect(
      store.commit({ partition: p0, checkpoint: { expectedVersion: 0, offset: 0 }, writes }),
    ).rejects.toThrow(/100 writes carry a read version.*bug/);
  });
});

describe('the record lifecycle', () => {
  test('steps out of order fail loudly, naming the phase', async () => {
    const txn = await StateTransaction.open(new MemoryStateStore(), new StateCache(), p0);
    expect(() => txn.put('t', 'a', 1)).toThrow(StateProtocolError);
    expect(() => txn.endRecord()).toThrow(/endRecord\(\) while the transaction is idle/);
    txn.beginRecord(0);
    expect(() => txn.beginRecord(1)).toThrow(/beginRecord\(\) while the transaction is running/);
    await expect(txn.commit()).rejects.toThrow(StateProtocolError);
    txn.endRecord();
    expect(() => txn.beginRecord(0)).toThrow(/offset order/);
    expect(await txn.commit()).toBe(1);
    expect(await txn.commit()).toBe(0); // nothing pending: no call to the store
  });

  test('a record’s reads and writes are its own: a value it got cannot change state unwritten', async () => {
    const store = new MemoryStateStore();
    await seed(store, { doc: { n: 1 } });
    const txn = await open(store);
    const doc = (await txn.get('t', 'doc')) as { n: number };
    doc.n = 99; // changed, never set
    txn.endRecord();
    const mine = { n: 2 };
    txn.put('t', 'other', mine);
    mine.n = 3; // changed after set: the write holds what was set
    txn.endRecord();
    await txn.commit();
    expect(await table(store)).toEqual({ doc: { n: 1 }, other: { n: 2 } });
  });
});

describe('reads of items another partition writes', () => {
  test('an item this process only read is served from the cache for maxReadAgeMs, then read afresh', async () => {
    const store = new MemoryStateStore();
    await seed(store, { price: 10 });
    let now = 0;
    const cache = new StateCache({ maxReadAgeMs: 1000, now: () => now });
    const read = async () => {
      const txn = await open(store, p0, cache);
      const price = await txn.get('t', 'price');
      txn.endRecord();
      await txn.commit();
      return price;
    };
    expect(await read()).toBe(10);
    await seed(store, { price: 15 }); // partition 1, another process
    now = 999;
    expect(await read()).toBe(10); // within the bound: the cached read
    now = 1001;
    expect(await read()).toBe(15);
  });

  test('an item this process wrote stays cached: its next write checks its version', async () => {
    const store = new MemoryStateStore();
    let now = 0;
    const cache = new StateCache({ maxReadAgeMs: 1000, now: () => now });
    const readItem = vi.spyOn(store, 'readItem');
    for (let i = 0; i < 3; i++) {
      const txn = await open(store, p0, cache);
      await txn.get('t', 'balance');
      txn.put('t', 'balance', i);
      txn.endRecord();
      await txn.commit();
      now += 5000;
    }
    expect(readItem).toHaveBeenCalledTimes(1);
  });
});

describe('the checkpoint’s fingerprint and topic id', () => {
  test('a commit keeps the fingerprint of its last finished record, computed only then; an aborted or held record’s does not count', async () => {
    const store = new MemoryStateStore();
    const txn = await StateTransaction.open(store, new StateCache(), p0, { topicId: 'id-1' });
    const asked: number[] = [];
    const lazy = (offset: number) => () => {
      asked.push(offset);
      return `fp-${offset}`;
    };
    for (const offset of [0, 1, 2]) {
      txn.beginRecord(offset, lazy(offset));
      txn.add('t', 'n', 1);
      txn.endRecord();
    }
    txn.beginRecord(3, 'fp-3');
    txn.abortRecord();
    await txn.commit();
    expect(asked).toEqual([2]);
    const expected = { offset: 2, version: 1, fingerprint: 'fp-2', topicId: 'id-1' };
    expect(txn.checkpoint).toEqual(expected);
    expect(await store.readCheckpoint(p0)).toMatchObject(expected);
    // A transaction that does not know the topic id carries the checkpoint's on.
    const later = await StateTransaction.open(store, new StateCache(), p0);
    later.beginRecord(5);
    later.endRecord();
    await later.commit();
    const { fingerprint, ...rest } = await store.readCheckpoint(p0);
    expect(fingerprint).toBeUndefined();
    expect(rest).toMatchObject({ offset: 5, version: 2, topicId: 'id-1' });
  });

  test('the file store keeps them across a replay', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dogear-fp-'));
    try {
      const txn = await StateTransaction.open(new FileStateStore(dir), new StateCache(), p0, {
        topicId: 'id-1',
      });
      txn.beginRecord(7, 'fp-7');
      txn.endRecord();
      await txn.commit();
      expect(await new FileStateStore(dir).readCheckpoint(p0)).toMatchObject({
        offset: 7,
        version: 1,
        fingerprint: 'fp-7',
        topicId: 'id-1',
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('found in review', () => {
  test('adds of two records whose sum DynamoDB cannot hold fail the second record, by name', async () => {
    const store = new MemoryStateStore();
    const txn = await open(store);
    txn.add('t', 'k', 1e37);
    expect(txn.endRecord()).toBe('joined');
    txn.add('t', 'k', 0.1); // 1e37 + 0.1 has 39 significant digits
    const error = (() => {
      try {
        txn.endRecord();
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(StateValueError);
    expect(error).toMatchObject({ offset: 1, table: 't', key: 'k' });
    txn.abortRecord();
    await txn.commit();
    expect(await table(store)).toEqual({ k: 1e37 });
  });

  test('a put then an add in one record whose sum DynamoDB cannot hold fails that record', async () => {
    const txn = await open(new MemoryStateStore());
    txn.put('t', 'k', 1e37);
    expect(() => txn.add('t', 'k', 0.1)).toThrow(/38/);
  });

  test('a guessed item after a held record read through a blind add ages like a read', async () => {
    let now = 0;
    const store = new MemoryStateStore({ ...DYNAMODB_LIMITS, maxWrites: 1, maxIntentBytes: 0 });
    await seed(store, { K: 10 });
    const cache = new StateCache({ now: () => now, maxReadAgeMs: 1000 });
    const reader = await open(store, p0, cache);
    expect(await reader.get('t', 'K')).toBe(10);
    reader.endRecord();
    await reader.commit();
    const other = await open(store, p1);
    other.add('t', 'K', 100); // another partition: 110
    other.endRecord();
    await other.commit();
    now = 500;
    const txn = await open(store, p0, cache);
    txn.add('t', 'K', 1);
    expect(txn.endRecord()).toBe('joined');
    await txn.get('t', 'K'); // through the blind add, from the cache
    txn.put('t', 'Y', 1);
    expect(txn.endRecord()).toBe('commit-first');
    await txn.commit();
    now = 60_000;
    const later = await open(store, p0, cache);
    expect(await later.get('t', 'K')).toBe(111);
  });

  test('a held record that only wrote an item the slice wrote does not inherit its condition', async () => {
    let now = 0;
    const store = new MemoryStateStore();
    const cache = new StateCache({ now: () => now, maxReadAgeMs: 1000 });
    const txn = await open(store, p0, cache);
    await txn.get('t', 'k');
    txn.add('t', 'k', 1); // a conditioned add
    expect(txn.endRecord()).toBe('joined');
    for (let i = 0; i < DYNAMODB_LIMITS.maxWrites - 1; i++) {
      txn.put('t', `r${i}`, ((await txn.get('t', `r${i}`)) as number | undefined) ?? 1);
      expect(txn.endRecord()).toBe('joined');
    }
    txn.add('t', 'k', 1); // the held record only writes k, and reads-then-writes one more key
    txn.put('t', 'n', ((await txn.get('t', 'n')) as number | undefined) ?? 1);
    expect(txn.endRecord()).toBe('commit-first');
    now = 5000; // the read of k aged out of the cache during the slice
    await txn.commit();
    await txn.commit(); // no conflict: nothing changed k between the commits
    expect((await table(store)).k).toBe(2);
  });
});

describe('reading ahead, found in review', () => {
  const P: PartitionRef = { group: 'g', topic: 't', partition: 0 };

  test('after a conflict, the rerun does not serve what the failed attempt read ahead and never touched', async () => {
    const store = new MemoryStateStore();
    const mine = new StateCache();
    // This process's slice 1..3 reads ahead a (record 1's key) and b (record 3's).
    const first = await StateTransaction.open(store, mine, P);
    first.beginRecord(1);
    await first.prefetch([
      { table: 'state', key: 'a' },
      { table: 'state', key: 'b' },
    ]);
    first.put('state', 'a', ((await first.get('state', 'a')) as number | undefined) ?? 1);
    first.endRecord();
    // An overlapping invocation commits records 1 and 2; record 2 sets b.
    const other = await StateTransaction.open(store, new StateCache(), P);
    other.beginRecord(1);
    other.put('state', 'a', 1);
    other.endRecord();
    other.beginRecord(2);
    await other.get('state', 'b');
    other.put('state', 'b', 'X');
    other.endRecord();
    await other.commit();
    await expect(first.commit()).rejects.toThrow(StateConflictError);
    // The rerun starts after record 2: record 3 must see b as record 2 left it.
    const rerun = await StateTransaction.open(store, mine, P);
    expect(rerun.checkpoint.offset).toBe(2);
    rerun.beginRecord(3);
    await rerun.prefetch([{ table: 'state', key: 'b' }]);
    expect(await rerun.get('state', 'b')).toBe('X');
  });
});

describe('read-ahead items that outlive maxReadAgeMs', () => {
  test('are read again together, in one batch, when the first of them is read: not one GetItem each', async () => {
    class Counting extends MemoryStateStore {
      single = 0;
      batches: string[][] = [];
      override async readItem(group: string, table: string, key: string) {
        this.single++;
        return super.readItem(group, table, key);
      }
      override async readItems(group: string, refs: readonly { table: string; key: string }[]) {
        this.batches.push(refs.map((r) => r.key));
        return super.readItems(group, refs);
      }
    }
    const store = new Counting();
    let now = 0;
    const cache = new StateCache({ maxReadAgeMs: 1000, now: () => now });
    const txn = await StateTransaction.open(store, cache, { group: 'g', topic: 't', partition: 0 });
    txn.beginRecord(1);
    await txn.prefetch(['a', 'b', 'c'].map((key) => ({ table: 'state', key })));
    // The slice ran long (slow commits): the items read ahead are older than maxReadAgeMs.
    now = 5000;
    for (const key of ['a', 'b', 'c']) await txn.get('state', key);
    expect(store.batches).toEqual([
      ['a', 'b', 'c'],
      ['a', 'b', 'c'],
    ]);
    expect(store.single).toBe(0);
  });
});
