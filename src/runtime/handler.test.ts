import { describe, expect, test } from 'vitest';
import { eventOf, eventRecordOf } from '../event/index.ts';
import { MemoryStateStore } from '../state/index.ts';
import { defineConsumer } from './consumer.ts';
import { BatchFailedError } from './errors.ts';
import { createHandler } from './handler.ts';
import { lambdaContext } from './lambda-context.ts';
import { createLogger } from './logger.ts';

const records = [0, 1].flatMap((partition) =>
  [0, 1, 2, 3].map((offset) =>
    eventRecordOf({ topic: 't', partition, offset, key: 'k', value: String(offset) }, 'test'),
  ),
);

function counter(reportBatchItemFailures: boolean, failAt: { partition: number; offset: number }) {
  return defineConsumer(
    { name: 'counter', topic: 't', value: 'string', deploy: { reportBatchItemFailures } },
    (record, ctx) => {
      if (record.partition === failAt.partition && record.offset === failAt.offset) {
        throw new Error('boom');
      }
      ctx.table<number>('n').add(String(record.partition), 1);
    },
  );
}

describe('a failed record', () => {
  test('fails the invocation by default, after committing what came before it', async () => {
    const store = new MemoryStateStore();
    const definition = counter(false, { partition: 1, offset: 2 });
    const handler = createHandler(definition, { store, log: createLogger(() => {}) });
    await expect(handler(eventOf(records), lambdaContext(definition))).rejects.toThrow(
      BatchFailedError,
    );
    expect(Object.fromEntries(await store.scanTable('counter', 'n'))).toEqual({ '0': 4, '1': 2 });
  });

  test('with reportBatchItemFailures, names the partition and offset to resume at', async () => {
    const store = new MemoryStateStore();
    const definition = counter(true, { partition: 1, offset: 2 });
    const handler = createHandler(definition, { store, log: createLogger(() => {}) });
    const response = await handler(eventOf(records), lambdaContext(definition));
    expect(response).toEqual({
      batchItemFailures: [{ itemIdentifier: { partition: 't-1', offset: 2 } }],
    });
    expect(Object.fromEntries(await store.scanTable('counter', 'n'))).toEqual({ '0': 4, '1': 2 });
  });

  test('failing in two partitions, the error names both records and both errors', async () => {
    const definition = defineConsumer({ name: 'picky', topic: 't', value: 'string' }, (record) => {
      if (record.offset === 1) throw new Error(`no ${record.partition}`);
    });
    const handler = createHandler(definition, {
      store: new MemoryStateStore(),
      log: createLogger(() => {}),
    });
    const error = await handler(eventOf(records), lambdaContext(definition)).catch((e) => e);
    expect(error).toBeInstanceOf(BatchFailedError);
    expect(error.message).toMatch(/^2 partitions failed: /);
    expect(error.message).toContain('t-0@1');
    expect(error.message).toContain('no 0');
    expect(error.message).toContain('t-1@1');
    expect(error.message).toContain('no 1');
  });
});
