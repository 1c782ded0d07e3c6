import { subscribe as subscribeChannel } from 'node:diagnostics_channel';
import { watch } from 'node:fs';
import { resolve } from 'node:path';
import {
  Admin,
  Consumer,
  type fetchV17,
  type Message,
  type MessagesStream,
} from '@platformatic/kafka';
import { type DiscoveredConsumer, discoverConsumers } from '../build/index.ts';
import { type EventRecord, eventOf, eventRecordBytes, nextBatchLength } from '../event/index.ts';
import {
  connectionProblem,
  type KafkaConnectionOptions,
  kafkaClientOptions,
  kafkaRelay,
  type OutboxRelay,
  outboxRelay,
} from '../output/index.ts';
import {
  BatchFailedError,
  type ConsumerDefinition,
  createHandler,
  createLogger,
  type DeployOptions,
  formatAnswered,
  type InvocationReport,
  type KafkaHandler,
  lambdaContext,
  lambdaRetryLimit,
  resumeOffsets,
} from '../runtime/index.ts';
import { StateCache, type StateStore } from '../state/index.ts';
import { LocalInputError } from './errors.ts';
import { openStore, outboxSummary, type StoreLocation } from './invoke.ts';
import { timestampOf } from './record.ts';

/** Closing a client whose broker went away must not hold up Ctrl-C. */
const CLOSE_TIMEOUT_MS = 5000;

export interface DevOptions extends StoreLocation, KafkaConnectionOptions {
  /** Bootstrap brokers, `host:port`. */
  brokers: string[];
  /** Run only these consumers. @default all */
  consumers?: readonly string[];
  /** @default 'functions' */
  functions?: string;
  /** Reload consumers when their files change. @default true */
  watch?: boolean;
  /** One line per batch and per lifecycle step. */
  progress: (line: string) => void;
  /** Handler log lines. @default dropped */
  log?: (line: string) => void;
  /** Stops the loop: in-flight batches finish, their offsets commit, clients close. */
  signal?: AbortSignal;
  /** Longest wait between retries of a failed batch. @default 30000 */
  maxRetryDelayMs?: number;
  /**
   * The event-source options a consumer runs with, as deployed (batching window, retries,
   * bisect, partial batch responses, starting position). @default its decorator's `deploy`
   */
  deploy?: (consumer: ConsumerDefinition) => DeployOptions;
}

/**
 * Runs consumers against a Kafka broker the way Lambda's event-source mapping does: one
 * consumer group per consumer, batches of up to `batchSize` records gathered for up to the
 * batching window and 6 MB, the whole batch retried on error, and offsets committed to Kafka
 * only after a batch succeeds. Returns when `signal` aborts.
 */
export async function dev(options: DevOptions): Promise<void> {
  const store = await openStore(options);
  const loops = new Map<string, ConsumerLoop>();

  /** Starts, stops and reloads loops to match functions/; returns the loops it started. */
  const sync = async (): Promise<ConsumerLoop[]> => {
    let found: DiscoveredConsumer[];
    try {
      found = await discoverConsumers(options.functions ?? 'functions');
    } catch (error) {
      // A half-saved file must not stop the loop: report it and keep the running consumers.
      options.progress(`reload failed, keeping the running consumers: ${(error as Error).message}`);
      return [];
    }
    if (options.consumers?.length) {
      const unknown = options.consumers.filter((n) => !found.some((c) => c.definition.name === n));
      if (unknown.length) {
        throw new LocalInputError(
          `No consumer named ${unknown.join(', ')}; the consumers are ${found.map((c) => c.definition.name).join(', ')}`,
        );
      }
      found = found.filter((c) => options.consumers!.includes(c.definition.name));
    }
    const started: ConsumerLoop[] = [];
    const names = new Set(found.map((c) => c.definition.name));
    for (const [name, loop] of loops) {
      if (!names.has(name)) {
        await loop.stop();
        loops.delete(name);
      }
    }
    for (const { definition: declared } of found) {
      const definition = options.deploy
        ? { ...declared, deploy: options.deploy(declared) }
        : declared;
      const loop = loops.get(definition.name);
      if (loop?.sameSubscription(definition)) loop.replace(definition);
      else {
        await loop?.stop();
        // A cache per consumer, so each one's maxReadAgeMs holds.
        const cache = new StateCache({ maxReadAgeMs: definition.maxReadAgeMs });
        const next = new ConsumerLoop(definition, store, cache, options);
        loops.set(definition.name, next);
        started.push(next);
      }
    }
    return started;
  };

  const first = await sync();
  if (loops.size === 0)
    throw new LocalInputError(
      'No consumers to run; export a class decorated with @consumer from functions/',
    );
  // Wrong brokers or credentials fail here, once, instead of as a loop that never receives.
  try {
    await Promise.all(first.map((loop) => loop.start()));
  } catch (error) {
    await Promise.all([...loops.values()].map((loop) => loop.stop()));
    throw new LocalInputError(connectionProblem(error, options.brokers, options), {
      cause: error,
    });
  }
  options.progress(`running ${[...loops.keys()].join(', ')} against ${options.brokers.join(',')}`);
  for (const loop of loops.values()) options.progress(loop.describe());

  let watcher: ReturnType<typeof watch> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let reloading = Promise.resolve();
  const reload = async (file: string) => {
    if (options.signal?.aborted) return;
    options.progress(`${file} changed: reloading consumers`);
    try {
      for (const loop of await sync()) {
        loop.start().catch((error: unknown) => {
          // Forgotten, so that the next reload starts it again instead of "reloading" a corpse.
          if (loops.get(loop.name) === loop) loops.delete(loop.name);
          options.progress(
            `${loop.name}: cannot start: ${connectionProblem(error, options.brokers, options)}`,
          );
        });
      }
    } catch (error) {
      options.progress(`reload failed, keeping the running consumers: ${(error as Error).message}`);
    }
  };
  if (options.watch !== false) {
    watcher = watch(resolve(options.functions ?? 'functions'), { recursive: true }, (_, file) => {
      if (!file || !/\.m?ts$/.test(file)) return;
      clearTimeout(timer);
      timer = setTimeout(() => {
        reloading = reloading.then(() => reload(file));
      }, 150);
    });
  }

  await new Promise<void>((done) => {
    if (options.signal?.aborted) return done();
    options.signal?.addEventListener('abort', () => done(), { once: true });
  });
  watcher?.close();
  clearTimeout(timer);
  // A reload in progress may still start loops; wait for it so that they are stopped too.
  await reloading;
  await Promise.all([...loops.values()].map((loop) => loop.stop()));
}

type KafkaMessage = Message<Buffer, Buffer, Buffer, Buffer>;

/**
 * Where `dogear dev` delivers a consumer's outbox: outputs and Kafka dead letters to the local
 * broker; dead letters to an SQS queue or S3 bucket to `DOGEAR_AWS_ENDPOINT` (moto, LocalStack)
 * when it is set, else to the local topic `<consumer>.dead-letters`, so nothing leaves the machine.
 */
function devRelay(definition: ConsumerDefinition, options: DevOptions): OutboxRelay {
  const endpoint = process.env.DOGEAR_AWS_ENDPOINT;
  const relay = outboxRelay({
    kafka: () =>
      kafkaRelay({
        bootstrapServers: options.brokers,
        connection: options,
        clientId: `dogear-dev-${definition.name}`,
      }),
    ...(endpoint ? { aws: { endpoint } } : {}),
  });
  if (endpoint) return relay;
  const local = localDeadLetterTopic(definition.name);
  let created: Promise<void> | undefined;
  return {
    async send(messages) {
      const routed = messages.map((m) => (m.to.startsWith('arn:') ? { ...m, to: local } : m));
      // The relay creates no topic; this one is dogear dev's own, so it makes it.
      if (routed.some((m) => m.to === local)) {
        created ??= createTopicOnce(options, local);
        await created;
      }
      await relay.send(routed);
    },
    close: () => relay.close(),
  };
}

/** Creates `topic` (one partition) unless it exists. */
async function createTopicOnce(options: DevOptions, topic: string): Promise<void> {
  const admin = new Admin({
    clientId: 'dogear-dev-admin',
    bootstrapBrokers: options.brokers,
    ...kafkaClientOptions(options),
  });
  try {
    await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
  } catch (error) {
    if (!/already[_ ]exists/i.test(String((error as Error)?.message) + JSON.stringify(error))) {
      throw error;
    }
  } finally {
    await admin.close();
  }
}

/** The local topic `dogear dev` sends a consumer's SQS and S3 dead letters to. */
export const localDeadLetterTopic = (consumer: string) => `${consumer}.dead-letters`;

/** One consumer's Kafka consumer group and the batches it hands to the handler. */
class ConsumerLoop {
  private handler: KafkaHandler;
  private readonly buffer: KafkaMessage[] = [];
  private wake: (() => void) | undefined;
  private stopping = false;
  private running: Promise<void> | undefined;
  /** The group member and its fetches: one per connection, replaced when the broker goes away. */
  private session: KafkaSession | undefined;
  /** A member still joining its group, closed at once if the loop stops meanwhile. */
  private joining: KafkaConsumer | undefined;
  /** Why the session ended, when it ended without being asked to. */
  private lost: Error | undefined;
  /** Records already reported as older than `maximumRecordAgeInSeconds`. */
  private readonly expired = new WeakSet<KafkaMessage>();
  private reports: InvocationReport[] = [];
  /** Delivers the consumer's outputs and dead letters to the local broker; made at first use. */
  private relay: OutboxRelay | undefined;

  constructor(
    private definition: ConsumerDefinition,
    private readonly store: StateStore,
    private readonly cache: StateCache,
    private readonly options: DevOptions,
  ) {
    this.handler = this.createHandler(definition);
  }

  private createHandler(definition: ConsumerDefinition): KafkaHandler {
    return createHandler(definition, {
      store: this.store,
      cache: this.cache,
      log: createLogger(this.options.log ?? (() => {})),
      onReport: (report) => this.reports.push(report),
      topicId: () => this.topicId(definition.topic),
      relay: () => (this.relay ??= devRelay(definition, this.options)),
    });
  }

  /**
   * The topic's id, asked of the broker before each batch (one metadata request, local): a broker
   * restarted empty or a topic recreated under `dogear dev` shows at once as another id, though
   * the batch does not reach the checkpoint's offset. Unknown (undefined) if the broker cannot
   * say; the record at the checkpoint's offset is still compared.
   */
  private async topicId(topic: string): Promise<string | undefined> {
    try {
      const metadata = await this.session?.kafka.metadata({ topics: [topic], forceUpdate: true });
      const id = metadata?.topics.get(topic)?.id;
      // A broker that does not know topic ids answers the null UUID, 00000000-0000-…: unknown.
      return id && !/^[0-]+$/.test(id) ? id : undefined;
    } catch {
      return undefined;
    }
  }

  get name(): string {
    return this.definition.name;
  }

  /** `word-count: book-pages as group word-count; batches of 500 within 5 s; …` */
  describe(): string {
    const { name, topic, group, batchSize, deploy } = this.definition;
    const retries = lambdaRetryLimit(deploy);
    const maxAge = deploy.maximumRecordAgeInSeconds ?? -1;
    return [
      `${name}: ${topic} as group ${group}`,
      `batches of up to ${batchSize} within ${deploy.batchingWindow ?? 0} s`,
      `from ${deploy.startingPosition === 'LATEST' ? 'latest' : 'earliest'}`,
      !Number.isFinite(retries)
        ? 'retried until it succeeds'
        : `retried ${retries} times${deploy.maximumRetryAttempts === undefined || deploy.maximumRetryAttempts < 0 ? " (Lambda's limit with an on-failure destination)" : ''}`,
      ...(maxAge >= 0 ? [`records older than ${maxAge} s skipped`] : []),
      ...(deploy.bisectBatchOnError ? ['bisected on error'] : []),
      ...(deploy.reportBatchItemFailures ? ['partial batch responses'] : []),
    ].join('; ');
  }

  sameSubscription(definition: ConsumerDefinition): boolean {
    return definition.topic === this.definition.topic && definition.group === this.definition.group;
  }

  /** Takes the reloaded handler from the next batch on. */
  replace(definition: ConsumerDefinition): void {
    this.definition = definition;
    this.handler = this.createHandler(definition);
    this.options.progress(`${definition.name}: reloaded`);
  }

  /** Resolves once the consumer has joined its group and fetches; rejects if it never does. */
  start(): Promise<void> {
    const subscribed = this.subscribe();
    this.running = subscribed
      .then(
        () =>
          this.consume().catch((error: Error) => {
            this.options.progress(`${this.definition.name}: stopped: ${error.message}`);
          }),
        () => {}, // start()'s caller reports it
      )
      .finally(() => this.close());
    return subscribed;
  }

  /** Ends the loop after the batch in flight; a member still joining is closed at once. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    const joining = this.joining;
    if (joining) await closeQuietly(() => joining.close(true));
    await this.running;
    const relay = this.relay;
    this.relay = undefined;
    if (relay) await closeQuietly(() => relay.close());
  }

  /** Joins the consumer group and fetches into the buffer; on failure nothing is left open. */
  private async subscribe(): Promise<void> {
    const { definition, options } = this;
    watchFetches();
    const kafka: KafkaConsumer = new Consumer({
      groupId: definition.group,
      clientId: `dogear-dev-${definition.name}`,
      bootstrapBrokers: options.brokers,
      autocommit: false,
      maxWaitTime: 200,
      sessionTimeout: 10_000,
      heartbeatInterval: 1000,
      ...kafkaClientOptions(options),
    });
    // The client emits a failed rejoin as 'error': unheard, it would end the process.
    kafka.on('error', (error: Error) => this.lose(kafka, error));
    this.joining = kafka;
    let stream: KafkaSession['stream'];
    try {
      stream = await kafka.consume({
        topics: [definition.topic],
        mode: 'committed',
        fallbackMode: definition.deploy.startingPosition === 'LATEST' ? 'latest' : 'earliest',
        autocommit: false,
      });
    } catch (error) {
      await closeQuietly(() => kafka.close(true));
      throw error;
    } finally {
      this.joining = undefined;
    }
    this.session = { kafka, stream };
    if (this.stopping) return; // stopped while joining: close() follows
    stream.on('data', (message: KafkaMessage) => {
      this.buffer.push(message);
      // Back-pressure: stop fetching while a slow handler works through what is here.
      if (this.buffer.length >= definition.batchSize * 4) stream.pause();
      this.wake?.();
    });
    // A fetch that failed for good (the broker went away) ends the stream: it never fetches again.
    stream.on('error', (error: Error) => this.lose(kafka, error));
    stream.on('close', () => this.lose(kafka, new Error('the client stopped fetching')));
  }

  /** The session of `kafka` ended without being asked to: the loop reconnects. */
  private lose(kafka: KafkaConsumer, error: Error): void {
    if (this.session?.kafka !== kafka || this.stopping || this.lost) return;
    this.lost = error;
    this.wake?.();
  }

  /** Hands the buffer to the handler batch by batch until stopped. */
  private async consume(): Promise<void> {
    while (!this.stopping) {
      if (this.lost) await this.reconnect();
      else {
        const batch = await this.nextBatch();
        if (batch.length > 0) await this.deliver(batch);
      }
    }
  }

  /**
   * A new group member after the broker went away, tried with backoff until it joins or the loop
   * stops. What the lost one had fetched but not delivered is dropped: the new one fetches it
   * again from the committed offsets.
   */
  private async reconnect(): Promise<void> {
    const { name } = this.definition;
    const lost = this.session;
    this.session = undefined;
    this.buffer.length = 0;
    await closeSession(lost);
    let problem = `lost the connection to Kafka (${this.lost?.message})`;
    for (let attempt = 0; !this.stopping; attempt++) {
      const delay = this.retryDelay(attempt);
      this.options.progress(`${name}: ${problem}; reconnecting in ${delay} ms`);
      await this.sleep(delay);
      if (this.stopping) return;
      try {
        await this.subscribe();
        if (this.stopping) return;
        this.lost = undefined;
        this.options.progress(`${name}: reconnected; resuming from the committed offsets`);
        return;
      } catch (error) {
        problem = `cannot reconnect: ${connectionProblem(error, this.options.brokers, this.options)}`;
      }
    }
  }

  private async close(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    await closeSession(session);
  }

  /** Waits for records, then for the batching window or a full batch, whichever is first. */
  private async nextBatch(): Promise<KafkaMessage[]> {
    while (this.buffer.length === 0 && !this.stopping && !this.lost) await this.sleep(1000);
    if (this.stopping || this.lost) return [];
    const windowMs = (this.definition.deploy.batchingWindow ?? 0) * 1000;
    const deadline = Date.now() + windowMs;
    // With no window, still take what one fetch returned: its records arrive in one burst.
    await new Promise((r) => setImmediate(r));
    while (
      this.buffer.length < this.definition.batchSize &&
      Date.now() < deadline &&
      !this.stopping &&
      !this.lost
    ) {
      await this.sleep(deadline - Date.now());
    }
    if (this.lost) return [];
    // Lambda's cut, the one `dogear events` and `invoke` make: batchSize records, at most 6 MB.
    const batch = this.buffer.splice(
      0,
      nextBatchLength(this.buffer, this.definition.batchSize, (m) =>
        eventRecordBytes(eventRecordOfMessage(m)),
      ),
    );
    if (this.buffer.length < this.definition.batchSize) this.session?.stream.resume();
    return batch;
  }

  /** Backoff for a failed batch and for a reconnect: 0.5 s, doubling, up to `maxRetryDelayMs`. */
  private retryDelay(attempt: number): number {
    return Math.min(this.options.maxRetryDelayMs ?? 30_000, 500 * 2 ** attempt);
  }

  /** Resolves after `ms`, or when woken; at once when stopping, so Ctrl-C never waits a backoff. */
  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  /**
   * Invokes the handler until the batch succeeds, committing each partition's offset after its
   * records succeed. A partial batch response commits what succeeded and retries the rest; with
   * `bisectBatchOnError` a failing batch is split in two, each half delivered on its own. As
   * Lambda does, records older than `maximumRecordAgeInSeconds` are not sent (before the first
   * attempt or any retry), and records whose retries ran out are given up; both are committed.
   */
  private async deliver(batch: KafkaMessage[]): Promise<void> {
    const { deploy } = this.definition;
    let pending = batch;
    for (let attempt = 0; pending.length > 0; attempt++) {
      const live = this.unexpired(pending);
      if (live.length === 0) return this.commit(pending);
      const outcome = await this.invoke(live);
      if (outcome.ok) return this.commit(pending);
      if (outcome.resumeAt) {
        // The rule `dogear invoke` and `dogear/testing` follow (runtime/partial-batch.ts).
        const from = outcome.resumeAt;
        const done = pending.filter((m) => {
          const at = from.get(`${m.topic}-${m.partition}`);
          return at === undefined || m.offset < BigInt(at);
        });
        await this.commit(done);
        pending = pending.filter((m) => !done.includes(m));
      } else if (deploy.bisectBatchOnError && live.length > 1) {
        const half = Math.ceil(pending.length / 2);
        await this.deliver(pending.slice(0, half));
        return this.deliver(pending.slice(half));
      }
      const retries = lambdaRetryLimit(deploy);
      if (attempt >= retries) {
        this.options.progress(
          `${this.definition.name}: ${formatRange(live.map(eventRecordOfMessage))}: ${retries} retries exhausted; skipping ${live.length} records (${lambdaWould(deploy)})`,
        );
        return this.commit(pending);
      }
      // Not committed: the next run, or the reconnected member, gets these records again. Checked
      // before the backoff too, since a stop or a lost session during the handler woke no sleep.
      if (this.stopping || this.lost) return;
      const delay = this.retryDelay(attempt);
      this.options.progress(`${this.definition.name}: retrying in ${delay} ms`);
      await this.sleep(delay);
      if (this.stopping || this.lost) return;
    }
  }

  /** The records not older than `maximumRecordAgeInSeconds`; the others are reported once. */
  private unexpired(batch: KafkaMessage[]): KafkaMessage[] {
    const maxAge = this.definition.deploy.maximumRecordAgeInSeconds ?? -1;
    if (maxAge < 0) return batch;
    const now = Date.now();
    const records = batch.map(eventRecordOfMessage);
    // A record without a timestamp (-1) has no age.
    const old = batch.filter(
      (_, i) => records[i]!.timestamp >= 0 && now - records[i]!.timestamp > maxAge * 1000,
    );
    const fresh = old.filter((m) => !this.expired.has(m));
    if (fresh.length > 0) {
      for (const m of fresh) this.expired.add(m);
      this.options.progress(
        `${this.definition.name}: ${formatRange(fresh.map(eventRecordOfMessage))}: ${fresh.length} records older than maximumRecordAgeInSeconds (${maxAge} s); skipping them (${lambdaWould(this.definition.deploy)})`,
      );
    }
    return batch.filter((m) => !old.includes(m));
  }

  /**
   * Commits the batch's offsets. One that fails (the broker went away meanwhile) is reported, not
   * thrown: the records come again and the checkpoints skip them as duplicates.
   */
  private async commit(batch: KafkaMessage[]): Promise<void> {
    try {
      await commitOffsets(batch);
    } catch (error) {
      this.options.progress(
        `${this.definition.name}: ${formatRange(batch.map(eventRecordOfMessage))}: offsets not committed (${(error as Error).message}); these records come again and are skipped as duplicates`,
      );
    }
  }

  /**
   * One invocation, logged as one line: whether it succeeded and, for a partial batch response
   * that names records of the batch, where each named partition resumes. A response naming
   * records the batch does not hold is a failed batch, as Lambda takes it.
   */
  private async invoke(
    batch: KafkaMessage[],
  ): Promise<{ ok: boolean; resumeAt?: Map<string, number> }> {
    const records = batch.map(eventRecordOfMessage);
    const event = eventOf(records, {
      eventSource: 'SelfManagedKafka',
      bootstrapServers: this.options.brokers.join(','),
    });
    const range = formatRange(records);
    const started = performance.now();
    this.reports = [];
    let outcome: { ok: boolean; resumeAt?: Map<string, number> } = { ok: true };
    let problem = '';
    try {
      const response = await this.handler(event, lambdaContext(this.definition));
      const answered = response?.batchItemFailures ?? [];
      if (answered.length > 0) {
        const resumeAt = resumeOffsets(event, answered);
        outcome = resumeAt ? { ok: false, resumeAt } : { ok: false };
        problem = resumeAt
          ? `partial batch response: resume ${formatAnswered(answered)}`
          : `partial batch response: ${formatAnswered(answered)}, which the batch does not hold; Lambda takes such a response for a failed batch`;
      }
    } catch (error) {
      outcome = { ok: false };
      problem =
        error instanceof BatchFailedError
          ? error.message
          : `${(error as Error).name}: ${(error as Error).message}`;
    }
    const report = this.reports[0];
    // The same report as the metrics line and dogear invoke's summary.
    const outbox = outboxSummary(report, 'relayed');
    this.options.progress(
      `${this.definition.name}: ${range}: ${records.length} records, ${report?.processed ?? 0} processed, ${report?.duplicates ?? 0} duplicates skipped${outbox} (${Math.round(performance.now() - started)} ms)${problem ? `; failed: ${problem}` : ''}`,
    );
    return outcome;
  }
}

type KafkaConsumer = Consumer<Buffer, Buffer, Buffer, Buffer>;

interface KafkaSession {
  kafka: KafkaConsumer;
  stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>;
}

async function closeSession(session: KafkaSession | undefined): Promise<void> {
  if (!session) return;
  await closeQuietly(() => session.stream.close());
  await closeQuietly(() => session.kafka.close(true));
}

/**
 * Closing after a broker went away may throw or wait on requests that never finish; there is
 * nothing left to do about either, so it is given up after `CLOSE_TIMEOUT_MS`.
 */
async function closeQuietly(close: () => unknown): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      close(),
      new Promise((resolve) => {
        timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
        timer.unref();
      }),
    ]);
  } catch {
  } finally {
    clearTimeout(timer);
  }
}

/** What Lambda does with records it gives up on, for the line that says dev skipped them. */
function lambdaWould(deploy: DeployOptions): string {
  return deploy.onFailure
    ? `Lambda would send them to ${deploy.onFailure}`
    : 'Lambda would discard them: no on-failure destination';
}

/** The broker's time and its type, per record, as `watchFetches` found them in the batch. */
const BROKER_TIME = 'dogear.brokerTime';
let fetchesWatched = false;

/**
 * Whether the broker or the producer stamped a record's time is an attribute of its batch, which
 * the client's messages do not carry. So every fetch response is read as it arrives, before the
 * client turns it into messages (its `consumer:fetches` diagnostics channel), and each record is
 * given its time and type in the metadata that its message inherits.
 */
function watchFetches(): void {
  if (fetchesWatched) return;
  fetchesWatched = true;
  subscribeChannel('tracing:plt:kafka:consumer:fetches:asyncStart', (context) => {
    const response = (context as { result?: fetchV17.FetchResponse }).result;
    for (const topic of response?.responses ?? []) {
      for (const partition of topic.partitions) {
        for (const batch of partition.records ?? []) {
          for (const record of batch.records) {
            const stamped = record as { metadata?: Record<string, unknown> };
            stamped.metadata = { ...stamped.metadata, [BROKER_TIME]: timestampOf(batch, record) };
          }
        }
      }
    }
  });
}

/** Commits, per partition, the offset after the batch's last record there. */
async function commitOffsets(batch: KafkaMessage[]): Promise<void> {
  const last = new Map<string, KafkaMessage>();
  for (const message of batch) last.set(`${message.topic}\u0000${message.partition}`, message);
  for (const message of last.values()) await message.commit();
}

/**
 * A fetched message as Lambda's event would carry it. The client gives a null key, value or
 * header as `undefined`; an empty one stays an empty buffer, and so a value, not a tombstone.
 */
export function eventRecordOfMessage(message: KafkaMessage): EventRecord {
  const stamped = message.metadata?.[BROKER_TIME] as ReturnType<typeof timestampOf> | undefined;
  return {
    topic: message.topic,
    partition: message.partition,
    offset: Number(message.offset),
    // Unstamped, the batch's attributes are unknown: the producer's time, as in most topics.
    ...(stamped ?? { timestamp: Number(message.timestamp), timestampType: 'CREATE_TIME' }),
    // No key, or a tombstone, leaves the field out, as Lambda's events and `dogear events` do.
    ...(message.key ? { key: message.key.toString('base64') } : {}),
    ...(message.value ? { value: message.value.toString('base64') } : {}),
    // In wire order, names repeating. Lambda has no null header value to show: its bytes are
    // empty, as `dogear invoke` reads a recording's null header.
    headers: (message.headerEntries ?? []).map(([name, value]) => ({
      [name ? name.toString('utf8') : '']: value
        ? Array.from(value, (b) => (b > 127 ? b - 256 : b))
        : [],
    })),
  };
}

/** `book-pages-0@0..99, book-pages-1@0..41`: the offsets a batch covers, per partition. */
function formatRange(records: readonly EventRecord[]): string {
  const spans = new Map<string, [number, number]>();
  for (const { topic, partition, offset } of records) {
    const id = `${topic}-${partition}`;
    const span = spans.get(id);
    spans.set(id, span ? [Math.min(span[0], offset), Math.max(span[1], offset)] : [offset, offset]);
  }
  return [...spans].map(([id, [from, to]]) => `${id}@${from}..${to}`).join(', ');
}
