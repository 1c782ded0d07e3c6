/**
 * The example pipeline end to end (issue 12's proof): thermometer reads temperature readings
 * and emits alerts, alert-log materializes them, poison readings go to the dead letters. On a
 * broker of its own (the topic names are the example's) with DynamoDB Local, `dogear dev` is
 * SIGKILLed at random moments and once exactly between a commit and its relay, and restarted
 * each time; then the alerts topic, read with Kafka's own ConsoleConsumer, holds each alert at
 * least once with its origin, alert-log's table holds each exactly once, each poison reading is
 * in the dead letters once, thermometer's table is exact, and no partition lags. Copies of
 * alerts injected as a relay would repeat them change nothing.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { Admin, Producer } from '@platformatic/kafka';
import { afterAll, afterEach, beforeAll, expect, inject, test } from 'vitest';
import {
  consoleConsume,
  describeConsumerGroup,
  type KafkaBroker,
  startKafka,
} from '../infra/kafka.ts';
import { type EventRecord, eventRecordOf, type NdjsonRecord } from '../src/event/index.ts';
import { recordTopic } from '../src/local/index.ts';
import { openDynamoStateStore, type StateStore } from '../src/state/index.ts';
import { type DogearProcess, killDogears, spawnDogear } from './fixtures/dogear-process.ts';
import { alertOracle, type ExpectedAlert, readingsOracle } from './fixtures/oracle.ts';

const READINGS = 'temperature-readings';
const ALERTS = 'temperature-alerts';
const DEAD = 'temperature-readings.dead-letters';
/** The recording, produced this many times in a row: enough batches for kills to land mid-way. */
const COPIES = 6;
const TIMEOUT_MS = 900_000;

let kafka: KafkaBroker;
let store: StateStore;
const table = `pipeline-${randomUUID().slice(0, 8)}`;
const endpoint = inject('dynamodbEndpoint');
const env = () => ({
  KAFKA_BROKERS: kafka.brokers,
  DOGEAR_DYNAMODB_ENDPOINT: endpoint,
  DOGEAR_DYNAMODB_TABLE: table,
});

beforeAll(async () => {
  kafka = await startKafka();
  store = await openDynamoStateStore({ endpoint, table });
}, 180_000);
afterEach(killDogears);
afterAll(async () => {
  await kafka?.stop();
});

/** The recording as the broker numbers it after `COPIES` produce runs: offsets continue. */
function recorded(): NdjsonRecord[] {
  const file = readFileSync(
    new URL(`../functions/events/${READINGS}.ndjson`, import.meta.url),
    'utf8',
  );
  const once = file
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as NdjsonRecord);
  const perPartition = new Map<number, number>();
  for (const r of once) perPartition.set(r.partition, (perPartition.get(r.partition) ?? 0) + 1);
  return Array.from({ length: COPIES }, (_, copy) =>
    once.map((r) => ({ ...r, offset: r.offset + copy * perPartition.get(r.partition)! })),
  ).flat();
}

/** alert-log's table: per sensor, the count and the last alert in its partition's order. */
function alertLogOracle(alerts: readonly ExpectedAlert[]) {
  const rows: Record<string, { count: number; last: ExpectedAlert['alert'] }> = {};
  for (const a of alerts)
    rows[a.sensor] = { count: (rows[a.sensor]?.count ?? 0) + 1, last: a.alert };
  return rows;
}

function startDev(extraEnv: NodeJS.ProcessEnv = {}): DogearProcess {
  return spawnDogear(['dev', 'thermometer', 'alert-log', '--no-watch'], { ...env(), ...extraEnv });
}

const exited = (p: DogearProcess) =>
  new Promise<void>((resolve) => {
    if (p.child.exitCode !== null || p.child.signalCode !== null) resolve();
    else p.child.once('exit', () => resolve());
  });

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 300_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Whether each partition's checkpoint reached the last offset of `lastOffsets`. */
async function caughtUp(group: string, lastOffsets: Map<number, number>) {
  const checkpoints = await store.scanCheckpoints(group);
  return [...lastOffsets].every(
    ([partition, last]) => checkpoints.find((c) => c.partition === partition)?.offset === last,
  );
}

function lastOffsets(records: ReadonlyArray<{ partition: number; offset: number }>) {
  const last = new Map<number, number>();
  for (const r of records) last.set(r.partition, Math.max(last.get(r.partition) ?? -1, r.offset));
  return last;
}

/** Every record of a topic, as `dogear record` reads them. */
async function topicRecords(topic: string): Promise<EventRecord[]> {
  const lines: string[] = [];
  await recordTopic({
    brokers: [kafka.brokers],
    topic,
    idleMs: 5000,
    out: new Writable({
      write(chunk: Buffer, _, done) {
        lines.push(chunk.toString());
        done();
      },
    }),
  });
  return lines
    .join('')
    .split('\n')
    .filter(Boolean)
    .map((l, i) => eventRecordOf(JSON.parse(l), `${topic} record ${i}`));
}

/** Whether both groups' committed offsets are at the end of every partition (lag 0). */
async function noLag(): Promise<boolean> {
  const groups = await Promise.all(
    ['thermometer', 'alert-log'].map((g) => describeConsumerGroup(kafka.brokers, g)),
  );
  return groups.every((rows) => rows.length > 0 && rows.every((r) => r.lag === 0));
}

/** The alerts topic as Kafka's own ConsoleConsumer reads it: each message's origin, key, value. */
async function consoleConsumerAlerts(): Promise<
  Array<{ origin?: string; key: string; value: string }>
> {
  const messages = await consoleConsume(kafka.brokers, ALERTS, { timeoutMs: 15_000 });
  return messages.map(({ headers, key, value }) => {
    const origin = headers
      .split(',')
      .find((h) => h.startsWith('dogear-origin:'))
      ?.slice('dogear-origin:'.length);
    return { ...(origin ? { origin } : { line: headers }), key, value };
  });
}

test(
  'the pipeline under SIGKILL and a death between commit and relay: alerts at least once on the topic, exactly once in alert-log, poison readings dead-lettered once, nothing stuck',
  async () => {
    const readings = recorded();
    const expectedAlerts = alertOracle(readings);
    const { current, poison } = readingsOracle(readings);
    expect(poison.length).toBeGreaterThan(COPIES);

    const admin = new Admin({ clientId: 'pipeline-test', bootstrapBrokers: [kafka.brokers] });
    try {
      await admin.createTopics({ topics: [READINGS], partitions: 3, replicas: -1 });
      await admin.createTopics({ topics: [ALERTS], partitions: 3, replicas: -1 });
      await admin.createTopics({ topics: [DEAD], partitions: 1, replicas: -1 });
    } finally {
      await admin.close();
    }
    for (let copy = 0; copy < COPIES; copy++) {
      const run = await spawnDogear(
        ['produce', `functions/events/${READINGS}.ndjson`],
        env(),
      ).exit();
      expect(run.code, run.stderr).toBe(0);
    }

    // Exactly between a commit and its relay: the handler exits right after the first commit
    // that leaves an outbox, so the outputs are committed and not sent.
    const window = startDev({ DOGEAR_EXIT_AFTER_COMMIT: '1' });
    await exited(window);
    expect(window.child.exitCode, window.stderr()).toBe(137);
    const left = (await store.scanCheckpoints('thermometer')).filter((c) => c.outbox?.length);
    expect(
      left.length,
      'a checkpoint holds the outbox the dead process did not relay',
    ).toBeGreaterThan(0);

    // SIGKILLs at random moments: after a random number of batch lines, or time.
    let seed = 2026;
    const next = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    let kills = 0;
    for (let round = 0; round < 4; round++) {
      const dev = startDev();
      const batches = 1 + Math.floor(next() * 6);
      const ms = 2000 + Math.floor(next() * 8000);
      const timer = setTimeout(() => dev.child.kill('SIGKILL'), ms);
      dev.child.stderr?.on('data', () => {
        const seen = dev.lines.filter((l) =>
          /^(thermometer|alert-log): temperature-/.test(l),
        ).length;
        if (seen >= batches) dev.child.kill('SIGKILL');
      });
      await exited(dev);
      clearTimeout(timer);
      if (dev.child.signalCode === 'SIGKILL') kills++;
      else throw new Error(`dogear dev ended by itself:\n${dev.stderr()}`);
    }
    expect(kills).toBe(4);

    // The last run, to the end of every partition of both topics.
    const dev = startDev();
    const readingsEnd = lastOffsets(readings);
    await until(
      async () =>
        (await caughtUp('thermometer', readingsEnd)) &&
        (await store.scanCheckpoints('thermometer')).every((c) => !c.outbox?.length),
      `thermometer to reach ${JSON.stringify([...readingsEnd])} and relay its outbox\n${dev.stderr()}`,
    );
    await until(noLag, `both groups to have lag 0\n${dev.stderr()}`);

    // The alerts topic, as Kafka's own consumer reads it: each expected alert at least once,
    // each message with its origin, nothing else.
    const seen = await consoleConsumerAlerts();
    expect(seen.filter((m) => m.origin === undefined)).toEqual([]);
    const byOrigin = new Map(seen.map((m) => [m.origin!, m]));
    expect([...byOrigin.keys()].sort()).toEqual(expectedAlerts.map((a) => a.origin).sort());
    for (const a of expectedAlerts) {
      const m = byOrigin.get(a.origin)!;
      expect({ key: m.key, value: JSON.parse(m.value) }).toEqual({ key: a.sensor, value: a.alert });
    }
    const copies = seen.length - byOrigin.size;

    // alert-log: each alert exactly once; thermometer: every good reading's effect exact.
    expect(Object.fromEntries(await store.scanTable('alert-log', 'state'))).toEqual(
      alertLogOracle(expectedAlerts),
    );
    expect(Object.fromEntries(await store.scanTable('thermometer', 'state'))).toEqual(current);

    // The dead letters: each poison reading once (by origin), with its coordinates and bytes.
    const listed = await spawnDogear(['dead-letters', 'thermometer', '--json'], env()).exit();
    expect(listed.code, listed.stderr).toBe(0);
    const letters = listed.stdout
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            origin: string;
            value: string;
            facts: { partition: number; offset: number; attempts: number };
          },
      );
    const letterOrigins = new Map(letters.map((l) => [l.origin, l]));
    expect(
      [...letterOrigins.values()]
        .map((l) => [l.facts.partition, l.facts.offset, Buffer.from(l.value, 'base64').toString()])
        .sort(),
    ).toEqual(poison.map((p) => [p.partition, p.offset, p.value]).sort());
    for (const l of letterOrigins.values()) expect(l.facts.attempts).toBeGreaterThanOrEqual(2);

    // A consumer reading its own relay's duplicates: copies of alerts, origin headers and all,
    // land after the originals in the same partitions; alert-log applies none of them.
    const relayed = (await topicRecords(ALERTS)).slice(0, 12);
    const producer = new Producer({
      clientId: 'pipeline-test',
      bootstrapBrokers: [kafka.brokers],
      acks: -1,
    });
    try {
      await producer.send({
        messages: relayed.map((r) => ({
          topic: ALERTS,
          partition: r.partition,
          key: Buffer.from(r.key!, 'base64'),
          value: Buffer.from(r.value!, 'base64'),
          headers: new Map(
            r.headers.flatMap((h) =>
              Object.entries(h).map(
                ([n, b]) => [Buffer.from(n), Buffer.from(b.map((x) => x & 0xff))] as const,
              ),
            ),
          ),
        })),
      });
    } finally {
      await producer.close();
    }
    await until(noLag, `alert-log to read the injected copies\n${dev.stderr()}`);
    expect(Object.fromEntries(await store.scanTable('alert-log', 'state'))).toEqual(
      alertLogOracle(expectedAlerts),
    );
    dev.child.kill('SIGTERM');
    await exited(dev);
    process.stderr.write(
      `pipeline: ${readings.length} readings over 3 partitions, ${expectedAlerts.length} alerts (${copies} relayed more than once), ${poison.length} dead letters, ${kills} SIGKILLs and one exit between commit and relay; 12 copies injected, none applied\n`,
    );
  },
  TIMEOUT_MS,
);
