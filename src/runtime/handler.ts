import middy, { type MiddyfiedHandler } from '@middy/core';
import type { Context as LambdaContext } from 'aws-lambda';
import { EventFormatError, type KafkaEvent, parseEvent, slicesOf } from '../event/index.ts';
import type { OutboxRelay } from '../output/index.ts';
import { StateCache, type StateStore } from '../state/index.ts';
import { BatchFailedError, RecordFailedError } from './errors.ts';
import { createLogger, type Logger, type LogSink } from './logger.ts';
import { metricsLine } from './metrics.ts';
import { processSlice, type SliceReport } from './slice.ts';
import type {
  BatchHandler,
  ConsumerDefinition,
  KafkaBatchResponse,
  RecordHandler,
} from './types.ts';

/** What one invocation did, summed over its partitions. */
export interface InvocationReport {
  readonly consumer: string;
  records: number;
  processed: number;
  duplicates: number;
  failed: number;
  /** Partitions that failed because a new log lies under their checkpoint (`TopicRecreatedError`). */
  recreated: number;
  commits: number;
  reruns: number;
  fences: number;
  /** Records sent to the dead letters. */
  deadLettered: number;
  /** Outbox messages delivered, and those committed but not delivered (the relay failed). */
  outputsRelayed: number;
  outputsPending: number;
  /** The newest record timestamp over the partitions (epoch ms), when any record had one. */
  newestTimestamp?: number;
  /** The slowest commit over the partitions, in ms, when there was a commit. */
  slowestCommitMs?: number;
  readonly partitions: readonly SliceReport[];
}

export interface HandlerOptions {
  /** Where state and checkpoints live. */
  store: StateStore;
  /** Survives between invocations of a warm process. @default a new cache */
  cache?: StateCache;
  /** @default JSON lines on stdout */
  log?: Logger;
  /**
   * Whether each invocation writes its report as one CloudWatch Embedded Metric Format line
   * (`metricsLine`) to the logger's sink (stdout unless the logger says otherwise), also when it
   * fails. @default true in Lambda (`AWS_LAMBDA_FUNCTION_NAME` is set), false elsewhere
   */
  metrics?: boolean;
  /** Called with each invocation's report, also when it fails. */
  onReport?: (report: InvocationReport) => void;
  /** Reruns of a slice after version conflicts. @default 8 */
  maxReruns?: number;
  /**
   * Kafka's id of the consumer's topic, asked for on each invocation (cache it as you see fit:
   * a function holding a Kafka client may ask once per cold start). A checkpoint committed under
   * another id fails its partition with `TopicRecreatedError`, whatever offsets the batch holds.
   * Unset, or resolving to undefined: only the record at the checkpoint's offset is compared.
   */
  topicId?: () => string | undefined | Promise<string | undefined>;
  /**
   * Whether a slice reads ahead, in one batch, the items its records will read (`ctx.state`'s,
   * and those `reads` names) at its first read. False reads each item when a record reads it:
   * one `GetItem` per item the cache does not hold (`getMany` still reads in one batch).
   * @default true
   */
  readAhead?: boolean;
  /**
   * Delivers what commits leave in the outbox (`ctx.emit`'s outputs, dead letters), asked for
   * with the event's brokers at the first commit that leaves something, and kept for the
   * process. In Lambda (`dogear/lambda`), a relay to the event's cluster and to SQS and S3.
   */
  relay?: (source: { readonly bootstrapServers?: string }) => OutboxRelay;
}

/** The generated Lambda handler: a middy handler, so `.use()` adds middlewares. */
export type KafkaHandler = MiddyfiedHandler<
  KafkaEvent,
  KafkaBatchResponse | undefined,
  Error,
  LambdaContext
>;

/**
 * Builds the Lambda handler for a consumer: partitions run concurrently, records within a
 * partition in offset order, each slice committing exactly once through `options.store`.
 */
export function createHandler(consumer: ConsumerDefinition, options: HandlerOptions): KafkaHandler {
  const cache = options.cache ?? new StateCache({ maxReadAgeMs: consumer.maxReadAgeMs });
  const log = (options.log ?? createLogger()).with({ consumer: consumer.name });
  let handler: RecordHandler<unknown, unknown> | BatchHandler<unknown, unknown> | undefined;
  let relay: OutboxRelay | undefined;
  const exitAfterCommit = process.env.DOGEAR_EXIT_AFTER_COMMIT === '1';
  const metrics: LogSink | undefined =
    (options.metrics ?? process.env.AWS_LAMBDA_FUNCTION_NAME !== undefined)
      ? (log.sink ?? ((line) => process.stdout.write(`${line}\n`)))
      : undefined;

  const handle = async function dogearHandleEvent(
    input: unknown,
    lambda?: Partial<LambdaContext>,
  ): Promise<KafkaBatchResponse | undefined> {
    const deadline = deadlineOf(consumer, lambda);
    const event = parseEvent(input);
    const slices = slicesOf(event);
    const strangers = slices.filter((s) => s.topic !== consumer.topic).map((s) => s.topic);
    if (strangers.length > 0) {
      throw new EventFormatError(
        `Consumer ${consumer.name} reads topic ${consumer.topic} but the event carries ${[...new Set(strangers)].join(', ')}; check the event-source mapping`,
      );
    }
    handler ??= consumer.create();
    const topicId = await options.topicId?.();
    const makeRelay = options.relay;
    const deps = {
      ...(makeRelay
        ? {
            relay: () =>
              (relay ??= makeRelay(
                event.bootstrapServers === undefined
                  ? {}
                  : { bootstrapServers: event.bootstrapServers },
              )),
          }
        : {}),
      exitAfterCommit,
      store: options.store,
      cache,
      log,
      maxReruns: options.maxReruns,
      deadline,
      topicId,
      readAhead: options.readAhead ?? true,
      source: {
        ...('eventSourceArn' in event ? { eventSourceArn: event.eventSourceArn } : {}),
        ...(event.bootstrapServers === undefined
          ? {}
          : { bootstrapServers: event.bootstrapServers }),
      },
    };
    const settled = await Promise.allSettled(
      slices.map((s) => processSlice(consumer, handler!, s, deps)),
    );
    const report = summarize(consumer.name, settled);
    options.onReport?.(report);
    metrics?.(metricsLine(report, Date.now()));
    const failures = settled.flatMap((s) =>
      s.status === 'rejected' ? [s.reason as Error] : s.value.failure ? [s.value.failure] : [],
    );
    if (failures.length === 0) return undefined;
    const recordFailures = failures.filter(
      (f): f is RecordFailedError => f instanceof RecordFailedError,
    );
    // A partial batch response can only name records; a store that failed fails the invocation.
    if (consumer.deploy.reportBatchItemFailures && recordFailures.length === failures.length) {
      for (const failure of recordFailures) log.error(failure.message, { offset: failure.offset });
      return {
        batchItemFailures: recordFailures.map((f) => ({
          itemIdentifier: { partition: `${f.topic}-${f.partition}`, offset: f.offset },
        })),
      };
    }
    throw new BatchFailedError(failures, report);
  };

  const wrapped = middy<KafkaEvent, KafkaBatchResponse | undefined, Error, LambdaContext>().handler(
    handle,
  );
  for (const middleware of consumer.middlewares) wrapped.use(middleware);
  return wrapped;
}

/**
 * Until when the invocation can run: now plus Lambda's remaining time when there is a Lambda
 * context, else the consumer's deploy.timeout (60 s) from now.
 */
function deadlineOf(consumer: ConsumerDefinition, lambda?: Partial<LambdaContext>): () => number {
  const remaining = lambda?.getRemainingTimeInMillis;
  if (typeof remaining === 'function') return () => Date.now() + remaining.call(lambda);
  const until = Date.now() + (consumer.deploy.timeout ?? 60) * 1000;
  return () => until;
}

function summarize(
  consumer: string,
  settled: PromiseSettledResult<SliceReport>[],
): InvocationReport {
  const partitions = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const sum = (pick: (r: SliceReport) => number) => partitions.reduce((n, r) => n + pick(r), 0);
  const max = (pick: (r: SliceReport) => number | undefined) => {
    const found = partitions.map(pick).filter((v): v is number => v !== undefined);
    return found.length === 0 ? undefined : Math.max(...found);
  };
  const newestTimestamp = max((r) => r.newestTimestamp);
  const slowestCommitMs = max((r) => r.slowestCommitMs);
  return {
    consumer,
    records: sum((r) => r.records),
    processed: sum((r) => r.processed),
    duplicates: sum((r) => r.duplicates),
    failed: sum((r) => (r.failure ? 1 : 0)) + settled.filter((s) => s.status === 'rejected').length,
    recreated: sum((r) => r.recreated),
    commits: sum((r) => r.commits),
    reruns: sum((r) => r.reruns),
    fences: sum((r) => r.fences),
    deadLettered: sum((r) => r.deadLettered),
    outputsRelayed: sum((r) => r.outputsRelayed),
    outputsPending: sum((r) => r.outputsPending),
    ...(newestTimestamp === undefined ? {} : { newestTimestamp }),
    ...(slowestCommitMs === undefined ? {} : { slowestCommitMs }),
    partitions,
  };
}
