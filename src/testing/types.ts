import type { EventRecord, EventSourceOptions, NdjsonRecord } from '../event/index.ts';
import type { InvocationReport } from '../runtime/index.ts';
import type { DeadLetterFacts, StateStore } from '../state/index.ts';
import type { InjectedFaultError } from './errors.ts';

/** What `invoke()` feeds a consumer: NDJSON records (as `dogear record` writes them) or Lambda's. */
export type TestRecord = NdjsonRecord | EventRecord;

export interface InvokeOptions extends EventSourceOptions {
  /**
   * Where state and checkpoints live. Pass an earlier run's `store` for a cold start on the
   * same state (a new Lambda instance); `redeliver()` keeps the warm one.
   * @default a new `MemoryStateStore`
   */
  store?: StateStore;
  /** Records per event. @default the consumer's batchSize */
  batchSize?: number;
  /** Log lines go here. @default dropped */
  log?: (line: string) => void;
  /**
   * Failures to inject, each once (a `record-fails` fault `times` times), counted over this run
   * and its `redeliver()` calls.
   * @default none
   */
  faults?: readonly Fault[];
}

/**
 * A failure to inject. `record-fails`: the record throws right after its handler returned, as
 * a crash would (its writes are dropped; `ctx.once` effects it ran stay done). The commit faults
 * hit the `at`-th commit of the run, counted from 1 over every partition: `commit-fails` lands
 * nothing (DynamoDB refused it, past retries), `commit-lost` lands and then fails (the answer
 * was lost, as in a timeout), `commit-conflicts` meets a write of another invocation, so the
 * slice runs again from its checkpoint.
 */
export type Fault = RecordFault | CommitFault;

export interface RecordFault {
  readonly fault: 'record-fails';
  readonly offset: number;
  /** @default any partition */
  readonly partition?: number;
  /** How many deliveries of the record fail. @default 1 */
  readonly times?: number;
}

export interface CommitFault {
  readonly fault: 'commit-fails' | 'commit-lost' | 'commit-conflicts';
  /** Which commit of the run, from 1. @default 1 */
  readonly at?: number;
}

/** The reports of a run, summed. */
/** An output as a test reads it. */
export interface TestOutput {
  readonly topic: string;
  readonly key: string | null;
  readonly value: unknown;
  readonly headers: Readonly<Record<string, string>>;
  /** `<group>|<topic>|<partition>|<offset>|<index>`, its `dogear-origin` header. */
  readonly origin: string;
}

export interface InvokeTotal {
  readonly events: number;
  readonly records: number;
  readonly processed: number;
  readonly duplicates: number;
  /** Partitions that failed, over every event. */
  readonly failed: number;
  readonly commits: number;
  /** Slices run again from their checkpoint after a version conflict. */
  readonly reruns: number;
}

export interface InvokeResult {
  /** One report per event, in order, including the failed one. */
  readonly reports: readonly InvocationReport[];
  /** The error of the first failed event; later events were not delivered, as with Lambda. */
  readonly error?: Error;
  /** The reports summed. */
  readonly total: InvokeTotal;
  /** The faults that fired in this delivery, in order. */
  readonly injected: readonly InjectedFaultError[];
  /** The state, without the injected faults: pass it to `invoke()` for a cold start. */
  readonly store: StateStore;
  /**
   * What `ctx.emit` sent, as the relay delivered it after each commit, in order, this delivery
   * and the earlier ones of the run: key as UTF-8, value as JSON when it parses (else UTF-8).
   */
  readonly outputs: readonly TestOutput[];
  /** The records given up to the dead letters, with why (`deadLetter`). */
  readonly deadLetters: readonly DeadLetterFacts[];
  /** A table's items as a plain object. */
  table<T = unknown>(name: string): Promise<Record<string, T>>;
  /**
   * Each partition's committed offset, by `<topic>-<partition>`, as Kafka counts it: the next
   * offset to read, one past the last record processed (`nextOffset` of
   * `dogear state --offsets`). Partitions with no processed record are left out.
   */
  committedOffsets(): Promise<Record<string, number>>;
  /**
   * Delivers `records` (by default the same ones) again to the same warm handler and store, as
   * Lambda does after a failed batch or a lost commit; faults not yet used still apply.
   */
  redeliver(records?: readonly TestRecord[]): Promise<InvokeResult>;
}
