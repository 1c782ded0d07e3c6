/**
 * DynamoStateStore against DynamoDB Local: the claims docs/state.md makes about the table, each
 * checked on the real thing.
 */
import { beforeAll, describe, expect, inject, test } from 'vitest';
import { GetItem } from '../src/state/dynamo/api.ts';
import {
  type Checkpoint,
  DynamoStateStore,
  fetchDynamoApi,
  openDynamoStateStore,
  type PartitionRef,
  StateConflictError,
  StateError,
  StateTypeError,
} from '../src/state/index.ts';

const p0: PartitionRef = { group: 'g', topic: 't', partition: 0 };
let store: DynamoStateStore;
let table = 0;

beforeAll(async () => {
  store = await fresh();
});

/** A store on a table of its own, so tests do not see each other's items. */
async function fresh(): Promise<DynamoStateStore> {
  table += 1;
  return openDynamoStateStore({
    endpoint: inject('dynamodbEndpoint'),
    table: `dogear-store-${table}-${Date.now()}`,
  });
}

/** A store whose process "dies" right after a commit's transaction, before its intent is applied. */
class DiesBeforeApplying extends DynamoStateStore {
  protected override async applyIntent(): Promise<void> {
    throw new Error('killed');
  }
}

describe('commits past 99 writes', () => {
  test('land whole, and a process that died before applying them is finished by the next reader', async () => {
    const s = await fresh();
    const dying = new DiesBeforeApplying({ api: apiOf(), table: s.table });
    const writes = Array.from({ length: 250 }, (_, i) => ({
      table: 'counts',
      key: `w${i}`,
      change: { op: 'add' as const, delta: i },
    }));
    await expect(
      dying.commit({ partition: p0, checkpoint: { expectedVersion: 0, offset: 9 }, writes }),
    ).rejects.toThrow('killed');
    // The transaction decided the commit: the checkpoint moved, the items are not there yet.
    expect((await s.scanTable('g', 'counts')).size).toBe(0);
    // Two readers recover at once; each item still takes the intent once.
    const [a, b] = await Promise.all([s.readCheckpoint(p0), s.readCheckpoint(p0)]);
    expect(a).toEqual<Checkpoint>({ offset: 9, version: 1 });
    expect(b).toEqual(a);
    const counts = await s.scanTable('g', 'counts');
    expect(counts.size).toBe(250);
    expect([...counts.values()].reduce((sum: number, n) => sum + (n as number), 0)).toBe(
      (249 * 250) / 2,
    );
    // The next commit of the partition goes on from there.
    await s.commit({
      partition: p0,
      checkpoint: { expectedVersion: 1, offset: 19 },
      writes: writes.map((w) => ({ ...w, change: { op: 'add' as const, delta: 1 } })),
    });
    expect((await s.readItem('g', 'counts', 'w249')).value).toBe(250);
  });

  test('carry the writes that read a version in the transaction, and check them', async () => {
    const s = await fresh();
    await s.commit({
      partition: p0,
      checkpoint: { expectedVersion: 0, offset: 0 },
      writes: [{ table: 't', key: 'read', change: { op: 'put', value: 1 } }],
    });
    const blind = Array.from({ length: 150 }, (_, i) => ({
      table: 't',
      key: `b${i}`,
      change: { op: 'put' as const, value: i },
    }));
    const stale = {
      table: 't',
      key: 'read',
      change: { op: 'put' as const, value: 2 },
      expectedVersion: 0,
    };
    const error = await s
      .commit({
        partition: p0,
        checkpoint: { expectedVersion: 1, offset: 1 },
        writes: [...blind, stale],
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StateConflictError);
    expect((error as StateConflictError).items).toEqual([{ table: 't', key: 'read' }]);
    // Nothing of the failed commit landed, blind writes included.
    expect((await s.scanTable('g', 't')).size).toBe(1);
    expect(await s.readCheckpoint(p0)).toEqual({ offset: 0, version: 1 });
  });
});

describe('fencing and conditions', () => {
  test('a commit from a stale checkpoint version is a conflict and writes nothing', async () => {
    const s = await fresh();
    const write = { table: 't', key: 'k', change: { op: 'add' as const, delta: 1 } };
    await s.commit({
      partition: p0,
      checkpoint: { expectedVersion: 0, offset: 4 },
      writes: [write],
    });
    const error = await s
      .commit({ partition: p0, checkpoint: { expectedVersion: 0, offset: 4 }, writes: [write] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StateConflictError);
    expect((error as StateConflictError).checkpoint).toBe(true);
    expect((await s.readItem('g', 't', 'k')).value).toBe(1);
  });

  test('a delete keeps the version, so a stale reader of the old item cannot match', async () => {
    const s = await fresh();
    await s.commit({
      partition: p0,
      checkpoint: { expectedVersion: 0, offset: 0 },
      writes: [{ table: 't', key: 'k', change: { op: 'put', value: 'a' } }],
    });
    await s.commit({
      partition: p0,
      checkpoint: { expectedVersion: 1, offset: 1 },
      writes: [{ table: 't', key: 'k', change: { op: 'delete' }, expectedVersion: 1 }],
    });
    expect(await s.readItem('g', 't', 'k')).toEqual({
      value: undefined,
      version: 2,
      exists: false,
    });
    expect((await s.scanTable('g', 't')).size).toBe(0);
  });

  test('adding to a string is a StateTypeError that names the item', async () => {
    const s = await fresh();
    await s.commit({
      partition: p0,
      checkpoint: { expectedVersion: 0, offset: 0 },
      writes: [{ table: 't', key: 'name', change: { op: 'put', value: 'x' } }],
    });
    await expect(
      s.commit({
        partition: p0,
        checkpoint: { expectedVersion: 1, offset: 1 },
        writes: [{ table: 't', key: 'name', change: { op: 'add', delta: 1 } }],
      }),
    ).rejects.toThrow(StateTypeError);
    await expect(
      s.commit({
        partition: p0,
        checkpoint: { expectedVersion: 1, offset: 1 },
        writes: [{ table: 't', key: 'name', change: { op: 'add', delta: 1 } }],
      }),
    ).rejects.toThrow(/t\/name/);
  });
});

describe('the checkpoint item', () => {
  test('keeps the fingerprint (fp) and topic id (tid), read back by readCheckpoint and scanCheckpoints; a commit without them removes the old ones', async () => {
    const s = await fresh();
    const checkpoint = {
      expectedVersion: 0,
      offset: 9,
      fingerprint: '0123456789abcdef',
      topicId: 'aa11',
    };
    // A wide commit, so the intent path writes the checkpoint too.
    const writes = Array.from({ length: 120 }, (_, i) => ({
      table: 'counts',
      key: `w${i}`,
      change: { op: 'add' as const, delta: 1 },
    }));
    await s.commit({ partition: p0, checkpoint, writes });
    const { Item } = await apiOf().send(
      GetItem({ TableName: s.table, Key: { pk: { S: 'c|g|t|0' } }, ConsistentRead: true }),
    );
    expect(Item).toMatchObject({
      fp: { S: '0123456789abcdef' },
      tid: { S: 'aa11' },
    });
    const expected: Checkpoint = {
      offset: 9,
      version: 1,
      fingerprint: '0123456789abcdef',
      topicId: 'aa11',
    };
    expect(await s.readCheckpoint(p0)).toEqual(expected);
    expect(await s.scanCheckpoints('g')).toEqual([{ ...p0, ...expected }]);

    await s.commit({ partition: p0, checkpoint: { expectedVersion: 1, offset: 12 }, writes: [] });
    expect(await s.readCheckpoint(p0)).toEqual<Checkpoint>({ offset: 12, version: 2 });
  });
});

describe('ctx.once records', () => {
  test('claim once, return the stored result after, release on failure, expire by TTL', async () => {
    const key = { ...p0, offset: 3, name: 'email' };
    const expires = Date.now() + 60_000;
    const over = { startedAt: Date.now() - 2000, leaseUntil: Date.now() - 1000 };
    expect(await store.claimOnce(key, expires, over)).toEqual({ claimed: true });
    expect(await store.claimOnce(key, expires, over)).toEqual({
      claimed: false,
      done: false,
      status: 'interrupted',
      ...over,
    });
    await store.completeOnce(key, { id: 42 }, expires);
    expect(await store.claimOnce(key, expires, over)).toEqual({
      claimed: false,
      done: true,
      result: { id: 42 },
    });
    const other = { ...key, name: 'sms' };
    await store.claimOnce(other, expires, over);
    await store.releaseOnce(other);
    expect(await store.claimOnce(other, expires, over)).toEqual({ claimed: true });
  });

  test('the lease round-trips: a second claim inside it sees the effect running, with the same lease', async () => {
    const key = { ...p0, offset: 4, name: 'charge' };
    const expires = Date.now() + 60_000;
    const lease = { startedAt: Date.now(), leaseUntil: Date.now() + 30_000 };
    expect(await store.claimOnce(key, expires, lease)).toEqual({ claimed: true });
    const second = { startedAt: Date.now(), leaseUntil: Date.now() + 60_000 };
    expect(await store.claimOnce(key, expires, second)).toEqual({
      claimed: false,
      done: false,
      status: 'running',
      ...lease,
    });
  });
});

test('a missing table is an error that says how to create it', async () => {
  const missing = new DynamoStateStore({ api: apiOf(), table: 'no-such-table' });
  const error = await missing.readCheckpoint(p0).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(StateError);
  expect((error as Error).message).toMatch(
    /'no-such-table' does not exist; deploy infra\/state-table.yml/,
  );
});

function apiOf() {
  return fetchDynamoApi({
    endpoint: inject('dynamodbEndpoint'),
    region: 'us-east-1',
    credentials: async () => ({ accessKeyId: 'dogear', secretAccessKey: 'local' }),
  });
}

describe('reset', () => {
  test("forgets the group's checkpoints, items and once records, and no similar group's", async () => {
    const s = await fresh();
    const lease = { startedAt: Date.now(), leaseUntil: Date.now() + 60_000 };
    const expires = Date.now() + 3_600_000;
    for (const group of ['orders', 'orders-v2']) {
      const partition = { group, topic: 't', partition: 0 };
      await s.commit({
        partition,
        checkpoint: { expectedVersion: 0, offset: 4 },
        writes: [{ table: 'totals', key: 'k', change: { op: 'put', value: 1 } }],
      });
      await s.claimOnce({ ...partition, offset: 4, name: 'email' }, expires, lease);
    }
    await s.reset('orders');
    expect(await s.scanCheckpoints('orders')).toEqual([]);
    expect((await s.scanTable('orders', 'totals')).size).toBe(0);
    const once = { group: 'orders', topic: 't', partition: 0, offset: 4, name: 'email' };
    expect(await s.claimOnce(once, expires, lease)).toEqual({ claimed: true });
    expect(await s.scanCheckpoints('orders-v2')).toHaveLength(1);
    expect(await s.scanTable('orders-v2', 'totals')).toEqual(new Map([['k', 1]]));
    expect(await s.claimOnce({ ...once, group: 'orders-v2' }, expires, lease)).toMatchObject({
      claimed: false,
    });
  });
});
