import { describe, expect, test } from 'vitest';
import { BatchFailedError, defineConsumer } from '../runtime/index.ts';
import { InjectedFaultError, TestingOptionError } from './errors.ts';
import { invoke } from './invoke.ts';
import type { InvokeOptions } from './types.ts';

const records = [0, 1, 2, 3].map((offset) => ({
  topic: 'words',
  partition: 0,
  offset,
  key: `w${offset}`,
  value: 1,
}));

const counter = defineConsumer({ name: 'counter', topic: 'words' }, (record, ctx) => {
  ctx.table<number>('counts').add('all', record.value as number);
});

const batches = defineConsumer(
  { name: 'batches', topic: 'words' },
  {
    onBatch: (slice, ctx) => {
      ctx.table<number>('counts').add('all', slice.records.length);
    },
  },
);

describe('invoke() faults', () => {
  test('a record fault fails its record `times` deliveries, then the record goes through', async () => {
    const run = await invoke(counter, records, {
      faults: [{ fault: 'record-fails', offset: 2, times: 2 }],
    });
    expect(run.error?.message).toContain('words-0@2');
    expect(run.injected).toHaveLength(1);
    expect(run.injected[0]).toBeInstanceOf(InjectedFaultError);
    expect(run.injected[0]).toMatchObject({ topic: 'words', partition: 0, offset: 2 });
    // Kafka's committed offset: the next to read, one past the last processed (offset 1).
    expect(await run.committedOffsets()).toEqual({ 'words-0': 2 });

    const second = await run.redeliver();
    expect(second.error?.message).toContain('words-0@2');
    const third = await second.redeliver();
    expect(third.error).toBeUndefined();
    expect(third.injected).toEqual([]);
    expect(third.total).toMatchObject({ processed: 2, duplicates: 2 });
    expect(await third.table('counts')).toEqual({ all: 4 });
  });

  test('a record fault in a batch consumer fails its whole slice', async () => {
    const run = await invoke(batches, records, { faults: [{ fault: 'record-fails', offset: 3 }] });
    expect(run.error?.message).toContain('words-0@3');
    expect(await run.table('counts')).toEqual({});
    expect(await (await run.redeliver()).table('counts')).toEqual({ all: 4 });
  });

  test('a commit fault hits the at-th commit, counted over the run', async () => {
    const run = await invoke(counter, records, {
      batchSize: 1,
      faults: [{ fault: 'commit-fails', at: 3 }],
    });
    expect(run.total).toMatchObject({ events: 3, processed: 2 });
    expect(run.injected.map((e) => e.message)).toEqual([
      "injected fault 'commit-fails' on commit 3, words-0 up to offset 2",
    ]);
    const retry = await run.redeliver();
    expect(retry.error).toBeUndefined();
    expect(await retry.table('counts')).toEqual({ all: 4 });
  });

  test('the store a run returns has no faults: a cold start on it is clean', async () => {
    const run = await invoke(counter, records, { faults: [{ fault: 'commit-fails' }] });
    const cold = await invoke(counter, records, { store: run.store });
    expect(cold.error).toBeUndefined();
    expect(await cold.table('counts')).toEqual({ all: 4 });
  });
});

describe('invoke() refuses what would test nothing', () => {
  test.each([
    [{ batchsize: 10 }, "Unknown option 'batchsize' of invoke()"],
    [{ batchSize: 0 }, 'batchSize 0 is not a positive integer'],
    [{ faults: [{ fault: 'record-fail', offset: 1 }] }, 'faults[0].fault is "record-fail"'],
    [
      { faults: [{ fault: 'record-fails', ofset: 1 }] },
      "Unknown option 'ofset' in invoke(): faults[0]",
    ],
    [{ faults: [{ fault: 'record-fails' }] }, 'faults[0].offset is undefined'],
    [{ faults: [{ fault: 'commit-lost', at: 0 }] }, 'faults[0].at is 0'],
    [{ faults: [{ fault: 'commit-lost', offset: 1 }] }, "Unknown option 'offset'"],
  ])('%j', async (options, message) => {
    const run = invoke(counter, records, options as InvokeOptions);
    await expect(run).rejects.toBeInstanceOf(TestingOptionError);
    await expect(run).rejects.toThrow(message);
  });

  test('something that is not a consumer', async () => {
    await expect(invoke({}, records)).rejects.toThrow(/did you pass an instance or the module/);
  });

  test('a redelivery while the run is still delivering', async () => {
    const run = await invoke(counter, records);
    const first = run.redeliver();
    await expect(run.redeliver()).rejects.toThrow(/still going/);
    await expect(first).resolves.toMatchObject({ total: { duplicates: 4 } });
  });
});

describe('invoke() with a partial batch response, as Lambda retries it', () => {
  const failing = (retries?: number, onFailure?: string) => {
    let failuresLeft = 0;
    const definition = defineConsumer(
      {
        name: 'partial',
        topic: 'words',
        deploy: {
          reportBatchItemFailures: true,
          provisionedPollers: { minimum: 1 },
          ...(retries !== undefined ? { maximumRetryAttempts: retries } : {}),
          ...(onFailure ? { onFailure } : {}),
        },
      },
      (record, ctx) => {
        if (record.offset === 1 && failuresLeft-- > 0) throw new Error('offset 1 is not ready');
        ctx.table<number>('seen').set(String(record.offset), record.offset);
      },
    );
    return { definition, failTimes: (n: number) => (failuresLeft = n) };
  };

  test('the named partition is retried from the named offset: no record is lost', async () => {
    const { definition, failTimes } = failing();
    failTimes(1);
    const run = await invoke(definition, records);
    expect(run.error).toBeUndefined();
    expect(Object.keys(await run.table('seen'))).toEqual(['0', '1', '2', '3']);
    expect(await run.committedOffsets()).toEqual({ 'words-0': 4 });
    expect(run.total).toMatchObject({ events: 2, processed: 4, failed: 1 });
  });

  test('a record still failing after maximumRetryAttempts ends the run with its error', async () => {
    const { definition, failTimes } = failing(2);
    failTimes(5);
    const run = await invoke(definition, records);
    expect(run.error).toBeInstanceOf(BatchFailedError);
    expect(run.error?.message).toContain('words-0@1');
    expect(run.error?.message).toContain('offset 1 is not ready');
    expect(run.total.events).toBe(3);
    expect(Object.keys(await run.table('seen'))).toEqual(['0']);
  });

  test('unset maximumRetryAttempts retries once, or 10 times with an on-failure destination, as Lambda caps it', async () => {
    const alone = failing();
    alone.failTimes(20);
    expect((await invoke(alone.definition, records)).total.events).toBe(2);
    const withDestination = failing(undefined, 'arn:aws:sqs:us-east-1:123456789012:words-failed');
    withDestination.failTimes(20);
    const run = await invoke(withDestination.definition, records);
    expect(run.error).toBeInstanceOf(BatchFailedError);
    expect(run.total.events).toBe(11);
  });
});

describe('invoke() outputs and dead letters', () => {
  test('returns what the consumer emitted, decoded, and what it gave up; a redelivery emits nothing again', async () => {
    const alerts = defineConsumer(
      {
        name: 'alerts',
        topic: 'words',
        emits: ['alerts'],
        deadLetter: { after: 1, to: 'words.dead' },
      },
      (record, ctx) => {
        if (record.offset === 2) throw new Error('bad word');
        ctx.emit('alerts', { word: record.key }, { key: record.key, headers: { h: 'v' } });
      },
    );
    const run = await invoke(alerts, records);
    expect(run.error).toBeUndefined();
    expect(run.outputs).toEqual(
      [0, 1, 3].map((offset) => ({
        topic: 'alerts',
        key: `w${offset}`,
        value: { word: `w${offset}` },
        headers: { h: 'v' },
        origin: `alerts|words|0|${offset}|0`,
      })),
    );
    expect(run.deadLetters).toEqual([
      expect.objectContaining({
        offset: 2,
        attempts: 1,
        error: { name: 'Error', message: 'bad word' },
      }),
    ]);
    const again = await run.redeliver();
    expect(again.outputs).toHaveLength(3);
    expect(again.total.duplicates).toBe(4);
  });
});
