/**
 * Outputs and dead letters through the outbox, on the memory store: what commits with what, what
 * a relay that fails or a process that dies leaves, how a reader skips outputs relayed twice,
 * and how failed deliveries of a record are counted. The relay here is a list; delivery to a
 * real broker, SQS and S3 is test/output-*.test.ts's, the whole pipeline under SIGKILL
 * test/pipeline.test.ts's.
 */
import { describe, expect, test } from 'vitest';
import { eventOf, eventRecordOf, type NdjsonRecord } from '../event/index.ts';
import type { OutboxRelay } from '../output/index.ts';
import { MemoryStateStore, type OutboxMessage, StateCache, StateError } from '../state/index.ts';
import { defineConsumer } from './consumer.ts';
import { BatchFailedError, EmitError, OutputsUndeliveredError } from './errors.ts';
import { createHandler, type InvocationReport } from './handler.ts';
import { lambdaContext } from './lambda-context.ts';
import { createLogger } from './logger.ts';
import type { ConsumerDefinition } from './types.ts';

/** A relay that keeps what it is sent, and fails while `down` is set. */
class ListRelay implements OutboxRelay {
  sent: OutboxMessage[] = [];
  down = false;
  async send(messages: readonly OutboxMessage[]): Promise<void> {
    if (this.down) throw new Error('broker unreachable');
    this.sent.push(...messages);
  }
  async close(): Promise<void> {}
}

interface Reading {
  sensor: string;
  celsius: number;
}

function readings(values: Array<number | 'poison'>, partition = 0): NdjsonRecord[] {
  return values.map((celsius, offset) => ({
    topic: 'readings',
    partition,
    offset,
    key: `s${offset % 3}`,
    value:
      celsius === 'poison' ? '{not json' : JSON.stringify({ sensor: `s${offset % 3}`, celsius }),
  }));
}

/** One invocation, as a process would run it: `cache` is the process's, `relay` its relay. */
async function invoke(
  definition: ConsumerDefinition,
  store: MemoryStateStore,
  records: NdjsonRecord[],
  relay: OutboxRelay,
  cache = new StateCache(),
) {
  const reports: InvocationReport[] = [];
  const handler = createHandler(definition, {
    store,
    cache,
    log: createLogger(() => {}, 'error'),
    onReport: (r) => reports.push(r),
    relay: () => relay,
  });
  let error: unknown;
  try {
    await handler(
      eventOf(records.map((r, i) => eventRecordOf(r, `record ${i}`))),
      lambdaContext(definition),
    );
  } catch (e) {
    error = e;
  }
  return { report: reports[0]!, error };
}

const alerts = (options: { emits?: string[]; topic?: string } = {}) =>
  defineConsumer(
    { name: 'alerts', topic: 'readings', emits: options.emits ?? ['alerts'] },
    async (record, ctx) => {
      const { sensor, celsius } = record.value as Reading;
      ctx.state.set(celsius);
      if (celsius > 30) {
        ctx.emit(
          options.topic ?? 'alerts',
          { sensor, celsius },
          { key: sensor, headers: { a: 'b' } },
        );
      }
    },
  );

const text = (base64: string | null) =>
  base64 === null ? null : Buffer.from(base64, 'base64').toString();

describe('ctx.emit: outputs commit with the record and are relayed after', () => {
  test('each output of a record that commits is relayed once, in order, with its origin', async () => {
    const store = new MemoryStateStore();
    const relay = new ListRelay();
    const { error, report } = await invoke(alerts(), store, readings([31, 20, 35, 40]), relay);
    expect(error).toBeUndefined();
    expect(
      relay.sent.map((m) => [m.to, text(m.key), JSON.parse(text(m.value)!), m.origin]),
    ).toEqual([
      ['alerts', 's0', { sensor: 's0', celsius: 31 }, 'alerts|readings|0|0|0'],
      ['alerts', 's2', { sensor: 's2', celsius: 35 }, 'alerts|readings|0|2|0'],
      ['alerts', 's0', { sensor: 's0', celsius: 40 }, 'alerts|readings|0|3|0'],
    ]);
    expect(relay.sent[0]!.headers).toEqual([['a', Buffer.from('b').toString('base64')]]);
    expect(report.outputsRelayed).toBe(3);
    expect(report.outputsPending).toBe(0);
    // Delivered, so the checkpoint keeps no outbox.
    const [checkpoint] = await store.scanCheckpoints('alerts');
    expect(checkpoint!.outbox).toBeUndefined();
    expect(checkpoint!.offset).toBe(3);
  });

  test('a record that throws emits nothing; the records before it do', async () => {
    const store = new MemoryStateStore();
    const relay = new ListRelay();
    const flaky = defineConsumer(
      { name: 'flaky', topic: 'readings', emits: ['alerts'] },
      async (record, ctx) => {
        ctx.emit('alerts', record.offset);
        if (record.offset === 2) throw new Error('boom');
      },
    );
    const { error } = await invoke(flaky, store, readings([1, 2, 3, 4]), relay);
    expect(error).toBeInstanceOf(BatchFailedError);
    expect(relay.sent.map((m) => text(m.value))).toEqual(['0', '1']);
  });

  test('a relay that fails leaves the outbox in the checkpoint; the next delivery sends it first', async () => {
    const store = new MemoryStateStore();
    const relay = new ListRelay();
    relay.down = true;
    const records = readings([31, 32, 33]);
    const first = await invoke(alerts(), store, records, relay);
    expect(first.error).toBeInstanceOf(BatchFailedError);
    const failure = (first.error as BatchFailedError).failures[0];
    expect(failure).toBeInstanceOf(OutputsUndeliveredError);
    expect(failure!.message).toMatch(
      /3 output\(s\) of readings-0, committed with offset 2.*broker unreachable/,
    );
    expect(first.report.outputsPending).toBe(3);
    // The state committed, and the outputs with it.
    expect((await store.scanCheckpoints('alerts'))[0]!.outbox).toHaveLength(3);
    expect(await store.scanTable('alerts', 'state')).toEqual(
      new Map([
        ['s0', 31],
        ['s1', 32],
        ['s2', 33],
      ]),
    );

    // Lambda retries the batch, in another process: the records are duplicates, the outputs go out.
    relay.down = false;
    const retry = await invoke(alerts(), store, records, relay);
    expect(retry.error).toBeUndefined();
    expect(retry.report.duplicates).toBe(3);
    expect(relay.sent.map((m) => m.origin)).toEqual([
      'alerts|readings|0|0|0',
      'alerts|readings|0|1|0',
      'alerts|readings|0|2|0',
    ]);
    expect((await store.scanCheckpoints('alerts'))[0]!.outbox).toBeUndefined();
  });

  test('a warm process whose relay failed sends the outbox before its next records', async () => {
    const store = new MemoryStateStore();
    const relay = new ListRelay();
    const cache = new StateCache();
    relay.down = true;
    await invoke(alerts(), store, readings([31, 32]), relay, cache);
    relay.down = false;
    const next = readings([31, 32, 33]).slice(2);
    const { error } = await invoke(alerts(), store, next, relay, cache);
    expect(error).toBeUndefined();
    expect(relay.sent.map((m) => m.origin)).toEqual([
      'alerts|readings|0|0|0',
      'alerts|readings|0|1|0',
      'alerts|readings|0|2|0',
    ]);
  });

  test('emitting to a topic not in emits fails the record by name, with the fix', async () => {
    const store = new MemoryStateStore();
    const relay = new ListRelay();
    const { error } = await invoke(
      alerts({ topic: 'elsewhere' }),
      store,
      readings([10, 31]),
      relay,
    );
    const failure = (error as BatchFailedError).failures[0]!;
    expect(failure.cause).toBeInstanceOf(EmitError);
    expect(failure.message).toMatch(
      /readings-0@1.*may not write 'elsewhere': add it to the consumer's emits \(now alerts\)/,
    );
    expect(relay.sent).toEqual([]);
    // The record before it committed.
    expect((await store.scanCheckpoints('alerts'))[0]!.offset).toBe(0);
  });

  test.each([
    [
      'a value JSON cannot write',
      undefined,
      {},
      /has no JSON value \(undefined\); emit null for a tombstone/,
    ],
    [
      'a string format given a number',
      5,
      { format: 'string' },
      /is a number, not a string \(format 'string'\)/,
    ],
    [
      'a reserved header',
      1,
      { headers: { 'dogear-origin': 'x' } },
      /headers starting dogear- are dogear's own/,
    ],
  ] as const)('%s fails the record', async (_, value, options, message) => {
    const bad = defineConsumer({ name: 'bad', topic: 'readings', emits: ['out'] }, (_r, ctx) => {
      ctx.emit('out', value, options as never);
    });
    const { error } = await invoke(bad, new MemoryStateStore(), readings([1]), new ListRelay());
    expect((error as BatchFailedError).failures[0]!.message).toMatch(message);
  });

  test('outputs too large for one commit land over several commits, each delivered before the next', async () => {
    const store = new MemoryStateStore();
    const relay = new ListRelay();
    const big = defineConsumer({ name: 'big', topic: 'readings', emits: ['out'] }, (r, ctx) => {
      ctx.emit('out', 'x'.repeat(100 * 1024) + r.offset);
    });
    const { error, report } = await invoke(big, store, readings([1, 2, 3, 4, 5, 6]), relay);
    expect(error).toBeUndefined();
    expect(report.commits).toBeGreaterThan(1);
    expect(relay.sent.map((m) => m.origin.split('|')[3])).toEqual(['0', '1', '2', '3', '4', '5']);
  });

  test('one output larger than a commit holds fails its record with what to do', async () => {
    const huge = defineConsumer({ name: 'huge', topic: 'readings', emits: ['out'] }, (_r, ctx) => {
      ctx.emit('out', 'x'.repeat(400 * 1024));
    });
    const { error } = await invoke(huge, new MemoryStateStore(), readings([1]), new ListRelay());
    expect((error as BatchFailedError).failures[0]!.message).toMatch(
      /readings-0@0.*emits about \d+ bytes of outputs.*put large payloads elsewhere/,
    );
  });
});

describe('a dogear consumer reading outputs applies each once, however often it was relayed', () => {
  /** Outputs as the relay would deliver them on `alerts`: origin headers, at offsets in order. */
  function relayed(origins: string[]): NdjsonRecord[] {
    return origins.map((origin, offset) => ({
      topic: 'alerts',
      partition: 0,
      offset,
      key: 's0',
      value: JSON.stringify({ celsius: 30 + offset }),
      headers: { 'dogear-origin': origin },
    }));
  }
  const alertLog = defineConsumer({ name: 'alert-log', topic: 'alerts' }, (_r, ctx) => {
    ctx.table('count').add('alerts', 1);
  });

  test('duplicates right after, later, and across invocations are skipped without a lookup', async () => {
    const store = new MemoryStateStore();
    const a = 'alerts|readings|0';
    const b = 'alerts|readings|1';
    // 1 and 2 relayed twice in a row; 0 again after later ones (a zombie's late relay); b beside a.
    const first = relayed([
      `${a}|0|0`,
      `${a}|1|0`,
      `${a}|1|1`,
      `${b}|7|0`,
      `${a}|1|0`,
      `${a}|1|1`,
      `${a}|0|0`,
      `${a}|3|0`,
    ]);
    const one = await invoke(alertLog, store, first, new ListRelay());
    expect(one.error).toBeUndefined();
    expect(one.report.processed).toBe(5);
    expect(one.report.duplicates).toBe(3);
    expect(await store.scanTable('alert-log', 'count')).toEqual(new Map([['alerts', 5]]));
    // The next invocation: the marks are in the checkpoint.
    const more = relayed([
      ...first.map((r) => r.headers!['dogear-origin']!),
      `${b}|7|0`,
      `${b}|8|0`,
    ]).slice(8);
    const two = await invoke(
      alertLog,
      store,
      more.map((r, i) => ({ ...r, offset: 8 + i })),
      new ListRelay(),
    );
    expect(two.report.duplicates).toBe(1);
    expect(await store.scanTable('alert-log', 'count')).toEqual(new Map([['alerts', 6]]));
    expect((await store.scanCheckpoints('alert-log'))[0]!.upstream).toEqual({
      [a]: [3, 0],
      [b]: [8, 0],
    });
  });
});

describe('dead letters: a record that keeps failing is given up, and the partition moves on', () => {
  const strict = (after = 2) =>
    defineConsumer(
      { name: 'strict', topic: 'readings', deadLetter: { after, to: 'readings.dead' } },
      (record, ctx) => {
        ctx.table('sum').add('all', (record.value as Reading).celsius);
      },
    );

  test('a poison record fails its first delivery, goes to the dead letters on the second, with every other record exact', async () => {
    const store = new MemoryStateStore();
    const relay = new ListRelay();
    const records = readings([1, 2, 'poison', 4, 5]);
    const first = await invoke(strict(), store, records, relay);
    expect(first.error).toBeInstanceOf(BatchFailedError);
    expect(await store.scanTable('strict', 'sum')).toEqual(new Map([['all', 3]]));
    expect((await store.scanCheckpoints('strict'))[0]!.attempt).toEqual({ offset: 2, count: 1 });

    const second = await invoke(strict(), store, records, relay);
    expect(second.error).toBeUndefined();
    expect(second.report.deadLettered).toBe(1);
    expect(await store.scanTable('strict', 'sum')).toEqual(new Map([['all', 12]]));
    expect(relay.sent).toHaveLength(1);
    const letter = relay.sent[0]!;
    expect(letter.to).toBe('readings.dead');
    expect(text(letter.value)).toBe('{not json');
    expect(text(letter.key)).toBe('s2');
    expect(letter.deadLetter).toMatchObject({
      consumer: 'strict',
      topic: 'readings',
      partition: 0,
      offset: 2,
      attempts: 2,
      error: { name: 'RecordDecodeError' },
    });
    const header = letter.headers.find(([name]) => name === 'dogear-dead-letter')!;
    expect(JSON.parse(text(header[1])!)).toEqual(letter.deadLetter);
    const [checkpoint] = await store.scanCheckpoints('strict');
    expect(checkpoint!.offset).toBe(4);
    expect(checkpoint!.attempt).toBeUndefined();
  });

  test('deliveries that die in the record count too: after it died alone `after` times, the next one gives it up unrun', async () => {
    const store = new MemoryStateStore();
    const relay = new ListRelay();
    let runs = 0;
    const hangs = defineConsumer(
      { name: 'hangs', topic: 'readings', deadLetter: { after: 2, to: 'readings.dead' } },
      async (record, ctx) => {
        if (record.offset === 0) {
          runs++;
          await new Promise(() => {}); // a process that dies here never returns
        }
        ctx.table('seen').add('n', 1);
      },
    );
    const records = readings([1, 2]);
    // Three deliveries, one after the other, that never end: each in a process that is then
    // gone. The first ran the whole slice, so its death proves nothing of offset 0; the next
    // two ran record by record, so they died in it.
    for (let i = 1; i <= 3; i++) {
      void invoke(hangs, store, records, relay);
      await expect.poll(() => runs).toBe(i);
    }
    expect((await store.scanCheckpoints('hangs'))[0]!.attempt).toEqual({
      offset: 0,
      count: 1,
      open: true,
      solo: true,
    });
    const fourth = await invoke(hangs, store, records, relay);
    expect(fourth.error).toBeUndefined();
    expect(runs).toBe(3);
    expect(fourth.report.deadLettered).toBe(1);
    expect(relay.sent[0]!.deadLetter).toMatchObject({
      offset: 0,
      attempts: 2,
      error: { name: 'DeliveriesExhausted' },
    });
    expect(await store.scanTable('hangs', 'seen')).toEqual(new Map([['n', 1]]));
  });

  test('a record that kills the process after a good one does not get the good one given up', async () => {
    const store = new MemoryStateStore();
    const relay = new ListRelay();
    let deaths = 0;
    const killer = defineConsumer(
      { name: 'killer', topic: 'readings', deadLetter: { after: 1, to: 'readings.dead' } },
      async (record, ctx) => {
        if (record.offset === 1 && deaths < 4) {
          deaths++;
          await new Promise(() => {});
        }
        ctx.table('seen').add(String(record.offset), 1);
      },
    );
    const records = readings([1, 2]);
    // Deaths: the slice run whole (proves nothing of either), then record by record: offset 0
    // commits, and 1 dies alone (counts 1).
    for (let i = 1; i <= 2; i++) {
      void invoke(killer, store, records, relay);
      await expect.poll(() => deaths).toBe(i);
    }
    const next = await invoke(killer, store, records, relay);
    expect(next.error).toBeUndefined();
    // Offset 0 is applied once; offset 1, which killed two deliveries, is the one given up.
    expect(await store.scanTable('killer', 'seen')).toEqual(new Map([['0', 1]]));
    expect(relay.sent.map((m) => m.deadLetter?.offset)).toEqual([1]);
  });

  test('a delivery that failed for a store that could not answer does not count against the record', async () => {
    class FlakyStore extends MemoryStateStore {
      down = true;
      override async readItem(group: string, table: string, key: string) {
        if (this.down) throw new StateError('DynamoDB is unreachable');
        return super.readItem(group, table, key);
      }
    }
    const reads = defineConsumer(
      { name: 'reads', topic: 'readings', deadLetter: { after: 1, to: 'readings.dead' } },
      async (_r, ctx) => {
        ctx.table('t').set('v', ((await ctx.table<number>('t').get('v')) ?? 0) + 1);
      },
    );
    const store = new FlakyStore();
    const relay = new ListRelay();
    for (let i = 0; i < 2; i++) {
      expect((await invoke(reads, store, readings([1]), relay)).error).toBeInstanceOf(
        BatchFailedError,
      );
    }
    store.down = false;
    const { error, report } = await invoke(reads, store, readings([1]), relay);
    expect(error).toBeUndefined();
    expect(report.deadLettered).toBe(0);
    expect(relay.sent).toEqual([]);
    expect(await store.scanTable('reads', 't')).toEqual(new Map([['v', 1]]));
  });

  test("a store that cannot answer is not the record's fault: it fails, and is not given up", async () => {
    class DownStore extends MemoryStateStore {
      override async readItem(): Promise<never> {
        const { StateError } = await import('../state/index.ts');
        throw new StateError('DynamoDB is unreachable');
      }
    }
    const reads = defineConsumer(
      { name: 'reads', topic: 'readings', deadLetter: { after: 1, to: 'readings.dead' } },
      async (_r, ctx) => {
        await ctx.table('t').get('k');
      },
    );
    const store = new DownStore();
    const relay = new ListRelay();
    const { error } = await invoke(reads, store, readings([1]), relay);
    expect(error).toBeInstanceOf(BatchFailedError);
    expect(relay.sent).toEqual([]);
  });

  test('deadLetter on an @onBatch consumer is refused when it is defined', () => {
    expect(() =>
      defineConsumer(
        { name: 'b', topic: 't', deadLetter: { after: 1, to: 'd' } },
        { onBatch: () => {} },
      ),
    ).toThrow(/deadLetter needs an @onRecord handler/);
  });

  test.each([
    [
      { after: 0, to: 'd' },
      /deadLetter.after must be a whole number of failed deliveries, 1 to 100/,
    ],
    [
      { after: 1, to: 'arn:aws:sns:us-east-1:123456789012:t' },
      /deadLetter.to must be a Kafka topic name, an SQS queue ARN/,
    ],
  ])('deadLetter %j is refused with the fix', (deadLetter, message) => {
    expect(() => defineConsumer({ name: 'c', topic: 't', deadLetter }, () => {})).toThrow(message);
  });
});

test('an @onBatch reader gets only the outputs it has not applied', async () => {
  const store = new MemoryStateStore();
  const got: number[][] = [];
  const batchLog = defineConsumer(
    { name: 'batch-log', topic: 'alerts' },
    {
      onBatch: (slice, ctx) => {
        got.push(slice.records.map((r) => r.offset));
        ctx.table('count').add('alerts', slice.records.length);
      },
    },
  );
  const a = 'alerts|readings|0';
  const records = [`${a}|0|0`, `${a}|1|0`, `${a}|0|0`, `${a}|1|0`, `${a}|2|0`].map(
    (origin, offset) => ({
      topic: 'alerts',
      partition: 0,
      offset,
      value: '1',
      headers: { 'dogear-origin': origin },
    }),
  );
  const { report } = await invoke(batchLog, store, records, new ListRelay());
  expect(got).toEqual([[0, 1, 4]]);
  expect(report.duplicates).toBe(2);
  expect(report.processed).toBe(3);
  expect(await store.scanTable('batch-log', 'count')).toEqual(new Map([['alerts', 3]]));
});

test('a delivery that commits record by record and then stops at a failing record leaves no delivered outbox behind', async () => {
  const store = new MemoryStateStore();
  const relay = new ListRelay();
  let deliveries = 0;
  const flaky = defineConsumer(
    { name: 'flaky', topic: 'readings', emits: ['out'], deadLetter: { after: 5, to: 'dead' } },
    (record, ctx) => {
      if (record.offset === 0 && deliveries++ === 0) throw new Error('first time only');
      if (record.offset === 1) throw new Error('always');
      ctx.emit('out', record.offset);
    },
  );
  const records = readings([1, 2]);
  await invoke(flaky, store, records, relay);
  // The second delivery counts 2 for offset 0, so it commits record by record.
  const second = await invoke(flaky, store, records, relay);
  expect(second.report.commits).toBe(1);
  expect(relay.sent.map((m) => m.origin)).toEqual(['flaky|readings|0|0|0']);
  const [checkpoint] = await store.scanCheckpoints('flaky');
  expect(checkpoint).toMatchObject({ offset: 0, attempt: { offset: 1, count: 1 } });
  expect(checkpoint!.outbox).toBeUndefined();
});

test('a record too large to keep in a dead letter is given up all the same, its coordinates kept and its bytes left in Kafka', async () => {
  const store = new MemoryStateStore();
  const relay = new ListRelay();
  const picky = defineConsumer(
    { name: 'picky', topic: 'readings', value: 'string', deadLetter: { after: 1, to: 'dead' } },
    (record, ctx) => {
      if (record.offset === 1) throw new Error('refused');
      ctx.table('n').add('ok', 1);
    },
  );
  const records = [0, 1, 2].map((offset) => ({
    topic: 'readings',
    partition: 0,
    offset,
    key: 'k',
    value: offset === 1 ? 'x'.repeat(600 * 1024) : 'small',
  }));
  const { error, report } = await invoke(picky, store, records, relay);
  expect(error).toBeUndefined();
  expect(report.deadLettered).toBe(1);
  expect(await store.scanTable('picky', 'n')).toEqual(new Map([['ok', 2]]));
  const letter = relay.sent[0]!;
  expect(letter.value).toBeNull();
  expect(letter.deadLetter).toMatchObject({
    offset: 1,
    omitted: { valueBytes: 600 * 1024, keyBytes: 1 },
  });
});

test.each([
  ['a registry that cannot answer is retried, not given up', 'retry' as const, 0],
  ['a payload its schema can never read is given up', 'permanent' as const, 1],
])('%s', async (_, failure, deadLettered) => {
  const { SchemaDecodeError } = await import('../schema/index.ts');
  const codec = {
    format: 'avro' as const,
    decode: async () => {
      throw new SchemaDecodeError(`failure ${failure}`, failure);
    },
    encode: async () => new Uint8Array(),
  };
  const decoding = defineConsumer(
    { name: 'decoding', topic: 'readings', value: codec, deadLetter: { after: 1, to: 'dead' } },
    () => {},
  );
  const relay = new ListRelay();
  const { report } = await invoke(decoding, new MemoryStateStore(), readings([1]), relay);
  expect(report.deadLettered).toBe(deadLettered);
  expect(relay.sent).toHaveLength(deadLettered);
});

test('an @onBatch reader that throws counts nothing processed nor duplicate: nothing committed', async () => {
  const failing = defineConsumer(
    { name: 'failing', topic: 'alerts' },
    {
      onBatch: () => {
        throw new Error('down');
      },
    },
  );
  const a = 'alerts|readings|0';
  const records = [`${a}|0|0`, `${a}|0|0`].map((origin, offset) => ({
    topic: 'alerts',
    partition: 0,
    offset,
    value: '1',
    headers: { 'dogear-origin': origin },
  }));
  const { report } = await invoke(failing, new MemoryStateStore(), records, new ListRelay());
  expect(report).toMatchObject({ processed: 0, duplicates: 0 });
});

test('every store refuses a commit whose outbox and upstream marks do not fit the checkpoint item, as DynamoDB would', async () => {
  const message = {
    to: 'out',
    key: null,
    value: 'x'.repeat(200 * 1024),
    headers: [],
    origin: 'g|t|0|0|0',
  };
  const commit = {
    partition: { group: 'g', topic: 't', partition: 0 },
    checkpoint: {
      expectedVersion: 0,
      offset: 0,
      outbox: [message, { ...message, origin: 'g|t|0|0|1' }],
      upstream: { 'up|src|0': [1, 0] as const },
    },
    writes: [],
  };
  await expect(new MemoryStateStore().commit(commit)).rejects.toThrow(
    /bytes of intent, outbox and upstream marks, over the 358400 the checkpoint item holds/,
  );
});

test('lambdaHandler refuses, at cold start, a consumer that emits without a relay', async () => {
  const { lambdaHandler } = await import('./lambda.ts');
  const before = process.env.DOGEAR_DYNAMODB_TABLE;
  process.env.DOGEAR_DYNAMODB_TABLE = 'dogear-state';
  try {
    expect(() => lambdaHandler(alerts())).toThrow(
      /Consumer alerts emits or has a deadLetter, so its handler needs a relay: lambdaHandler\(consumer, \{ relay: environmentRelay \}\)/,
    );
    expect(() => lambdaHandler(alerts(), { relay: () => new ListRelay() })).not.toThrow();
  } finally {
    if (before === undefined) delete process.env.DOGEAR_DYNAMODB_TABLE;
    else process.env.DOGEAR_DYNAMODB_TABLE = before;
  }
});
