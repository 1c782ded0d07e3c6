/**
 * Property test of exactly once end to end (docs/pipelines.md): a source consumer emits through
 * the outbox while its relay fails, fails halfway through a send (some messages appended, then an
 * error) and its batches are redelivered, overlapping, in two processes; zombie copies of sent
 * messages are appended to the output log later. A reader of the output topic, fed the log in
 * random cuts with redeliveries, must apply each output exactly once: its table is the fold of
 * the distinct outputs, which are exactly the source's committed records' emits.
 *
 * The seed is printed; replay with DOGEAR_PROPERTY_SEED=<seed>.
 */
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { eventOf, eventRecordOf, type NdjsonRecord } from '../event/index.ts';
import { type OutboxRelay, partitionOfMessage } from '../output/index.ts';
import { MemoryStateStore, type OutboxMessage, StateCache } from '../state/index.ts';
import { defineConsumer } from './consumer.ts';
import { createHandler } from './handler.ts';
import { lambdaContext } from './lambda-context.ts';
import { createLogger } from './logger.ts';
import type { ConsumerDefinition } from './types.ts';

const seedEnv = process.env.DOGEAR_PROPERTY_SEED;
const SEED = seedEnv ? Number.parseInt(seedEnv, 10) : Math.floor(Math.random() * 2 ** 31);
process.stderr.write(`pipeline-property: fast-check seed ${SEED}\n`);

const SOURCE_PARTITIONS = 2;
const OUT_PARTITIONS = 2;
const b64 = (text: string) => Buffer.from(text).toString('base64');

const source = defineConsumer({ name: 'source', topic: 'in', emits: ['out'] }, (record, ctx) => {
  const n = record.value as number;
  ctx.table('sum').add('all', n);
  // Two outputs for some records, none for others, keyless ones too.
  if (n % 3 === 0) ctx.emit('out', n, { key: `k${n % 5}` });
  if (n % 4 === 0) ctx.emit('out', -n);
});

const reader = defineConsumer({ name: 'reader', topic: 'out' }, (record, ctx) => {
  ctx.table('seen').add(String(record.value), 1);
});

/** The output topic: per partition, the messages appended, copies included. */
type Log = OutboxMessage[][];

/**
 * A relay that appends to `log` as the Kafka relay would (partition by key, else by origin),
 * and, when told, fails before sending or after appending the first `k` messages.
 */
class LogRelay implements OutboxRelay {
  fail: 'no' | 'before' | number = 'no';
  constructor(private readonly log: Log) {}
  async send(messages: readonly OutboxMessage[]): Promise<void> {
    const fail = this.fail;
    this.fail = 'no';
    if (fail === 'before') throw new Error('broker unreachable');
    for (const [i, m] of messages.entries()) {
      if (typeof fail === 'number' && i >= fail) throw new Error('connection lost mid-send');
      this.log[partitionOfMessage(m, OUT_PARTITIONS)]!.push(m);
    }
  }
  async close(): Promise<void> {}
}

/** One process: its cache, relay and handler. */
function processOf(definition: ConsumerDefinition, store: MemoryStateStore, relay: OutboxRelay) {
  return createHandler(definition, {
    store,
    cache: new StateCache(),
    log: createLogger(() => {}, 'error'),
    relay: () => relay,
  });
}

interface Delivery {
  readonly partition: number;
  readonly from: number;
  readonly length: number;
  readonly process: number;
  readonly fail: 'no' | 'before' | number;
}

const deliveryArb = (records: number) =>
  fc.record({
    partition: fc.integer({ min: 0, max: SOURCE_PARTITIONS - 1 }),
    from: fc.integer({ min: 0, max: records - 1 }),
    length: fc.integer({ min: 1, max: records }),
    process: fc.integer({ min: 0, max: 1 }),
    fail: fc.oneof(
      fc.constant<'no'>('no'),
      fc.constant<'before'>('before'),
      fc.integer({ min: 0, max: 3 }),
    ),
  });

test('each output a committed record emits is applied exactly once by a dogear reader, whatever the relay and redeliveries do', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 4, max: 24 }),
      fc.array(deliveryArb(24), { minLength: 1, maxLength: 12 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 8 }),
      async (records, deliveries, zombies, cuts) => {
        const values = (p: number) =>
          Array.from({ length: records }, (_, offset) => p * 100 + offset + 1);
        const sourceRecords = (p: number, from: number, length: number): NdjsonRecord[] =>
          values(p)
            .slice(from, from + length)
            .map((value, i) => ({
              topic: 'in',
              partition: p,
              offset: from + i,
              value: `${value}`,
            }));

        const store = new MemoryStateStore();
        const log: Log = Array.from({ length: OUT_PARTITIONS }, () => []);
        const relays = [new LogRelay(log), new LogRelay(log)];
        const processes = relays.map((relay) => processOf(source, store, relay));
        const deliver = async (d: Delivery) => {
          relays[d.process]!.fail = d.fail;
          // Lambda starts a batch at the partition's committed offset, or before it on a redelivery.
          const { offset } = await store.readCheckpoint({
            group: 'source',
            topic: 'in',
            partition: d.partition,
          });
          const from = Math.min(d.from, offset + 1, records - 1);
          const event = eventOf(
            sourceRecords(d.partition, from, d.length).map((r, i) => eventRecordOf(r, `r${i}`)),
          );
          await processes[d.process]!(event, lambdaContext(source)).catch(() => {});
        };
        for (const d of deliveries) await deliver(d);
        // Zombie copies: messages already appended, appended again later.
        for (const z of zombies) {
          const partition = log[z % OUT_PARTITIONS]!;
          if (partition.length > 0) partition.push(partition[z % partition.length]!);
        }
        // In the end Lambda delivers every partition whole, with the relay up.
        for (let p = 0; p < SOURCE_PARTITIONS; p++) {
          await deliver({ partition: p, from: 0, length: records, process: 0, fail: 'no' });
        }

        // The reader: each output partition in cuts, each cut delivered twice (at least once).
        const readerProcess = processOf(reader, store, new LogRelay(log));
        for (const [p, messages] of log.entries()) {
          const lines = messages.map(
            (m, offset): NdjsonRecord => ({
              topic: 'out',
              partition: p,
              offset,
              ...(m.key === null ? {} : { keyBase64: m.key }),
              valueBase64: m.value,
              headersBase64: [
                ...m.headers.map(([n, v]) => [n, v] as [string, string | null]),
                ['dogear-origin', b64(m.origin)],
              ],
            }),
          );
          for (let at = 0, c = 0; at < lines.length; c++) {
            const cut = lines.slice(at, at + cuts[c % cuts.length]!);
            const event = eventOf(cut.map((r, i) => eventRecordOf(r, `o${i}`)));
            await readerProcess(event, lambdaContext(reader));
            await readerProcess(event, lambdaContext(reader));
            at += cut.length;
          }
        }

        // What the source committed emits: the fold over every record, once.
        const expected = new Map<string, number>();
        for (let p = 0; p < SOURCE_PARTITIONS; p++) {
          for (const n of values(p)) {
            if (n % 3 === 0) expected.set(String(n), 1);
            if (n % 4 === 0) expected.set(String(-n), 1);
          }
        }
        expect(await store.scanTable('reader', 'seen')).toEqual(expected);
        const total = [0, 1].flatMap(values).reduce((a, b) => a + b, 0);
        expect(await store.scanTable('source', 'sum')).toEqual(new Map([['all', total]]));
      },
    ),
    { seed: SEED, numRuns: 200 },
  );
}, 120_000);
