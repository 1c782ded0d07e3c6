/**
 * ctx.once across overlapping invocations: an effect still running elsewhere is in progress (a
 * lease), one whose invocation can no longer be running is interrupted, and @onBatch refuses it.
 */
import type { Context as LambdaContext } from 'aws-lambda';
import { describe, expect, test } from 'vitest';
import { eventOf, eventRecordOf, type KafkaEvent, type KafkaRecord } from '../event/index.ts';
import { MemoryStateStore, StateCache, type StateStore } from '../state/index.ts';
import { invoke } from '../testing/index.ts';
import { consumer, defineConsumer, onBatch } from './consumer.ts';
import { OnceInBatchError, OnceInProgressError, OnceInterruptedError } from './errors.ts';
import { createHandler } from './handler.ts';
import { lambdaContext } from './lambda-context.ts';
import { createLogger } from './logger.ts';
import type { ConsumerDefinition, Context } from './types.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const record = (offset: number) => ({
  topic: 'orders',
  partition: 0,
  offset,
  key: 'k',
  value: JSON.stringify({ n: offset }),
});
const eventOfOffsets = (offsets: number[]): KafkaEvent =>
  eventOf(offsets.map((o) => eventRecordOf(record(o), `record ${o}`)));

/** A promise and the function that resolves it. */
function gate<T = void>() {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** One Lambda instance: its own handler and cache, on a store shared with the others. */
function instance(definition: ConsumerDefinition, store: StateStore) {
  const handler = createHandler(definition, {
    store,
    cache: new StateCache(),
    log: createLogger(() => {}),
  });
  return (event: KafkaEvent, context: LambdaContext = lambdaContext(definition) as LambdaContext) =>
    handler(event, context);
}

/** A Lambda context whose invocation has `ms` left. */
const remaining = (definition: ConsumerDefinition, ms: number) =>
  ({
    ...lambdaContext(definition),
    getRemainingTimeInMillis: () => ms,
  }) as LambdaContext;

/** What a failed invocation's record failed with. */
async function causeOf(run: Promise<unknown>): Promise<unknown> {
  const error = (await run.then(
    () => undefined,
    (e: unknown) => e,
  )) as { cause?: { cause?: unknown } } | undefined;
  return error?.cause?.cause;
}

function charging(effect: () => Promise<string>) {
  const calls = { n: 0 };
  const definition = defineConsumer(
    { name: 'charging', topic: 'orders' },
    async (_record: KafkaRecord, ctx: Context) => {
      const id = await ctx.once('charge', async () => {
        calls.n++;
        return effect();
      });
      ctx.table('charges').set(String(ctx.offset), id);
    },
  );
  return { definition, calls };
}

describe('ctx.once and overlapping invocations', () => {
  test('an effect still running in another invocation fails the record with OnceInProgressError, and runs once', async () => {
    const inEffect = gate<string>();
    const { definition, calls } = charging(() => inEffect.promise);
    const store = new MemoryStateStore();
    const first = instance(definition, store)(eventOfOffsets([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    while (calls.n === 0) await sleep(1);
    // Lambda runs an overlapping invocation with a shorter slice of the same partition.
    const cause = await causeOf(instance(definition, store)(eventOfOffsets([0, 1, 2, 3, 4])));
    expect(cause).toBeInstanceOf(OnceInProgressError);
    const error = cause as OnceInProgressError;
    expect(error.message).toContain("ctx.once('charge')");
    expect(error.message).toContain('orders-0@0');
    expect(error.message).toMatch(/still running.*until \d{4}-\d\d-\d\dT/);
    expect(error.retryable).toBe(true);
    expect(error).toMatchObject({ topic: 'orders', partition: 0, offset: 0 });
    expect(calls.n).toBe(1);

    inEffect.open('ch-1');
    await first;
    // Each record's effect ran once; a redelivery gets the stored result.
    expect(calls.n).toBe(10);
    await instance(definition, store)(eventOfOffsets([0, 1, 2, 3, 4]));
    expect(calls.n).toBe(10);
    expect(Object.fromEntries(await store.scanTable('charging', 'charges'))).toMatchObject({
      '0': 'ch-1',
    });
  });

  test('once the lease of the invocation that claimed it has run out, an unfinished effect is interrupted', async () => {
    const { definition, calls } = charging(() => new Promise<string>(() => {})); // it never returns
    const store = new MemoryStateStore();
    // The claiming invocation has 30 ms left: it cannot be running after that.
    // (middy ends it early, as Lambda would: the effect is left unfinished.)
    instance(definition, store)(eventOfOffsets([0]), remaining(definition, 30)).catch(() => {});
    while (calls.n === 0) await sleep(1);
    const early = await causeOf(instance(definition, store)(eventOfOffsets([0])));
    expect(early).toBeInstanceOf(OnceInProgressError);
    await sleep(50);
    const late = await causeOf(instance(definition, store)(eventOfOffsets([0])));
    expect(late).toBeInstanceOf(OnceInterruptedError);
    expect(calls.n).toBe(1);
  });

  test('without a Lambda context, the lease is the consumer deploy.timeout', async () => {
    const inEffect = gate<string>();
    const definition = defineConsumer(
      { name: 'charging', topic: 'orders', deploy: { timeout: 5 } },
      async (_record: KafkaRecord, ctx: Context) => {
        await ctx.once('charge', () => inEffect.promise);
      },
    );
    const store = new MemoryStateStore();
    const before = Date.now();
    const run = instance(definition, store)(eventOfOffsets([0]), {} as LambdaContext);
    await sleep(20);
    const claim = await store.claimOnce(
      { group: 'charging', topic: 'orders', partition: 0, offset: 0, name: 'charge' },
      Date.now() + 60_000,
      { startedAt: Date.now(), leaseUntil: Date.now() },
    );
    expect(claim).toMatchObject({ claimed: false, done: false, status: 'running' });
    const { startedAt, leaseUntil } = claim as { startedAt: number; leaseUntil: number };
    expect(startedAt).toBeGreaterThanOrEqual(before);
    expect(leaseUntil).toBeGreaterThanOrEqual(before + 5000);
    expect(leaseUntil).toBeLessThanOrEqual(Date.now() + 5000);
    inEffect.open('done');
    await run;
  });
});

describe('ctx.once in @onBatch', () => {
  test('fails with OnceInBatchError naming the consumer and the slice, and says what to do', async () => {
    let ran = 0;
    @consumer({ topic: 'orders', name: 'batched' })
    class Batched {
      @onBatch()
      async take(_slice: { records: readonly KafkaRecord[] }, ctx: Context) {
        await ctx.once('notify', () => {
          ran++;
        });
      }
    }
    const result = await invoke(Batched, [0, 1, 2, 3, 4].map(record));
    const cause = (result.error as { cause?: { cause?: unknown } }).cause?.cause;
    expect(cause).toBeInstanceOf(OnceInBatchError);
    const message = (cause as Error).message;
    expect(message).toContain('batched');
    expect(message).toContain('orders-0@0..4');
    expect(message).toMatch(/@onRecord/);
    expect(message).toMatch(/ctx\.table/);
    expect(ran).toBe(0);
  });
});
