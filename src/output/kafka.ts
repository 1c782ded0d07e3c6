/**
 * The relay to Kafka topics: an idempotent producer (acks all) that puts each message in the
 * partition Kafka's default partitioner picks, and says which message did not arrive and why.
 */
import type { Producer } from '@platformatic/kafka';
import { readSecretJson } from '../aws.ts';
import { ORIGIN_HEADER, type OutboxMessage } from '../state/index.ts';
import {
  type ClientError,
  errorChain,
  type KafkaConnectionOptions,
  kafkaClientOptions,
} from './connection.ts';
import { OutputConfigError, OutputDeliveryError } from './errors.ts';
import { partitionOfMessage } from './partitioner.ts';
import type { OutboxRelay } from './types.ts';

export interface KafkaRelayOptions {
  /** `host:port` of some brokers of the cluster (an event's `bootstrapServers`, split). */
  bootstrapServers: readonly string[];
  /** TLS and SASL, as the cluster's listener wants them. @default plaintext, no SASL */
  connection?: KafkaConnectionOptions;
  /** @default 'dogear-relay' */
  clientId?: string;
  /**
   * Retries of a request the client may retry (a broker not reachable, a leader moving) before
   * `send` throws. Bounded, so that a relay that cannot deliver fails the invocation, which
   * Lambda retries, instead of spending its whole timeout. At least 2: @platformatic/kafka's
   * idempotent producer takes fewer as "retry forever". @default 3
   */
  retries?: number;
  /** Per request to a broker. @default 10000 */
  timeoutMs?: number;
  /** How old a topic's partition count may be before it is read again. @default 30000 */
  partitionCountMaxAgeMs?: number;
}

/**
 * A produce request carries one record batch per partition, and the broker refuses a batch over
 * the topic's `max.message.bytes` (1 MiB by default): messages go in chunks well below it, so
 * only a message that is itself too large is refused.
 */
const CHUNK_BYTES = 512 * 1024;
/**
 * How old a topic's partition count may be when a message is partitioned by it. Added
 * partitions move a key's partition; a relay repeated after that, by a process that counted
 * before, would put the copy where a reader does not know the original. 30 s bounds that window
 * for a warm process, at one metadata request per topic per 30 s (Java's producer: 5 minutes,
 * `metadata.max.age.ms`).
 */
export const PARTITION_COUNT_MAX_AGE_MS = 30_000;
/** Kafka's legal topic names (`Topic.validate`): at most 249 of these characters, not . or .. */
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

type RelayProducer = Producer<Buffer, Buffer, Buffer, Buffer | null>;

/** The relay to the topics of one cluster; connects on its first `send`. */
export function kafkaRelay(options: KafkaRelayOptions): OutboxRelay {
  return connectingRelay(options, async () => options.connection ?? {});
}

/**
 * The relay a Lambda function uses, configured as the plugin configures the function:
 * `DOGEAR_KAFKA_AUTH` says how the event-source mapping authenticates (`IAM`, `SASL_SCRAM`,
 * `TLS`, `UNAUTHENTICATED`), `DOGEAR_KAFKA_SECRET_ARN` names the SCRAM secret (or, for `TLS`,
 * the client certificate's), `AWS_REGION` is Lambda's. `bootstrapServers` is the event's.
 */
export function kafkaRelayFromEnvironment(
  bootstrapServers: string,
  env: NodeJS.ProcessEnv = process.env,
): OutboxRelay {
  const brokers = bootstrapServers
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  return connectingRelay({ bootstrapServers: brokers }, () => connectionFromEnvironment(env));
}

/** What `DOGEAR_KAFKA_AUTH` and its secret mean to the client. */
export async function connectionFromEnvironment(
  env: NodeJS.ProcessEnv,
): Promise<KafkaConnectionOptions> {
  const auth = env.DOGEAR_KAFKA_AUTH ?? 'UNAUTHENTICATED';
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  switch (auth) {
    case 'UNAUTHENTICATED':
      return {};
    case 'IAM':
      if (!region) throw new OutputConfigError('DOGEAR_KAFKA_AUTH=IAM needs AWS_REGION');
      return { tls: true, sasl: { mechanism: 'AWS_MSK_IAM', region } };
    case 'SASL_SCRAM': {
      // Lambda speaks SCRAM only over TLS (SASL_SSL), and MSK's SCRAM is SHA-512.
      const secret = await secretOf(requiredSecret(env, auth), env);
      const { username, password } = secret;
      if (typeof username !== 'string' || typeof password !== 'string') {
        throw new OutputConfigError(
          `the secret ${env.DOGEAR_KAFKA_SECRET_ARN} holds no "username" and "password"; store the SCRAM credentials as that JSON, as MSK wants them`,
        );
      }
      return { tls: true, sasl: { mechanism: 'SCRAM-SHA-512', username, password } };
    }
    case 'TLS': {
      if (!env.DOGEAR_KAFKA_SECRET_ARN) return { tls: true };
      // Mutual TLS: the client certificate secret the event-source mapping uses.
      const secret = await secretOf(env.DOGEAR_KAFKA_SECRET_ARN, env);
      const { certificate, privateKey, privateKeyPassword } = secret;
      if (typeof certificate !== 'string' || typeof privateKey !== 'string') {
        throw new OutputConfigError(
          `the secret ${env.DOGEAR_KAFKA_SECRET_ARN} holds no "certificate" and "privateKey"; store the client certificate as Lambda's CLIENT_CERTIFICATE_TLS_AUTH secret`,
        );
      }
      return {
        tls: {
          cert: certificate,
          key: privateKey,
          ...(typeof privateKeyPassword === 'string' ? { passphrase: privateKeyPassword } : {}),
        },
      };
    }
    default:
      throw new OutputConfigError(
        `DOGEAR_KAFKA_AUTH is '${auth}'; expected IAM, SASL_SCRAM, TLS or UNAUTHENTICATED (the plugin sets it)`,
      );
  }
}

function requiredSecret(env: NodeJS.ProcessEnv, auth: string): string {
  const arn = env.DOGEAR_KAFKA_SECRET_ARN;
  if (!arn) {
    throw new OutputConfigError(
      `DOGEAR_KAFKA_AUTH=${auth} needs DOGEAR_KAFKA_SECRET_ARN, the secret the event-source mapping authenticates with`,
    );
  }
  return arn;
}

/** A Secrets Manager secret's JSON, read with the function's role (`GetSecretValue`). */
async function secretOf(
  secretArn: string,
  env: NodeJS.ProcessEnv,
): Promise<Record<string, unknown>> {
  const read = await readSecretJson(
    secretArn,
    env.DOGEAR_AWS_ENDPOINT ? { endpoint: env.DOGEAR_AWS_ENDPOINT } : {},
  );
  if (read.ok) return read.value;
  switch (read.reason) {
    case 'not-an-arn':
      throw new OutputConfigError(
        `DOGEAR_KAFKA_SECRET_ARN '${secretArn}' is not a Secrets Manager secret's ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)`,
      );
    case 'not-json':
      throw new OutputConfigError(`the secret ${secretArn} is not JSON`);
    case 'refused': {
      const fix = /ResourceNotFound/.test(read.type)
        ? 'is DOGEAR_KAFKA_SECRET_ARN the secret the event-source mapping uses?'
        : 'grant the function secretsmanager:GetSecretValue on it';
      throw new OutputConfigError(
        `could not read the Kafka credentials from secret ${secretArn} (${read.status} ${read.type}); ${fix}`,
      );
    }
  }
}

function connectingRelay(
  options: Omit<KafkaRelayOptions, 'connection'>,
  resolveConnection: () => Promise<KafkaConnectionOptions>,
): OutboxRelay {
  const brokers = [...options.bootstrapServers];
  let producing: Promise<RelayProducer> | undefined;
  let closed = false;
  /** Partition counts by topic: a topic's partitions only grow, and rarely. */
  const partitionCounts = new Map<string, number>();
  /** When each count was read: one older than `PARTITION_COUNT_MAX_AGE_MS` is read again. */
  const countedAt = new Map<string, number>();

  const producer = () => {
    // Loaded on first use: a function that never emits never pays for the client at cold start.
    producing ??= Promise.all([resolveConnection(), import('@platformatic/kafka')]).then(
      ([connection, { Producer }]) =>
        new Producer<Buffer, Buffer, Buffer, Buffer | null>({
          clientId: options.clientId ?? 'dogear-relay',
          bootstrapBrokers: brokers,
          // Idempotent, so the client's own retry of a request never writes a message twice.
          idempotent: true,
          acks: -1,
          autocreateTopics: false,
          retries: Math.max(2, options.retries ?? 3),
          retryDelay: 250,
          timeout: options.timeoutMs ?? 10_000,
          ...kafkaClientOptions(connection),
        }),
    );
    // A connection that could not be set up (a secret not readable) is tried again next time.
    producing.catch(() => {
      producing = undefined;
    });
    return producing;
  };

  async function partitionsOf(client: RelayProducer, topics: readonly string[], refresh: boolean) {
    const now = Date.now();
    const maxAge = options.partitionCountMaxAgeMs ?? PARTITION_COUNT_MAX_AGE_MS;
    const stale = (t: string) => now - (countedAt.get(t) ?? 0) > maxAge;
    const missing = topics.filter((t) => refresh || !partitionCounts.has(t) || stale(t));
    if (missing.length === 0) return;
    const metadata = await client.metadata({
      topics: missing,
      autocreateTopics: false,
      forceUpdate: refresh || missing.some(stale),
    });
    for (const topic of missing) {
      const count = metadata.topics.get(topic)?.partitionsCount;
      // Never guess a count: the partition would differ from the one Java's producer picks.
      if (!count) throw new Error(`Unknown topic ${topic}.`);
      partitionCounts.set(topic, count);
      countedAt.set(topic, now);
    }
  }

  async function sendChunk(client: RelayProducer, chunk: readonly OutboxMessage[]) {
    const topics = [...new Set(chunk.map((m) => m.to))];
    for (let attempt = 0; ; attempt++) {
      try {
        await partitionsOf(client, topics, attempt > 0);
        await client.send({ messages: chunk.map((m) => produced(m, partitionCounts)) });
        return;
      } catch (error) {
        // A topic deleted and made again with other partitions: learn them once, then give up.
        if (attempt === 0 && isPartitionError(error)) continue;
        throw deliveryError(error, chunk, brokers);
      }
    }
  }

  return {
    async send(messages) {
      if (closed) throw new OutputConfigError('the Kafka relay is closed');
      if (messages.length === 0) return;
      for (const message of messages) checkTopic(message);
      const client = await producer().catch((error: unknown) => {
        throw new OutputDeliveryError(
          `could not set up the relay to Kafka for ${messages[0]!.origin} (${(error as Error).message})`,
          messages[0]!.origin,
          messages[0]!.to,
          { cause: error },
        );
      });
      // In turn: one partition's messages stay in the order given.
      for (const chunk of chunks(messages)) await sendChunk(client, chunk);
    },
    async close() {
      closed = true;
      const client = await producing?.catch(() => undefined);
      await client?.close();
    },
  };
}

function checkTopic(message: OutboxMessage): void {
  if (TOPIC_NAME.test(message.to) && message.to !== '.' && message.to !== '..') return;
  throw new OutputDeliveryError(
    `'${message.to}' is not a Kafka topic name (up to 249 letters, digits, '.', '_' or '-'), so ${message.origin} cannot be sent there; emit to a topic, an SQS queue ARN or an S3 bucket ARN`,
    message.origin,
    message.to,
  );
}

/** The message as the client sends it: its partition chosen as Java's producer would. */
function produced(message: OutboxMessage, partitionCounts: ReadonlyMap<string, number>) {
  const partition = partitionOfMessage(message, partitionCounts.get(message.to) ?? 1);
  const headers = new Map<Buffer, Buffer | null>();
  // Buffer keys: two headers of one name stay two entries, as on the wire.
  for (const [name, value] of headersSent(message)) headers.set(Buffer.from(name), value);
  return {
    topic: message.to,
    partition,
    ...(message.key === null ? {} : { key: Buffer.from(message.key, 'base64') }),
    ...(message.value === null ? {} : { value: Buffer.from(message.value, 'base64') }),
    headers,
  };
}

/**
 * The headers a message goes out with, in order: its own, then `dogear-origin`. The relay's
 * origin replaces one the message carried (a handler's copy, or a dead letter's record's).
 */
export function headersSent(message: OutboxMessage): Array<[name: string, value: Buffer | null]> {
  const headers: Array<[string, Buffer | null]> = [];
  for (const [name, value] of message.headers) {
    if (name === ORIGIN_HEADER) continue;
    headers.push([name, value === null ? null : Buffer.from(value, 'base64')]);
  }
  headers.push([ORIGIN_HEADER, Buffer.from(message.origin)]);
  return headers;
}

/** About the bytes a message takes in a record batch: its key, value and headers. */
export function messageBytes(message: OutboxMessage): number {
  const base64 = (s: string | null) => (s === null ? 0 : Math.floor((s.length * 3) / 4));
  let bytes = 32 + base64(message.key) + base64(message.value) + message.origin.length;
  for (const [name, value] of message.headers) bytes += name.length + base64(value) + 8;
  return bytes;
}

function* chunks(messages: readonly OutboxMessage[]): Generator<OutboxMessage[]> {
  let chunk: OutboxMessage[] = [];
  let bytes = 0;
  for (const message of messages) {
    const size = messageBytes(message);
    if (chunk.length > 0 && bytes + size > CHUNK_BYTES) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(message);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}

function isPartitionError(error: unknown): boolean {
  return [...errorChain(error)].some(
    (e) => e.apiId === 'UNKNOWN_TOPIC_OR_PARTITION' || e.apiId === 'NOT_LEADER_OR_FOLLOWER',
  );
}

/** Which message of `chunk` did not arrive, why, and what to change. */
export function deliveryError(
  error: unknown,
  chunk: readonly OutboxMessage[],
  brokers: readonly string[],
): OutputDeliveryError {
  const causes = [...errorChain(error)];
  const first = chunk[0]!;
  const make = (message: string, about: OutboxMessage = first) =>
    new OutputDeliveryError(message, about.origin, about.to, { cause: error });
  const unknown = causes.find(
    (e) => e.apiId === 'UNKNOWN_TOPIC_OR_PARTITION' || /^Unknown topic /.test(e.message),
  );
  if (unknown) {
    const topic = /^Unknown topic (.*)\.$/.exec(unknown.message)?.[1];
    const about = chunk.find((m) => m.to === topic) ?? first;
    return make(
      `topic '${about.to}' does not exist on Kafka at ${brokers.join(',')}, so ${about.origin} was not delivered; create it (the relay does not create topics)`,
      about,
    );
  }
  const denied = causes.find((e) => e.apiId?.endsWith('_AUTHORIZATION_FAILED'));
  if (denied) {
    return make(
      `Kafka denied writing ${first.origin} to topic '${first.to}' (${denied.apiId}); list it in the consumer's \`emits\`: the plugin grants write on listed topics`,
    );
  }
  if (causes.some((e) => e.apiId === 'MESSAGE_TOO_LARGE' || e.apiId === 'RECORD_LIST_TOO_LARGE')) {
    const largest = chunk.reduce((a, b) => (messageBytes(b) > messageBytes(a) ? b : a));
    return make(
      `the broker refused ${largest.origin} to topic '${largest.to}' as too large (about ${messageBytes(largest)} bytes); raise the topic's max.message.bytes or emit less`,
      largest,
    );
  }
  if (causes.some((e) => e.apiId === 'INVALID_TOPIC_EXCEPTION')) {
    return make(
      `'${first.to}' is not a valid topic on Kafka at ${brokers.join(',')}, so ${first.origin} was not delivered; emit to another topic`,
    );
  }
  const reason = innermost(causes) ?? String(error);
  return make(
    `could not deliver ${first.origin} to topic '${first.to}' at ${brokers.join(',')} (${reason}); it stays in the outbox and the retried invocation sends it again: check that the function reaches the brokers (VPC, security groups) and authenticates as DOGEAR_KAFKA_AUTH says`,
  );
}

function innermost(causes: readonly ClientError[]): string | undefined {
  const last = causes.at(-1);
  if (!last) return undefined;
  return last.apiId ? `${last.apiId}: ${last.message}` : last.message;
}
