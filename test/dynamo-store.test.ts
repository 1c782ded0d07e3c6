/**
 * DynamoStateStore against DynamoDB Local: the claims docs/state.md makes about the table, each
 * checked on the real thing.
 */
import { beforeAll, describe, expect, inject, test } from 'vitest';
import { eventOf, eventRecordOf } from '../src/event/index.ts';
import {
  createHandler,
  createLogger,
  defineConsumer,
  type InvocationReport,
  lambdaContext,
} from '../src/runtime/index.ts';
import { GetItem } from '../src/state/dynamo/api.ts';
import {
  type Checkpoint,
  DynamoStateStore,
  fetchDynamoApi,
  openDynamoStateStore,
  type PartitionRef,
  StateCache,
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

  test('apply their intent in transactions of up to 100 items sent at once, not one after another', async () => {
    const s = await fresh();
    const api = apiOf();
    let inFlight = 0;
    let most = 0;
    const sent: number[] = [];
    const watched = new DynamoStateStore({
      table: s.table,
      api: {
        async send(operation) {
          if (operation.action !== 'TransactWriteItems') return api.send(operation);
          sent.push((operation.input as { TransactItems: unknown[] }).TransactItems.length);
          most = Math.max(most, ++inFlight);
          try {
            return await api.send(operation);
          } finally {
            inFlight--;
          }
        },
      },
    });
    const writes = Array.from({ length: 250 }, (_, i) => ({
      table: 'counts',
      key: `w${i}`,
      change: { op: 'add' as const, delta: 1 },
    }));
    await watched.commit({ partition: p0, checkpoint: { expectedVersion: 0, offset: 0 }, writes });
    // The checkpoint with the intent, then the intent's three transactions together.
    expect(sent).toEqual([1, 100, 100, 50]);
    expect(most).toBe(3);
    const counts = await s.scanTable('g', 'counts');
    expect(counts.size).toBe(250);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(await s.readCheckpoint(p0)).toEqual({ offset: 0, version: 1 });
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

describe('the outbox, upstream marks and attempts in the checkpoint item', () => {
  const message = {
    to: 'alerts',
    key: Buffer.from('s1').toString('base64'),
    value: Buffer.from('{"c":31}').toString('base64'),
    headers: [['h', null] as const],
    origin: 'g|t|0|4|0',
  };

  test('commit in the transaction, read back, cleared at their version only', async () => {
    const s = await fresh();
    const attempt = { offset: 0, count: 1 };
    // An attempt mark before any commit: the item exists at version 0, and the first commit still lands.
    expect(await s.markAttempt(p0, 0, attempt, undefined)).toBe(true);
    expect(await s.readCheckpoint(p0)).toEqual<Checkpoint>({ offset: -1, version: 0, attempt });
    expect(await s.markAttempt(p0, 0, { offset: 0, count: 2 }, undefined)).toBe(false);
    const upstream = { 'up|src|3': [17, 2] as const };
    await s.commit({
      partition: p0,
      checkpoint: { expectedVersion: 0, offset: 4, outbox: [message], upstream },
      writes: [{ table: 'state', key: 's1', change: { op: 'put', value: 31 } }],
    });
    const read = await s.readCheckpoint(p0);
    expect(read).toEqual<Checkpoint>({ offset: 4, version: 1, outbox: [message], upstream });
    // The item holds them under names DynamoDB reserves (OUT): written through placeholders.
    const { Item } = await apiOf().send(
      GetItem({ TableName: s.table, Key: { pk: { S: 'c|g|t|0' } }, ConsistentRead: true }),
    );
    expect(Object.keys(Item!).sort()).toEqual(['offset', 'out', 'pk', 'up', 'ver']);

    await s.clearOutbox(p0, 0);
    expect((await s.readCheckpoint(p0)).outbox).toEqual([message]);
    await s.clearOutbox(p0, 1);
    expect(await s.readCheckpoint(p0)).toEqual<Checkpoint>({ offset: 4, version: 1, upstream });

    // A commit that stops at a failing record carries its attempts; the next one drops them.
    await s.commit({
      partition: p0,
      checkpoint: { expectedVersion: 1, offset: 6, upstream, attempt: { offset: 7, count: 1 } },
      writes: [],
    });
    expect((await s.readCheckpoint(p0)).attempt).toEqual({ offset: 7, count: 1 });
    expect(await s.markAttempt(p0, 2, { offset: 7, count: 2 }, { offset: 7, count: 1 })).toBe(true);
    expect(await s.markAttempt(p0, 2, { offset: 7, count: 2 }, { offset: 7, count: 1 })).toBe(
      false,
    );
    await s.commit({ partition: p0, checkpoint: { expectedVersion: 2, offset: 7 }, writes: [] });
    expect(await s.readCheckpoint(p0)).toEqual<Checkpoint>({ offset: 7, version: 3 });
  });

  test('a handler emits through DynamoDB: a relay that fails leaves the outbox, the next delivery sends it', async () => {
    const s = await fresh();
    const sent: string[] = [];
    let down = true;
    const relay = {
      async send(messages: readonly { origin: string }[]) {
        if (down) throw new Error('no broker');
        sent.push(...messages.map((m) => m.origin));
      },
      async close() {},
    };
    const consumer = defineConsumer(
      { name: 'emitter', topic: 't', emits: ['alerts'] },
      (record, ctx) => {
        ctx.state.set(record.value);
        ctx.emit('alerts', record.value, { key: record.key });
      },
    );
    const event = eventOf(
      [0, 1, 2].map((offset) =>
        eventRecordOf(
          { topic: 't', partition: 0, offset, key: `k${offset}`, value: `${offset}` },
          'r',
        ),
      ),
    );
    const run = () =>
      createHandler(consumer, {
        store: s,
        cache: new StateCache(),
        log: createLogger(() => {}, 'error'),
        relay: () => relay,
      })(event, lambdaContext(consumer));
    await expect(run()).rejects.toThrow(
      /3 output\(s\) of t-0, committed with offset 2, are not delivered yet: no broker/,
    );
    expect(await s.scanTable('emitter', 'state')).toEqual(
      new Map([
        ['k0', 0],
        ['k1', 1],
        ['k2', 2],
      ]),
    );
    down = false;
    await run();
    expect(sent).toEqual(['emitter|t|0|0|0', 'emitter|t|0|1|0', 'emitter|t|0|2|0']);
    expect(
      (await s.readCheckpoint({ group: 'emitter', topic: 't', partition: 0 })).outbox,
    ).toBeUndefined();
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

describe('batched reads (readItems)', () => {
  test('read 100 keys a BatchGetItem, in parallel, each as readItem reads it, duplicates and absent keys included', async () => {
    const s = await fresh();
    const writes = Array.from({ length: 250 }, (_, i) => ({
      table: 'counts',
      key: `w${i}`,
      change:
        i % 50 === 7
          ? { op: 'put' as const, value: { nested: [i] } }
          : { op: 'add' as const, delta: i },
    }));
    await s.commit({ partition: p0, checkpoint: { expectedVersion: 0, offset: 0 }, writes });
    const actions: string[] = [];
    const counted = new DynamoStateStore({
      api: fetchDynamoApi({
        endpoint: inject('dynamodbEndpoint'),
        region: 'us-east-1',
        credentials: async () => ({ accessKeyId: 'dogear', secretAccessKey: 'local' }),
        onRequest: (action) => actions.push(action),
      }),
      table: s.table,
    });
    const refs = [
      ...writes.map(({ table, key }) => ({ table, key })),
      ...['none-1', 'none-2'].map((key) => ({ table: 'counts', key })),
      { table: 'counts', key: 'w3' },
      { table: 'counts', key: 'w7' },
    ];
    const items = await counted.readItems('g', refs);
    // 252 distinct keys: three BatchGetItems, and nothing else.
    expect(actions).toEqual(['BatchGetItem', 'BatchGetItem', 'BatchGetItem']);
    expect(items).toHaveLength(refs.length);
    for (const [i, ref] of refs.entries()) {
      expect(items[i], `${ref.key}`).toEqual(await s.readItem('g', ref.table, ref.key));
    }
    expect(items[7]).toMatchObject({ value: { nested: [7] }, exists: true });
    expect(items[250]).toEqual({ value: undefined, version: 0, exists: false });
  });

  test('keys DynamoDB leaves unprocessed are asked for again', async () => {
    const s = await fresh();
    const writes = Array.from({ length: 30 }, (_, i) => ({
      table: 'counts',
      key: `w${i}`,
      change: { op: 'add' as const, delta: i + 1 },
    }));
    await s.commit({ partition: p0, checkpoint: { expectedVersion: 0, offset: 0 }, writes });
    const api = apiOf();
    let calls = 0;
    // DynamoDB answers part of a batch when throttled or past 16 MB: the first answer here
    // leaves two thirds of the keys unprocessed, as DynamoDB would.
    const throttled = new DynamoStateStore({
      table: s.table,
      api: {
        async send(operation) {
          if (operation.action !== 'BatchGetItem' || calls++ > 0) return api.send(operation);
          const input = operation.input as { RequestItems: Record<string, { Keys: unknown[] }> };
          const [name, request] = Object.entries(input.RequestItems)[0]!;
          const now = request.Keys.slice(0, 10);
          const later = request.Keys.slice(10);
          const output = (await api.send({
            ...operation,
            input: { RequestItems: { [name]: { ...request, Keys: now } } },
          })) as Record<string, unknown>;
          return { ...output, UnprocessedKeys: { [name]: { ...request, Keys: later } } } as never;
        },
      },
    });
    const items = await throttled.readItems(
      'g',
      writes.map(({ table, key }) => ({ table, key })),
    );
    expect(calls).toBe(2);
    expect(items.map((item) => item.value)).toEqual(writes.map((_, i) => i + 1));
  });
});

describe('a stale item read ahead is fenced like any stale read', () => {
  test('another writer changes an item after the slice read it ahead: the commit conflicts, the slice reruns, the balance is exact', async () => {
    const s = await fresh();
    const group = 'fenced';
    const outside = { group, topic: 'elsewhere', partition: 9 };
    let wrote = false;
    const definition = defineConsumer(
      { name: 'fenced', topic: 'payments' },
      async (record, ctx) => {
        await ctx.state.update((b) => ((b as number | undefined) ?? 0) + (record.value as number));
        // The first time record 0 runs, B is changed from outside, after the slice read it ahead.
        if (record.offset === 0 && !wrote) {
          wrote = true;
          await s.commit({
            partition: outside,
            checkpoint: { expectedVersion: 0, offset: 0 },
            writes: [{ table: 'state', key: 'B', change: { op: 'add', delta: 100 } }],
          });
        }
      },
    );
    const reports: InvocationReport[] = [];
    const handler = createHandler(definition, {
      store: s,
      cache: new StateCache(),
      log: createLogger(() => {}),
      onReport: (r) => reports.push(r),
    });
    const records = [
      { topic: 'payments', partition: 0, offset: 0, key: 'A', value: '1' },
      { topic: 'payments', partition: 0, offset: 1, key: 'B', value: '5' },
    ];
    await handler(
      eventOf(records.map((r, i) => eventRecordOf(r, `record ${i}`))),
      lambdaContext(definition),
    );
    expect(wrote).toBe(true);
    expect(reports[0]).toMatchObject({ processed: 2, failed: 0 });
    expect(reports[0]!.reruns).toBeGreaterThanOrEqual(1);
    const state = await s.scanTable(group, 'state');
    expect(Object.fromEntries(state)).toEqual({ A: 1, B: 105 });
  });
});
