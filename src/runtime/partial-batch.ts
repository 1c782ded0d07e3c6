import type { EventRecord, KafkaEvent } from '../event/index.ts';
import type { ConsumerDefinition, InvocationReport, KafkaBatchResponse } from '../runtime/index.ts';

/*
 * What Lambda's event-source mapping does with a partial batch response, for every local
 * delivery (`dogear invoke` and `dogear/testing`): the named partitions again, from the named
 * offsets, a bounded number of times.
 */

/** Retries of a partial batch response: `maximumRetryAttempts`, or one when it is unset or infinite. */
export function retriesOf(consumer: ConsumerDefinition): number {
  return unlimited(consumer) ? 1 : consumer.deploy.maximumRetryAttempts!;
}

/** Lambda retries until the records expire: no `maximumRetryAttempts`, or -1. */
export function unlimited(consumer: ConsumerDefinition): boolean {
  const retries = consumer.deploy.maximumRetryAttempts;
  return retries === undefined || retries < 0;
}

/**
 * The event Lambda delivers after a partial batch response: each named partition's records
 * from the named offset on (the lowest, if a partition is named twice); the other partitions
 * succeeded. Undefined when that leaves no record: the response names records not in the batch.
 */
export function retryEventOf(
  event: KafkaEvent,
  answered: KafkaBatchResponse['batchItemFailures'],
): KafkaEvent | undefined {
  const from = new Map<string, number>();
  for (const { itemIdentifier: at } of answered) {
    from.set(at.partition, Math.min(at.offset, from.get(at.partition) ?? Number.POSITIVE_INFINITY));
  }
  const records: Record<string, EventRecord[]> = {};
  let kept = 0;
  for (const [id, list] of Object.entries(event.records)) {
    const retried = list.filter(
      (r) => r.offset >= (from.get(`${r.topic}-${r.partition}`) ?? Number.POSITIVE_INFINITY),
    );
    if (retried.length > 0) records[id] = retried;
    kept += retried.length;
  }
  return kept > 0 ? { ...event, records } : undefined;
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
