import {
  type EventRecord,
  type EventSourceOptions,
  eventRecordOf,
  eventsOf,
  type NdjsonRecord,
} from '../event/index.ts';
import { lambdaContext } from '../local/index.ts';
import {
  consumerOf,
  createHandler,
  createLogger,
  type InvocationReport,
} from '../runtime/index.ts';
import { MemoryStateStore, type StateStore } from '../state/index.ts';

export interface InvokeOptions extends EventSourceOptions {
  /** @default a new `MemoryStateStore` */
  store?: StateStore;
  /** Records per event. @default the consumer's batchSize */
  batchSize?: number;
  /** Log lines go here. @default dropped */
  log?: (line: string) => void;
}

export interface InvokeResult {
  /** One report per event, in order, including the failed one. */
  readonly reports: InvocationReport[];
  /** The error of the first failed event; later events were not delivered, as with Lambda. */
  readonly error?: Error;
  readonly store: StateStore;
  /** A table's items as a plain object. */
  table<T = unknown>(name: string): Promise<Record<string, T>>;
}

/**
 * Runs a consumer on records the way Lambda would: cut into events of its batch size, each
 * event through the generated handler. Stops at the first failed event.
 */
export async function invoke(
  consumer: unknown,
  records: ReadonlyArray<NdjsonRecord | EventRecord>,
  options: InvokeOptions = {},
): Promise<InvokeResult> {
  const definition = consumerOf(consumer);
  if (!definition)
    throw new TypeError(
      'invoke() takes a class decorated with @consumer or a defineConsumer() result',
    );
  const store = options.store ?? new MemoryStateStore();
  const reports: InvocationReport[] = [];
  const handler = createHandler(definition, {
    store,
    log: createLogger(options.log ?? (() => {})),
    onReport: (report) => reports.push(report),
  });
  const events = eventsOf(
    records.map((r, i) =>
      'headers' in r && Array.isArray(r.headers)
        ? (r as EventRecord)
        : eventRecordOf(r, `record ${i}`),
    ),
    options.batchSize ?? definition.batchSize,
    options,
  );
  let error: Error | undefined;
  for (const event of events) {
    try {
      await handler(event, lambdaContext(definition));
    } catch (e) {
      error = e as Error;
      break;
    }
  }
  return {
    reports,
    ...(error ? { error } : {}),
    store,
    table: async <T>(name: string) =>
      Object.fromEntries(await store.scanTable(definition.group, name)) as Record<string, T>,
  };
}
