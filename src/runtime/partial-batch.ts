import type { EventRecord, KafkaEvent } from '../event/index.ts';
import type { InvocationReport } from './handler.ts';
import type { DeployOptions, KafkaBatchResponse } from './types.ts';

/*
 * What Lambda's event-source mapping does with a failed batch and with a partial batch
 * response, for every local delivery (`dogear dev`, `dogear invoke` and `dogear/testing`): the
 * named partitions again, from the named offsets, a bounded number of times.
 */

/**
 * Lambda's retries of a failing batch: `maximumRetryAttempts` when it is finite; 10 when it is
 * unset or -1 (infinite) and an on-failure destination is set; else `Infinity`, until the
 * records expire (https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure-destination.html).
 */
export function lambdaRetryLimit(deploy: DeployOptions): number {
  const retries = deploy.maximumRetryAttempts ?? -1;
  if (retries >= 0) return retries;
  return deploy.onFailure ? RETRIES_WITH_DESTINATION : Number.POSITIVE_INFINITY;
}

/**
 * Retries when replaying recorded records (`dogear invoke`, `dogear/testing`): Lambda's limit,
 * except that an infinite one becomes 1. Records in a file never expire, so a deterministic
 * failure retried until they do would never end.
 */
export function replayRetryLimit(deploy: DeployOptions): number {
  const limit = lambdaRetryLimit(deploy);
  return Number.isFinite(limit) ? limit : 1;
}

/** Infinite retries with an on-failure destination become these many. */
const RETRIES_WITH_DESTINATION = 10;

/**
 * Where each partition a partial batch response names resumes: the named offset (the lowest, if
 * a partition is named twice); the partitions not named succeeded. Undefined when the response
 * names a partition the event does not hold, or an offset past its last record: Lambda takes
 * such a response for a failed batch.
 */
export function resumeOffsets(
  event: KafkaEvent,
  answered: KafkaBatchResponse['batchItemFailures'],
): Map<string, number> | undefined {
  const last = new Map<string, number>();
  for (const list of Object.values(event.records)) {
    for (const r of list) {
      const id = `${r.topic}-${r.partition}`;
      last.set(id, Math.max(r.offset, last.get(id) ?? -1));
    }
  }
  const from = new Map<string, number>();
  for (const { itemIdentifier: at } of answered) {
    const end = last.get(at?.partition);
    if (end === undefined || !Number.isSafeInteger(at.offset) || at.offset > end) return undefined;
    from.set(at.partition, Math.min(at.offset, from.get(at.partition) ?? Number.POSITIVE_INFINITY));
  }
  return from;
}

/**
 * The event Lambda delivers after a partial batch response: each named partition's records from
 * where it resumes (`resumeOffsets`). Undefined when the response names records not in the batch.
 */
export function retryEventOf(
  event: KafkaEvent,
  answered: KafkaBatchResponse['batchItemFailures'],
): KafkaEvent | undefined {
  const from = resumeOffsets(event, answered);
  if (!from) return undefined;
  const records: Record<string, EventRecord[]> = {};
  for (const [id, list] of Object.entries(event.records)) {
    const retried = list.filter(
      (r) => r.offset >= (from.get(`${r.topic}-${r.partition}`) ?? Number.POSITIVE_INFINITY),
    );
    if (retried.length > 0) records[id] = retried;
  }
  return { ...event, records };
}

/** `orders-0@3, orders-2@7`: the records a partial batch response names. */
export function formatAnswered(answered: KafkaBatchResponse['batchItemFailures']): string {
  return answered.map((f) => `${f.itemIdentifier.partition}@${f.itemIdentifier.offset}`).join(', ');
}

/** The errors behind a partial batch response: each named partition's failed record. */
export function failedRecords(
  report: InvocationReport | undefined,
  answered: KafkaBatchResponse['batchItemFailures'],
): Error[] {
  const named = new Set(answered.map((f) => f.itemIdentifier.partition));
  const found = (report?.partitions ?? []).flatMap((p) =>
    p.failure && named.has(`${p.topic}-${p.partition}`) ? [p.failure] : [],
  );
  return found.length > 0
    ? found
    : answered.map(
        (f) =>
          new Error(
            `Record ${f.itemIdentifier.partition}@${f.itemIdentifier.offset} failed (the handler's partial batch response named it)`,
          ),
      );
}

/** One delivery of a replayed event: the first (attempt 0) or a retry. */
export interface ReplayAttempt {
  readonly attempt: number;
  readonly event: KafkaEvent;
  /** What the handler answered; unset when it threw. */
  readonly response?: KafkaBatchResponse | undefined;
  readonly error?: unknown;
}

/** How the replay of one event ended. */
export type ReplayEnd =
  | { readonly end: 'succeeded' }
  | { readonly end: 'threw'; readonly error: unknown }
  /** The partial batch response still named records after `limit` retries. */
  | { readonly end: 'exhausted'; readonly answered: KafkaBatchResponse['batchItemFailures'] }
  /** The response named records the event does not hold: a failed batch, to Lambda. */
  | { readonly end: 'not-in-batch'; readonly answered: KafkaBatchResponse['batchItemFailures'] };

/**
 * Delivers one recorded event as the event-source mapping would: after a partial batch response,
 * again from the named offsets (`retryEventOf`), at most `limit` retries. A thrown error ends it
 * at once: a replay has nothing to wait for. `onAttempt` sees every delivery, in order.
 */
export async function replayEvent(
  event: KafkaEvent,
  limit: number,
  invoke: (event: KafkaEvent) => Promise<KafkaBatchResponse | undefined | undefined>,
  onAttempt: (attempt: ReplayAttempt) => void = () => {},
  /**
   * Whether an invocation that threw is delivered again, whole, as Lambda retries a failed
   * batch (up to `limit` times): for a consumer with a `deadLetter`, whose failing records are
   * given up on a later delivery. Otherwise the first throw ends the replay.
   */
  retryThrown = false,
): Promise<ReplayEnd> {
  let delivery = event;
  for (let attempt = 0; ; attempt++) {
    let response: KafkaBatchResponse | undefined;
    try {
      response = (await invoke(delivery)) ?? undefined;
    } catch (error) {
      onAttempt({ attempt, event: delivery, error });
      if (retryThrown && attempt < limit) continue;
      return { end: 'threw', error };
    }
    onAttempt({ attempt, event: delivery, response });
    const answered = response?.batchItemFailures ?? [];
    if (answered.length === 0) return { end: 'succeeded' };
    const next = retryEventOf(delivery, answered);
    if (next === undefined) return { end: 'not-in-batch', answered };
    if (attempt >= limit) return { end: 'exhausted', answered };
    delivery = next;
  }
}
