/**
 * Dead letters to SQS and S3 through moto's server (the one test/setup/registries.ts starts for
 * Glue): a queue and a bucket are made through moto's API, two dead letters relayed, read back
 * (ReceiveMessage, GetObject) and compared field by field.
 */

import { Admin } from '@platformatic/kafka';
import { AwsClient } from 'aws4fetch';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { GLUE_CREDENTIALS } from '../infra/glue-registry.ts';
import { awsJsonCall } from '../src/aws.ts';
import {
  awsRelay,
  connectionFromEnvironment,
  kafkaRelay,
  OutputDeliveryError,
} from '../src/output/index.ts';
import type { OutboxMessage } from '../src/state/index.ts';

const endpoint = inject('glueRegistryEndpoint');
const region = inject('glueRegistryRegion');
const account = '123456789012'; // moto's default account
const credentials = async () => GLUE_CREDENTIALS;
const b64 = (bytes: string | Buffer) => Buffer.from(bytes).toString('base64');
const suffix = `${Date.now()}-${Math.floor(Math.random() * 1e6)}`;

/** A dead letter as the runtime leaves it in the outbox. */
function deadLetter(to: string, offset: number): OutboxMessage {
  const facts = {
    consumer: 'Thermometer',
    group: 'thermometer',
    topic: 'readings',
    partition: 2,
    offset,
    timestamp: 1_700_000_000_000 + offset,
    attempts: 3,
    error: { name: 'RangeError', message: `reading ${offset} is not a number` },
    at: 1_700_000_100_000,
  };
  return {
    to,
    key: b64('sensor-7'),
    value: b64(Buffer.from([0xde, 0xad, 0xbe, 0xef, offset & 0xff])),
    headers: [
      ['trace', b64('abc')],
      ['empty', null],
      ['dogear-dead-letter', b64(JSON.stringify(facts))],
    ],
    origin: `thermometer|readings|2|${offset}|0`,
    deadLetter: facts,
  };
}

/** What the document must hold: every fact, the bytes, the record's own headers. */
function expectedDocument(message: OutboxMessage) {
  return {
    ...message.deadLetter,
    origin: message.origin,
    key: message.key,
    value: message.value,
    headers: [
      ['trace', b64('abc')],
      ['empty', null],
    ],
  };
}

async function sqs(target: string, body: object) {
  const response = await awsJsonCall(
    { service: 'sqs', region, endpoint, target: `AmazonSQS.${target}`, version: '1.0' },
    body,
    credentials,
  );
  const json = (await response.json()) as Record<string, unknown>;
  if (!response.ok) throw new Error(`${target}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

const s3 = new AwsClient({ ...GLUE_CREDENTIALS, service: 's3', region, retries: 0 });

describe('awsRelay on moto', () => {
  const queue = `dead-letters-${suffix}`;
  const bucket = `dead-letters-${suffix}`;
  const queueArn = `arn:aws:sqs:${region}:${account}:${queue}`;
  const bucketArn = `arn:aws:s3:::${bucket}`;

  beforeAll(async () => {
    await sqs('CreateQueue', { QueueName: queue });
    const made = await s3.fetch(`${endpoint}/${bucket}`, { method: 'PUT' });
    expect(made.status).toBe(200);
  });

  test('two dead letters to SQS: every fact, the original bytes and headers', async () => {
    const relay = awsRelay({ endpoint, credentials });
    const messages = [deadLetter(queueArn, 41), deadLetter(queueArn, 42)];
    await relay.send(messages);
    const received = await sqs('ReceiveMessage', {
      QueueUrl: `${endpoint}/${account}/${queue}`,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 1,
    });
    const bodies = (received.Messages as Array<{ Body: string }>).map((m) => JSON.parse(m.Body));
    expect(bodies.sort((a, b) => a.offset - b.offset)).toEqual(messages.map(expectedDocument));
    // The bytes survive as they were, not as text.
    expect(Buffer.from(bodies[0].value, 'base64')).toEqual(
      Buffer.from([0xde, 0xad, 0xbe, 0xef, 41]),
    );
  });

  test('two dead letters to S3, at <group>/<topic>/<partition>/<offset>.json', async () => {
    const relay = awsRelay({ endpoint, credentials, region });
    const messages = [deadLetter(bucketArn, 41), deadLetter(bucketArn, 42)];
    await relay.send(messages);
    for (const message of messages) {
      const offset = message.deadLetter!.offset;
      const got = await s3.fetch(`${endpoint}/${bucket}/thermometer/readings/2/${offset}.json`);
      expect(got.status).toBe(200);
      expect(got.headers.get('content-type')).toBe('application/json');
      expect(await got.json()).toEqual(expectedDocument(message));
    }
  });

  test('a document over SQS message size is refused before it is sent, naming the origin', async () => {
    const relay = awsRelay({ endpoint, credentials });
    const big = { ...deadLetter(queueArn, 43), value: b64(Buffer.alloc(200_000, 1)) };
    const failure = (await relay.send([big]).catch((e: unknown) => e)) as OutputDeliveryError;
    expect(failure).toBeInstanceOf(OutputDeliveryError);
    expect(failure.origin).toBe('thermometer|readings|2|43|0');
    expect(failure.message).toMatch(
      /^the dead letter of thermometer\|readings\|2\|43\|0 is 26\d{4} bytes as JSON, over the 262144 bytes SQS takes in a message to arn:aws:sqs:.*; send dead letters to an S3 bucket or a Kafka topic, or raise the queue's MaximumMessageSize/,
    );
  });

  test('a queue that does not exist: named, with the fix', async () => {
    const relay = awsRelay({ endpoint, credentials });
    const missing = `arn:aws:sqs:${region}:${account}:no-such-queue-${suffix}`;
    await expect(relay.send([deadLetter(missing, 44)])).rejects.toThrow(
      new RegExp(
        `^${missing} refused the dead letter of thermometer\\|readings\\|2\\|44\\|0 \\(400 [A-Za-z.]*(NonExistentQueue|QueueDoesNotExist)\\); create it, or fix the consumer's deadLetter.to$`,
      ),
    );
  });
});

describe('kafkaRelayFromEnvironment: what DOGEAR_KAFKA_AUTH means', () => {
  const secretName = `AmazonMSK_relay-${suffix}`;
  let secretArn: string;
  const saved = { ...process.env };

  beforeAll(async () => {
    const signer = await awsJsonCall(
      { service: 'secretsmanager', region, endpoint, target: 'secretsmanager.CreateSecret' },
      {
        Name: secretName,
        SecretString: JSON.stringify(inject('kafkaSasl') ?? { username: 'u', password: 'p' }),
      },
      credentials,
    );
    secretArn = ((await signer.json()) as { ARN: string }).ARN;
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' });
  });
  afterAll(() => {
    process.env = saved;
  });

  const env = (vars: Record<string, string>) => ({
    AWS_REGION: region,
    DOGEAR_AWS_ENDPOINT: endpoint,
    ...vars,
  });

  test('SASL_SCRAM: SCRAM-SHA-512 over TLS with the secret’s username and password; it authenticates', async () => {
    const connection = await connectionFromEnvironment(
      env({ DOGEAR_KAFKA_AUTH: 'SASL_SCRAM', DOGEAR_KAFKA_SECRET_ARN: secretArn }),
    );
    const sasl = inject('kafkaSasl');
    expect(connection).toEqual({
      tls: true,
      sasl: {
        mechanism: 'SCRAM-SHA-512',
        username: sasl?.username ?? 'u',
        password: sasl?.password ?? 'p',
      },
    });
    if (!sasl) return; // an external cluster: no SASL listener to try the credentials on
    // The test broker's SASL listener is plaintext (Lambda's is always TLS): the credentials
    // read from the secret are tried there, without TLS.
    const topic = `relay-scram-${suffix}`;
    const admin = new Admin({
      clientId: 'output-env-test',
      bootstrapBrokers: inject('kafkaBrokers').split(','),
    });
    try {
      await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
    } finally {
      await admin.close();
    }
    const relay = kafkaRelay({
      bootstrapServers: sasl.brokers.split(','),
      connection: { sasl: connection.sasl },
    });
    try {
      await relay.send([{ ...deadLetter(topic, 1), to: topic }]);
    } finally {
      await relay.close();
    }
  });

  test('IAM, TLS, UNAUTHENTICATED, and what is missing or wrong', async () => {
    expect(await connectionFromEnvironment(env({ DOGEAR_KAFKA_AUTH: 'IAM' }))).toEqual({
      tls: true,
      sasl: { mechanism: 'AWS_MSK_IAM', region },
    });
    expect(await connectionFromEnvironment(env({ DOGEAR_KAFKA_AUTH: 'TLS' }))).toEqual({
      tls: true,
    });
    expect(await connectionFromEnvironment(env({ DOGEAR_KAFKA_AUTH: 'UNAUTHENTICATED' }))).toEqual(
      {},
    );
    expect(await connectionFromEnvironment(env({}))).toEqual({});
    await expect(connectionFromEnvironment({ DOGEAR_KAFKA_AUTH: 'IAM' })).rejects.toThrow(
      'DOGEAR_KAFKA_AUTH=IAM needs AWS_REGION',
    );
    await expect(
      connectionFromEnvironment(env({ DOGEAR_KAFKA_AUTH: 'SASL_SCRAM' })),
    ).rejects.toThrow(
      'DOGEAR_KAFKA_AUTH=SASL_SCRAM needs DOGEAR_KAFKA_SECRET_ARN, the secret the event-source mapping authenticates with',
    );
    await expect(
      connectionFromEnvironment(
        env({ DOGEAR_KAFKA_AUTH: 'SASL_SCRAM', DOGEAR_KAFKA_SECRET_ARN: `${secretArn}-gone` }),
      ),
    ).rejects.toThrow(
      new RegExp(
        `^could not read the Kafka credentials from secret ${secretArn}-gone \\(\\d{3} ResourceNotFoundException\\); is DOGEAR_KAFKA_SECRET_ARN the secret the event-source mapping uses\\?$`,
      ),
    );
    await expect(connectionFromEnvironment(env({ DOGEAR_KAFKA_AUTH: 'SCRAM' }))).rejects.toThrow(
      "DOGEAR_KAFKA_AUTH is 'SCRAM'; expected IAM, SASL_SCRAM, TLS or UNAUTHENTICATED (the plugin sets it)",
    );
  });
});
