/**
 * The local commands against secured listeners of the test broker: one takes SASL PLAIN and
 * SCRAM-SHA-512 (MSK's SCRAM), one speaks TLS with a self-signed certificate for localhost. `dogear produce`, `record` and `dev` run as a user runs
 * them, with credentials as flags or from the environment; wrong ones, or a certificate not
 * trusted, must end each command with an error that says so, never a hang, and never print the
 * password.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, test } from 'vitest';
import { decodeRecord, eventRecordOf } from '../src/event/index.ts';
import { FileStateStore } from '../src/state/index.ts';
import { killDogears, spawnDogear } from './fixtures/dogear-process.ts';
import { clusterArn, startFakeMskApi } from './fixtures/msk-api.ts';

const sasl = inject('kafkaSasl');
const tls = inject('kafkaTls');
const TOPIC = 'secured-tally';
const dir = mkdtempSync(join(tmpdir(), 'dogear-secured-'));
afterEach(killDogears);

/** Every command names its brokers; none may fall back to the test broker's plaintext one. */
const dogear = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnDogear(args, { KAFKA_BROKERS: undefined, ...env });

function credentials(mechanism: string, password = sasl?.password ?? '') {
  return [
    '--brokers',
    sasl?.brokers ?? '',
    '--sasl-mechanism',
    mechanism,
    '--sasl-username',
    sasl?.username ?? '',
    '--sasl-password',
    password,
  ];
}

/** 60 records over 2 partitions, values a, b, c in turn. */
const records = Array.from({ length: 60 }, (_, i) => ({
  topic: TOPIC,
  partition: i % 2,
  offset: Math.floor(i / 2),
  value: ['a', 'b', 'c'][i % 3]!,
}));

describe.skipIf(!sasl)('a cluster that wants SASL', () => {
  test('produce over SCRAM-SHA-512, record over PLAIN, dev over SCRAM: every record, once', async () => {
    const events = join(dir, 'tally.ndjson');
    writeFileSync(events, records.map((r) => JSON.stringify(r)).join('\n'));
    const produced = await dogear(['produce', events, ...credentials('SCRAM-SHA-512')]).exit();
    expect(produced.stderr).toContain(`produced 60 records to ${TOPIC}`);
    expect(produced.code).toBe(0);

    // Credentials from the environment, as a user keeps them out of shell history.
    const out = join(dir, 'recorded.ndjson');
    const recorded = await dogear(
      [
        'record',
        '--topic',
        TOPIC,
        '--out',
        out,
        '--brokers',
        sasl!.brokers,
        '--sasl-mechanism',
        'PLAIN',
      ],
      { DOGEAR_SASL_USERNAME: sasl!.username, DOGEAR_SASL_PASSWORD: sasl!.password },
    ).exit();
    expect(recorded.stderr).toContain(`recorded 60 records from 2 partitions of ${TOPIC}`);
    expect(recorded.code).toBe(0);
    const read = (await readFile(out, 'utf8'))
      .trim()
      .split('\n')
      .map((line, i) => eventRecordOf(JSON.parse(line), `line ${i + 1}`));
    const values = <R extends { partition: number }>(partition: number, list: readonly R[]) =>
      list.filter((r) => r.partition === partition);
    for (const partition of [0, 1]) {
      expect(
        values(partition, read).map(
          (r) => decodeRecord(r, { value: 'string', key: 'string' }).value,
        ),
      ).toEqual(values(partition, records).map((r) => r.value));
    }

    const stateDir = join(dir, 'state');
    const dev = dogear([
      'dev',
      '--functions',
      'test/fixtures/dev-secured/functions',
      '--no-watch',
      '--state-dir',
      stateDir,
      ...credentials('SCRAM-SHA-512'),
    ]);
    // A new store each time: a FileStateStore keeps what it has read.
    const store = () => new FileStateStore(stateDir);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const checkpoints = await store()
        .scanCheckpoints('tally')
        .catch(() => []);
      if (checkpoints.filter((c) => c.offset === 29).length === 2) break;
      if (Date.now() > deadline) throw new Error(`dev never caught up:\n${dev.stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    dev.child.kill('SIGTERM');
    expect((await dev.exit()).code).toBe(0);
    expect(Object.fromEntries(await store().scanTable('tally', 'counts'))).toEqual({
      a: 20,
      b: 20,
      c: 20,
    });
    expect(dev.stderr()).toMatch(new RegExp(`running tally against ${sasl!.brokers}`));
  }, 120_000);

  test('a wrong password ends produce, record and dev with an error that says so', async () => {
    const events = join(dir, 'one.ndjson');
    writeFileSync(events, JSON.stringify({ topic: TOPIC, partition: 0, offset: 0, value: 'x' }));
    const wrong = credentials('SCRAM-SHA-512', 'not-the-password');
    const runs = await Promise.all([
      dogear(['produce', events, ...wrong]).exit(),
      dogear(['record', '--topic', TOPIC, ...wrong]).exit(),
      dogear([
        'dev',
        '--functions',
        'test/fixtures/dev-secured/functions',
        '--no-watch',
        '--state-dir',
        join(dir, 'never'),
        ...wrong,
      ]).exit(),
    ]);
    // SCRAM-SHA-256 is not enabled on the listener: the handshake fails before any password.
    runs.push(await dogear(['record', '--topic', TOPIC, ...credentials('SCRAM-SHA-256')]).exit());
    expect(runs.at(-1)!.stderr).toContain(
      `Kafka at ${sasl!.brokers} does not offer SASL SCRAM-SHA-256 on this listener; check --sasl-mechanism and --brokers`,
    );
    for (const run of runs.slice(0, 3)) {
      expect(run.stderr).toContain(
        `Kafka at ${sasl!.brokers} refused the SASL credentials (SCRAM-SHA-512 as ${sasl!.username}); check --sasl-mechanism, --sasl-username and --sasl-password`,
      );
      expect(run.stderr).not.toContain('not-the-password');
      expect(run.code).toBe(1);
    }
  }, 120_000);
});

describe.skipIf(!tls)('a cluster that speaks TLS with a private CA', () => {
  test('--tls-ca (or DOGEAR_TLS_CA) trusts it; --tls alone fails, naming --tls-ca', async () => {
    const topic = `tls-${Date.now()}`;
    const events = join(dir, 'tls.ndjson');
    const sent = Array.from({ length: 10 }, (_, i) => ({
      topic,
      partition: 0,
      offset: i,
      value: `reading ${i}`,
    }));
    writeFileSync(events, sent.map((r) => JSON.stringify(r)).join('\n'));
    const produced = await dogear([
      'produce',
      events,
      '--brokers',
      tls!.brokers,
      '--tls-ca',
      tls!.caFile,
    ]).exit();
    expect(produced.stderr).toContain(`produced 10 records to ${topic}`);
    expect(produced.code).toBe(0);

    const out = join(dir, 'tls-recorded.ndjson');
    const recorded = await dogear(
      ['record', '--topic', topic, '--out', out, '--brokers', tls!.brokers],
      { DOGEAR_TLS_CA: tls!.caFile },
    ).exit();
    expect(recorded.code).toBe(0);
    const values = (await readFile(out, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { value: string }).value);
    expect(values).toEqual(sent.map((r) => r.value));

    const untrusted = await dogear(['produce', events, '--brokers', tls!.brokers, '--tls']).exit();
    expect(untrusted.stderr).toContain(
      `Kafka at ${tls!.brokers} presented a certificate Node does not trust (self-signed certificate`,
    );
    expect(untrusted.stderr).toContain("pass the cluster's CA with --tls-ca <file.pem>");
    expect(untrusted.code).toBe(1);
  }, 60_000);

  test('--cluster, by name or ARN, takes the brokers from the MSK API', async () => {
    const topic = `msk-${Date.now()}`;
    const events = join(dir, 'msk.ndjson');
    writeFileSync(events, JSON.stringify({ topic, partition: 0, offset: 0, value: 'via msk' }));
    const arn = clusterArn('orders');
    const api = await startFakeMskApi({
      clusters: [
        {
          clusterArn: arn,
          clusterName: 'orders',
          clusterType: 'PROVISIONED',
          state: 'ACTIVE',
          creationTime: '2026-11-01T10:00:00.000Z',
          currentVersion: 'K1',
        },
      ],
      // The TLS listener stands in for MSK's port 9094; a cluster without IAM or SCRAM uses it.
      brokers: { [arn]: { bootstrapBrokerStringTls: tls!.brokers } },
    });
    const aws = {
      DOGEAR_MSK_ENDPOINT: api.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIDTEST',
      AWS_SECRET_ACCESS_KEY: 'secret',
      DOGEAR_TLS_CA: tls!.caFile,
    };
    try {
      const produced = await dogear(['produce', events, '--cluster', 'orders'], aws).exit();
      expect(produced.stderr).toContain(`produced 1 records to ${topic}`);
      expect(produced.code).toBe(0);
      const out = join(dir, 'msk-recorded.ndjson');
      const recorded = await dogear(
        ['record', '--topic', topic, '--cluster', arn, '--out', out],
        aws,
      ).exit();
      expect(recorded.code).toBe(0);
      expect(JSON.parse(await readFile(out, 'utf8'))).toMatchObject({ topic, value: 'via msk' });
      // By name the cluster is listed, then its brokers fetched; by ARN only the brokers.
      const paths = api.requests.map((r) =>
        r.rawPath.replace(
          /\/clusters\/.*\/bootstrap-brokers$/,
          '/clusters/{arn}/bootstrap-brokers',
        ),
      );
      expect(paths).toEqual([
        '/api/v2/clusters',
        '/v1/clusters/{arn}/bootstrap-brokers',
        '/v1/clusters/{arn}/bootstrap-brokers',
      ]);
      expect(api.requests.every((r) => r.signature === 'valid')).toBe(true);
    } finally {
      await api.close();
    }
  }, 60_000);
});
