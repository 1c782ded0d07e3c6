import { type EventRecord, eventRecordOf, eventsOf } from '../event/index.ts';
import {
  BatchFailedError,
  consumerOf,
  createHandler,
  createLogger,
  failedRecords,
  type InvocationReport,
  lambdaContext,
  replayEvent,
  replayRetryLimit,
} from '../runtime/index.ts';
import { type DeadLetterFacts, MemoryStateStore, type OutboxMessage } from '../state/index.ts';
import { TestingOptionError } from './errors.ts';
import { checkFaults, FaultPlan } from './faults.ts';
import type { InvokeOptions, InvokeResult, InvokeTotal, TestOutput, TestRecord } from './types.ts';

const OPTIONS: ReadonlyArray<keyof InvokeOptions> = [
  'store',
  'batchSize',
  'log',
  'faults',
  'eventSource',
  'eventSourceArn',
  'bootstrapServers',
];

/**
 * Runs a consumer on records the way Lambda would: cut into events of its batch size, each
 * event through the generated handler, with state in memory unless `store` says otherwise.
 * A partial batch response is retried as Lambda retries it: the named partitions from the named
 * offsets, up to Lambda's retry limit, except that an infinite one becomes once (records in a
 * test never expire; see `replayRetryLimit`). Stops at the first event
 * that still fails, as the event-source mapping does until a retry succeeds.
 */
export async function invoke(
  consumer: unknown,
  records: readonly TestRecord[],
  options: InvokeOptions = {},
): Promise<InvokeResult> {
  const found = consumerOf(consumer);
  if (!found) {
    throw new TestingOptionError(
      'invoke() takes a class decorated with @consumer or a defineConsumer() result; did you pass an instance or the module instead of the exported class?',
    );
  }
  for (const key of Object.keys(options)) {
    if (!(OPTIONS as readonly string[]).includes(key)) {
      throw new TestingOptionError(
        `Unknown option '${key}' of invoke(); it takes ${OPTIONS.join(', ')}`,
      );
    }
  }
  const batchSize = options.batchSize ?? found.batchSize;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new TestingOptionError(`invoke(): batchSize ${batchSize} is not a positive integer`);
  }
  const plan = new FaultPlan(checkFaults(options.faults));
  const definition = plan.consumer(found);
  const store = options.store ?? new MemoryStateStore();
  // One handler for the run: a redelivery finds it warm, with its cache and class instance.
  let reports: InvocationReport[] = [];
  const outputs: TestOutput[] = [];
  const deadLetters: DeadLetterFacts[] = [];
  const handler = createHandler(definition, {
    store: plan.store(store),
    log: createLogger(options.log ?? (() => {})),
    onReport: (report) => reports.push(report),
    relay: () => ({
      send: async (messages) => {
        for (const m of messages) {
          if (m.deadLetter) deadLetters.push(m.deadLetter);
          else outputs.push(testOutput(m));
        }
      },
      close: async () => {},
    }),
  });

  let delivering = false;
  const deliver = async (given: readonly TestRecord[]): Promise<InvokeResult> => {
    if (delivering) {
      throw new TestingOptionError(
        'redeliver() was called while a delivery of the same run is still going; await it first, or invoke() again with { store } for a second Lambda instance',
      );
    }
    delivering = true;
    reports = [];
    const events = eventsOf(given.map(eventRecord), batchSize, options);
    let error: Error | undefined;
    const retries = replayRetryLimit(definition.deploy);
    for (const event of events) {
      const ended = await replayEvent(event, retries, (delivery) =>
        handler(delivery, lambdaContext(definition)),
      );
      if (ended.end === 'succeeded') continue;
      // The same error as without partial batch responses, so a test's assertions hold
      // whichever way the consumer answers.
      error =
        ended.end === 'threw'
          ? (ended.error as Error)
          : new BatchFailedError(failedRecords(reports.at(-1), ended.answered), reports.at(-1));
      break;
    }
    delivering = false;
    const delivered = reports;
    return {
      reports: delivered,
      ...(error ? { error } : {}),
      total: totalOf(delivered),
      injected: plan.takeFired(),
      store,
      outputs: [...outputs],
      deadLetters: [...deadLetters],
      table: async <T>(name: string) =>
        Object.fromEntries(await store.scanTable(definition.group, name)) as Record<string, T>,
      // The checkpoint holds the last processed offset; Kafka commits the one after it.
      committedOffsets: async () =>
        Object.fromEntries(
          (await store.scanCheckpoints(definition.group))
            .filter((c) => c.offset >= 0)
            .map((c) => [`${c.topic}-${c.partition}`, c.offset + 1]),
        ),
      redeliver: (again = given) => deliver(again),
    };
  };
  return deliver(records);
}

function testOutput(m: OutboxMessage): TestOutput {
  const text = (b64: string | null) =>
    b64 === null ? null : Buffer.from(b64, 'base64').toString();
  const value = text(m.value);
  let parsed: unknown = value;
  try {
    if (value !== null) parsed = JSON.parse(value);
  } catch {
    // Not JSON: the text as it is.
  }
  return {
    topic: m.to,
    key: text(m.key),
    value: parsed,
    headers: Object.fromEntries(m.headers.map(([name, v]) => [name, text(v) ?? ''])),
    origin: m.origin,
  };
}

function eventRecord(record: TestRecord, i: number): EventRecord {
  return 'headers' in record && Array.isArray(record.headers)
    ? (record as EventRecord)
    : eventRecordOf(record, `record ${i}`);
}

function totalOf(reports: readonly InvocationReport[]): InvokeTotal {
  const sum = (pick: (r: InvocationReport) => number) => reports.reduce((n, r) => n + pick(r), 0);
  return {
    events: reports.length,
    records: sum((r) => r.records),
    processed: sum((r) => r.processed),
    duplicates: sum((r) => r.duplicates),
    failed: sum((r) => r.failed),
    commits: sum((r) => r.commits),
    reruns: sum((r) => r.reruns),
  };
}
