import type { MiddlewareObj } from '@middy/core';
import { describe, expect, test } from 'vitest';
import {
  eventOf,
  eventRecordOf,
  type KafkaEvent,
  type KafkaRecord,
  type NdjsonRecord,
} from '../event/index.ts';
import { MemoryStateStore, StateCache } from '../state/index.ts';
import { invoke } from '../testing/index.ts';
import { consumer, defineConsumer, onBatch } from './consumer.ts';
import { BatchFailedError, RecordFailedError, TopicRecreatedError } from './errors.ts';
import { createHandler, type InvocationReport } from './handler.ts';
import { lambdaContext } from './lambda-context.ts';
import { createLogger } from './logger.ts';
import type { ConsumerDefinition, Context } from './types.ts';

/** A seeded generator (mulberry32), so a failing run can be replayed. */
function random(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `perPartition` records on each of `partitions` partitions, each value `{ n }`. */
function numbers(partitions: number, perPartition: number, seed = 1): NdjsonRecord[] {
  const next = random(seed);
  const records: NdjsonRecord[] = [];
  for (let offset = 0; offset < perPartition; offset++) {
    for (let partition = 0; partition < partitions; partition++) {
      records.push({
        topic: 'numbers',
        partition,
        offset,
        key: `k${Math.floor(next() * 5)}`,
        value: JSON.stringify({ n: Math.floor(next() * 1000) }),
      });
    }
  }
  return records;
}

function shuffle<T>(list: readonly T[], seed: number): T[] {
  const next = random(seed);
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const toEvent = (records: readonly NdjsonRecord[]): KafkaEvent =>
  eventOf(records.map((r, i) => eventRecordOf(r, `record ${i}`)));

/** The generated Lambda handler with a memory store, collecting each invocation's report. */
function harness(definition: ConsumerDefinition, store = new MemoryStateStore()) {
  const reports: InvocationReport[] = [];
  const handler = createHandler(definition, {
    store,
    cache: new StateCache(),
    log: createLogger(() => {}),
    onReport: (report) => reports.push(report),
  });
  const run = (event: KafkaEvent) => handler(event, lambdaContext(definition));
  const table = async (name: string) =>
    Object.fromEntries(await store.scanTable(definition.group, name));
  const offsets = async () =>
    Object.fromEntries(
      (await store.scanCheckpoints(definition.group)).map((c) => [c.partition, c.offset]),
    );
  return { run, reports, store, table, offsets };
}

const n = (record: NdjsonRecord) => (JSON.parse(record.value as string) as { n: number }).n;

describe('order', () => {
  test('each partition runs in offset order though the event lists records out of order, and partitions run concurrently', async () => {
    const records = numbers(3, 15);
    const log: Array<[number, number]> = [];
    const next = random(7);
    const definition = defineConsumer(
      { name: 'order', topic: 'numbers' },
      async (record: KafkaRecord<unknown, string>) => {
        await sleep(next() * 3); // handlers that take their time must still not overtake
        log.push([record.partition, record.offset]);
      },
    );
    const event = toEvent(shuffle(records, 3));
    // The event really is out of order within a partition, or this test proves nothing.
    const listed = Object.values(event.records).flat();
    expect(listed.some((r, i) => i > 0 && r.offset < listed[i - 1]!.offset)).toBe(true);
    await harness(definition).run(event);

    expect(log).toHaveLength(records.length);
    for (const partition of [0, 1, 2]) {
      const offsets = log.filter(([p]) => p === partition).map(([, o]) => o);
      expect(offsets).toEqual([...Array(15).keys()]);
    }
    // Run one partition after another, the log would switch partitions twice; it switches often.
    const switches = log.filter(([p], i) => i > 0 && p !== log[i - 1]![0]).length;
    expect(switches).toBeGreaterThan(10);
  });
});

describe('exactly once', () => {
  /** Sums each partition's values, and marks each record applied, so a double run shows. */
  function summing(failAt?: { partition: number; offset: number }) {
    return defineConsumer(
      { name: 'summing', topic: 'numbers' },
      (record: KafkaRecord<unknown, string>, ctx: Context) => {
        ctx.table('applied').add(`${record.partition}@${record.offset}`, 1);
        ctx.table('sums').add(`p${record.partition}`, (record.value as { n: number }).n);
        // The failing record has written before it throws: none of that may land.
        if (record.partition === failAt?.partition && record.offset === failAt.offset) {
          throw new Error('the handler broke');
        }
      },
    );
  }

  /** What the state must be after `records`, computed without dogear. */
  function oracle(records: readonly NdjsonRecord[]) {
    const applied: Record<string, number> = {};
    const sums: Record<string, number> = {};
    for (const r of records) {
      applied[`${r.partition}@${r.offset}`] = (applied[`${r.partition}@${r.offset}`] ?? 0) + 1;
      sums[`p${r.partition}`] = (sums[`p${r.partition}`] ?? 0) + n(r);
    }
    return { applied, sums };
  }

  test('a redelivered event is all duplicates: counted, skipped, state unchanged', async () => {
    const records = numbers(3, 8);
    const h = harness(summing());
    await h.run(toEvent(records));
    const after = { applied: await h.table('applied'), sums: await h.table('sums') };
    expect(after).toEqual(oracle(records));

    await h.run(toEvent(shuffle(records, 11)));
    expect(h.reports[1]).toMatchObject({ records: 24, processed: 0, duplicates: 24, failed: 0 });
    expect({ applied: await h.table('applied'), sums: await h.table('sums') }).toEqual(after);

    // A batch that overlaps the committed one: only the new records run.
    const more = numbers(3, 12);
    await h.run(toEvent(more));
    expect(h.reports[2]).toMatchObject({ records: 36, processed: 12, duplicates: 24 });
    expect({ applied: await h.table('applied'), sums: await h.table('sums') }).toEqual(
      oracle(more),
    );
  });

  test('a record listed twice in one event runs once', async () => {
    // Say, an events file that holds a recording twice: one batch, the same offsets twice.
    const records = numbers(2, 5);
    const h = harness(summing());
    await h.run(toEvent(shuffle([...records, ...records.slice(3)], 5)));
    expect({ applied: await h.table('applied'), sums: await h.table('sums') }).toEqual(
      oracle(records),
    );
    const repeated = records.length - 3;
    expect(h.reports[0]).toMatchObject({ processed: records.length, duplicates: repeated });
  });

  test('a record that throws: earlier records commit once, its effects do not, a retry continues from it', async () => {
    const records = numbers(3, 10);
    const failAt = { partition: 1, offset: 6 };
    const store = new MemoryStateStore();
    const broken = harness(summing(failAt), store);
    const event = toEvent(records);

    const error = await broken.run(event).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BatchFailedError);
    expect((error as Error).message).toContain('numbers-1@6');
    expect((error as Error).message).toContain('the handler broke');
    const [failure] = (error as BatchFailedError).failures;
    expect(failure).toBeInstanceOf(RecordFailedError);
    expect(failure).toMatchObject(failAt);

    // Every record before the failing one in its partition, and the other partitions whole.
    const committed = records.filter(
      (r) => r.partition !== failAt.partition || r.offset < failAt.offset,
    );
    expect({ applied: await broken.table('applied'), sums: await broken.table('sums') }).toEqual(
      oracle(committed),
    );
    expect(await broken.offsets()).toEqual({ 0: 9, 1: 5, 2: 9 });
    expect(broken.reports[0]).toMatchObject({ processed: 26, failed: 1 });

    // Lambda retries the same event; the bug is fixed by then (a new deployment, a new handler).
    const fixed = harness(summing(), store);
    await fixed.run(event);
    expect(fixed.reports[0]).toMatchObject({ processed: 4, duplicates: 26, failed: 0 });
    expect({ applied: await fixed.table('applied'), sums: await fixed.table('sums') }).toEqual(
      oracle(records),
    );
    expect(await fixed.offsets()).toEqual({ 0: 9, 1: 9, 2: 9 });
  });

  test('two partitions read-modify-writing one key end with the exact sum, rerunning on conflicts', async () => {
    const definition = defineConsumer(
      { name: 'total', topic: 'numbers' },
      async (record: KafkaRecord<unknown, string>, ctx: Context) => {
        const totals = ctx.table<number>('totals');
        const value = (record.value as { n: number }).n;
        const current = (await totals.get('sum')) ?? 0;
        await sleep(1); // let the other partition read the same version before this one writes
        totals.set('sum', current + value);
        await totals.update('count', (c) => (c ?? 0) + 1);
      },
    );
    let reruns = 0;
    for (let run = 0; run < 5; run++) {
      const records = numbers(2, 10, run + 100);
      const h = harness(definition);
      await h.run(toEvent(records));
      let sum = 0;
      for (const r of records) sum += n(r);
      expect(await h.table('totals')).toEqual({ sum, count: records.length });
      expect(h.reports[0]).toMatchObject({ processed: records.length, failed: 0 });
      reruns += h.reports[0]!.reruns;
    }
    // Without a conflict this test would not show that reruns are safe.
    expect(reruns).toBeGreaterThan(0);
  });

  test('a record that failed once and succeeds when its slice reruns after a conflict does not fail the batch', async () => {
    let thrown = false;
    const definition = defineConsumer(
      { name: 'transient', topic: 'numbers' },
      async (record: KafkaRecord<unknown, string>, ctx: Context) => {
        const totals = ctx.table<number>('totals');
        const current = (await totals.get('sum')) ?? 0;
        // Partition 1 is slow, so partition 0 commits `sum` first and partition 1 conflicts.
        if (record.partition === 1) await sleep(20);
        if (record.partition === 1 && record.offset === 1 && !thrown) {
          thrown = true;
          throw new Error('a transient failure'); // say, a timeout of a call it makes
        }
        totals.set('sum', current + (record.value as { n: number }).n);
      },
    );
    const records = numbers(2, 2);
    const h = harness(definition);
    await h.run(toEvent(records));
    let sum = 0;
    for (const r of records) sum += n(r);
    expect(thrown).toBe(true);
    expect(h.reports[0]).toMatchObject({ processed: 4, failed: 0 });
    expect(h.reports[0]!.reruns).toBeGreaterThan(0);
    expect(await h.table('totals')).toEqual({ sum });
  });
});

describe('ctx.state', () => {
  test('is keyed by the record key', async () => {
    const records = numbers(2, 20);
    const definition = defineConsumer(
      { name: 'keyed', topic: 'numbers' },
      (record: KafkaRecord<unknown, string>, ctx: Context) => {
        ctx.state.add((record.value as { n: number }).n);
      },
    );
    const result = await invoke(definition, records);
    expect(result.error).toBeUndefined();
    const expected: Record<string, number> = {};
    for (const r of records) expected[r.key!] = (expected[r.key!] ?? 0) + n(r);
    expect(await result.table('state')).toEqual(expected);
  });

  test('on a record without a key fails that record, saying why', async () => {
    const records: NdjsonRecord[] = [
      { topic: 'numbers', partition: 0, offset: 0, key: 'a', value: '{"n":1}' },
      { topic: 'numbers', partition: 0, offset: 1, value: '{"n":2}' },
    ];
    const definition = defineConsumer(
      { name: 'keyless', topic: 'numbers' },
      (_record: KafkaRecord<unknown, string>, ctx: Context) => ctx.state.set(true),
    );
    const result = await invoke(definition, records);
    expect(result.error).toBeInstanceOf(BatchFailedError);
    expect(result.error!.message).toContain('numbers-0@1');
    expect(result.error!.message).toMatch(/ctx\.state needs a record key.*ctx\.table/);
    expect(await result.table('state')).toEqual({ a: true });
  });
});

describe('ctx.state keys', () => {
  const counting = (name: string, key: 'string' | 'bytes' | 'json') =>
    defineConsumer({ name, topic: 'keys', key }, (record, ctx: Context) => {
      ctx.state.add((record.value as { n: number }).n);
    });
  const at = (offset: number, key: Partial<NdjsonRecord>, n: number): NdjsonRecord => ({
    topic: 'keys',
    partition: 0,
    offset,
    value: JSON.stringify({ n }),
    ...key,
  });

  test("key: 'json' (Debezium's keys): the same key in another property order is one item", async () => {
    const records = [
      at(0, { key: '{"id":1,"t":"a"}' }, 1),
      at(1, { key: '{"t":"a","id":1}' }, 2),
      at(2, { key: '{ "t": "a", "id": 1 }' }, 4),
      at(3, { key: '{"id":2,"t":"a"}' }, 8),
      at(4, { key: '"abc"' }, 16),
      at(5, { key: '1' }, 32),
      at(6, { key: '"1"' }, 64),
    ];
    const result = await invoke(counting('cdc', 'json'), records);
    expect(result.error).toBeUndefined();
    expect(await result.table('state')).toEqual({
      '{"id":1,"t":"a"}': 7,
      '{"id":2,"t":"a"}': 8,
      '"abc"': 16,
      '1': 32,
      '"1"': 64,
    });
  });

  test("key: 'bytes': ff01 and fe01 stay two items, keyed by their base64", async () => {
    const records = [
      at(0, { keyBase64: '/wE=' }, 1),
      at(1, { keyBase64: '/gE=' }, 2),
      at(2, { keyBase64: '/wE=' }, 4),
    ];
    const result = await invoke(counting('binary-keys', 'bytes'), records);
    expect(result.error).toBeUndefined();
    expect(await result.table('state')).toEqual({ '/wE=': 5, '/gE=': 2 });
  });

  test("key: 'string' (the default): a key that is not UTF-8 fails its record by name, suggesting key: 'bytes'", async () => {
    const records = [
      at(0, { key: 'ok' }, 1),
      at(1, { keyBase64: '/wE=' }, 2),
      at(2, { keyBase64: '/gE=' }, 4),
    ];
    const result = await invoke(counting('text-keys', 'string'), records);
    expect(result.error).toBeInstanceOf(BatchFailedError);
    expect(result.error!.message).toContain('keys-0@1');
    expect(result.error!.message).toMatch(/key is not UTF-8.*ff 01/);
    expect(result.error!.message).toContain("key: 'bytes'");
    expect(await result.table('state')).toEqual({ ok: 1 });
  });
});

describe('@onBatch', () => {
  test('receives only the records that are not duplicates', async () => {
    const received: number[][] = [];
    @consumer({ topic: 'numbers', name: 'batches' })
    class Batches {
      @onBatch()
      take(slice: { records: readonly KafkaRecord[] }, ctx: Context) {
        const offsets = slice.records.map((r) => r.offset);
        received.push(offsets);
        expect(ctx.offset).toBe(offsets.at(-1));
        ctx.table('count').add('records', slice.records.length);
      }
    }
    const store = new MemoryStateStore();
    const all = numbers(1, 10);
    await invoke(Batches, all.slice(0, 4), { store });
    const again = await invoke(Batches, all, { store });
    expect(received).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7, 8, 9],
    ]);
    expect(again.reports[0]).toMatchObject({ duplicates: 4, processed: 6 });
    expect(await again.table('count')).toEqual({ records: 10 });
    // Nothing new: the handler is not called with an empty slice.
    await invoke(Batches, all, { store });
    expect(received).toHaveLength(2);
  });
});

describe('middlewares', () => {
  test('middy middlewares in the consumer options wrap the handler; before sees the event', async () => {
    const calls: string[] = [];
    let seen: unknown;
    const middleware: MiddlewareObj<KafkaEvent> = {
      before: (request) => {
        seen = request.event;
        calls.push('before');
      },
      after: () => {
        calls.push('after');
      },
    };
    const definition = defineConsumer(
      { name: 'wrapped', topic: 'numbers', middlewares: [middleware] },
      () => {
        calls.push('handler');
      },
    );
    const event = toEvent(numbers(1, 1));
    await harness(definition).run(event);
    expect(seen).toEqual(event);
    expect(calls).toEqual(['before', 'handler', 'after']);
  });
});

describe('a new log under an old checkpoint', () => {
  /** Counts each record it applies, so a record that ran shows. */
  const counting = defineConsumer(
    { name: 'counting', topic: 'numbers', group: 'counting-group' },
    (record: KafkaRecord<unknown, string>, ctx: Context) => {
      ctx.table('applied').add(String(record.offset), 1);
    },
  );

  function withTopicId(store: MemoryStateStore, topicId: string | undefined) {
    const reports: InvocationReport[] = [];
    const handler = createHandler(counting, {
      store,
      cache: new StateCache(),
      log: createLogger(() => {}),
      onReport: (report) => reports.push(report),
      topicId: () => topicId,
    });
    return { run: (event: KafkaEvent) => handler(event, lambdaContext(counting)), reports };
  }

  /** Records 0..9 of partition 0, then the same offsets with other values: a new log. */
  const first = numbers(1, 10, 1);
  const other = (records: NdjsonRecord[]) =>
    records.map((r) => ({ ...r, value: JSON.stringify({ n: -1 - r.offset }) }));

  async function committed(store = new MemoryStateStore()) {
    const h = harness(counting, store);
    await h.run(toEvent(first));
    expect(await h.offsets()).toEqual({ 0: 9 });
    return h;
  }

  test('a different record at the checkpoint offset fails the partition with TopicRecreatedError, counted, nothing applied', async () => {
    const h = await committed();
    const before = await h.table('applied');
    const error = await h.run(toEvent(other(first))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BatchFailedError);
    const failure = (error as BatchFailedError).failures[0];
    expect(failure).toBeInstanceOf(TopicRecreatedError);
    expect(failure).toMatchObject({ topic: 'numbers', partition: 0, offset: 9 });
    const message = (failure as Error).message;
    expect(message).toContain('group counting-group');
    expect(message).toContain('numbers-0');
    expect(message).toContain('offset 9');
    expect(message).toContain('recreated');
    expect(message).toContain('skipped');
    expect(message).toContain('--reset');
    expect(h.reports[1]).toMatchObject({
      records: 10,
      processed: 0,
      duplicates: 0,
      failed: 1,
      recreated: 1,
    });
    expect(h.reports[1]!.partitions[0]).toMatchObject({ recreated: 1 });
    expect(await h.table('applied')).toEqual(before);
    expect(await h.offsets()).toEqual({ 0: 9 });
  });

  test('a new log whose batch runs past the checkpoint is detected too, and nothing of it runs', async () => {
    const h = await committed();
    const longer = other(numbers(1, 14, 1));
    await expect(h.run(toEvent(longer))).rejects.toBeInstanceOf(BatchFailedError);
    expect(h.reports[1]).toMatchObject({ processed: 0, recreated: 1 });
    expect(await h.offsets()).toEqual({ 0: 9 });
    expect(Object.keys(await h.table('applied'))).toHaveLength(10);
  });

  test('the same records 0..9 again are silent duplicates', async () => {
    const h = await committed();
    await h.run(toEvent(shuffle(first, 5)));
    expect(h.reports[1]).toMatchObject({ processed: 0, duplicates: 10, failed: 0, recreated: 0 });
  });

  test('the same log read on past the checkpoint runs the new records', async () => {
    const h = await committed();
    await h.run(toEvent(numbers(1, 14, 1)));
    expect(h.reports[1]).toMatchObject({ processed: 4, duplicates: 10, failed: 0, recreated: 0 });
    expect(await h.offsets()).toEqual({ 0: 13 });
  });

  test('without a topic id, a batch that does not hold the checkpoint offset is not detected: silent duplicates', async () => {
    const h = await committed();
    await h.run(toEvent(other(first).slice(0, 5)));
    expect(h.reports[1]).toMatchObject({ processed: 0, duplicates: 5, failed: 0, recreated: 0 });
  });

  test('a topic id that differs from the checkpoint’s is detected though the batch does not hold its offset', async () => {
    const store = new MemoryStateStore();
    const before = withTopicId(store, 'aaaa');
    await before.run(toEvent(first));
    expect((await store.scanCheckpoints('counting-group'))[0]).toMatchObject({
      offset: 9,
      topicId: 'aaaa',
    });

    // Same id: the same log read again, silent.
    await before.run(toEvent(first.slice(0, 5)));
    expect(before.reports[1]).toMatchObject({ duplicates: 5, failed: 0, recreated: 0 });

    const after = withTopicId(store, 'bbbb');
    const error = await after.run(toEvent(other(first).slice(0, 5))).catch((e: unknown) => e);
    const failure = (error as BatchFailedError).failures[0];
    expect(failure).toBeInstanceOf(TopicRecreatedError);
    expect((failure as Error).message).toContain('topic id');
    expect(after.reports[0]).toMatchObject({ processed: 0, failed: 1, recreated: 1 });
    expect((await store.scanCheckpoints('counting-group'))[0]).toMatchObject({ offset: 9 });
  });

  test('a checkpoint without a topic id takes the one known when it next commits', async () => {
    const store = new MemoryStateStore();
    await committed(store);
    const later = withTopicId(store, 'aaaa');
    await later.run(toEvent(numbers(1, 12, 1)));
    expect(later.reports[0]).toMatchObject({ processed: 2, recreated: 0 });
    expect((await store.scanCheckpoints('counting-group'))[0]).toMatchObject({
      offset: 11,
      topicId: 'aaaa',
    });
  });
});
