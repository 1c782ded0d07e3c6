import { type Format, type KafkaRecord, stateKeyOf } from '../event/index.ts';
import {
  StateError,
  type StateStore,
  type StateTransaction,
  StateTypeError,
} from '../state/index.ts';
import { OnceInBatchError, OnceInProgressError, OnceInterruptedError } from './errors.ts';
import type { Logger } from './logger.ts';
import type { Context, KeyedState, OnceOptions, Table } from './types.ts';

/** The table `ctx.state` reads and writes. */
export const STATE_TABLE = 'state';

/**
 * The `ctx` a handler receives. One instance serves a whole slice: the runtime moves it from
 * record to record, so handlers must not keep it past their call.
 */
export class SliceContext implements Context {
  private readonly tables = new Map<string, Table>();
  private current: KafkaRecord<unknown, unknown> | undefined;
  private lastOffset = -1;
  /** In `@onBatch`, the slice's first offset (`ctx.once` names the slice when it refuses). */
  private batchFrom: number | undefined;
  /** The current record's `ctx.state` key, once computed. */
  private keyed: { record: KafkaRecord<unknown, unknown>; key: string } | undefined;
  readonly state: KeyedState;

  constructor(
    readonly consumer: string,
    readonly group: string,
    readonly topic: string,
    readonly partition: number,
    private readonly txn: StateTransaction,
    private readonly store: StateStore,
    readonly log: Logger,
    /** The consumer's key format, which decides how `ctx.state` spells a record's key. */
    private readonly keyFormat: Format,
    /** Until when (epoch ms) this invocation can still be running: Lambda's deadline. */
    private readonly deadline: () => number,
  ) {
    this.state = keyedState(
      () => this.table(STATE_TABLE),
      () => this.stateKey(),
    );
  }

  /**
   * Points `ctx` at the record about to be handled, or (with no record) at a batch from `from`
   * to its last record `offset`.
   */
  at(record: KafkaRecord<unknown, unknown> | undefined, offset: number, from?: number): void {
    this.current = record;
    this.lastOffset = offset;
    this.batchFrom = record === undefined ? (from ?? offset) : undefined;
  }

  get offset(): number {
    return this.lastOffset;
  }

  table<T = unknown>(name: string): Table<T> {
    let table = this.tables.get(name);
    if (!table) {
      if (!/^[\w.-]{1,100}$/.test(name)) {
        throw new StateError(
          `Table name '${name}' must be 1 to 100 letters, digits, '_', '.' or '-'`,
        );
      }
      table = tableOf(this.txn, name);
      this.tables.set(name, table);
    }
    return table as Table<T>;
  }

  async once<T>(name: string, fn: () => T | Promise<T>, options: OnceOptions = {}): Promise<T> {
    // A batch has no record to key the effect by: a key from the slice (its last offset) lets
    // an overlapping shorter slice (0-4 beside 0-9) claim another key and run the effect again.
    if (this.batchFrom !== undefined) {
      throw new OnceInBatchError(this.consumer, name, {
        topic: this.topic,
        partition: this.partition,
        from: this.batchFrom,
        to: this.offset,
      });
    }
    const key = {
      group: this.group,
      topic: this.topic,
      partition: this.partition,
      offset: this.offset,
      name,
    };
    const startedAt = Date.now();
    const expiresAt = startedAt + (options.ttlSeconds ?? 7 * 24 * 3600) * 1000;
    // The lease: this invocation cannot be running in the effect past its deadline, so an
    // unfinished claim is "still running" until then and "interrupted" after.
    const lease = { startedAt, leaseUntil: Math.max(startedAt, this.deadline()) };
    const claim = await this.store.claimOnce(key, expiresAt, lease);
    if (!claim.claimed) {
      if (claim.done) return claim.result as T;
      // Another invocation is inside the effect: its outcome is not known yet, so fail the
      // record (Lambda redelivers it) rather than call it interrupted.
      if (claim.status === 'running') {
        throw new OnceInProgressError(name, key, claim.startedAt, claim.leaseUntil);
      }
      const ifInterrupted = options.ifInterrupted ?? 'throw';
      if (ifInterrupted === 'skip') return undefined as T;
      if (ifInterrupted === 'throw') throw new OnceInterruptedError(name, key);
      // 'run': the caller accepts a second run over an unknown outcome.
    }
    let result: T;
    try {
      result = await fn();
    } catch (error) {
      await this.store.releaseOnce(key);
      throw error;
    }
    await this.store.completeOnce(key, result, expiresAt);
    return result;
  }

  private stateKey(): string {
    const key = this.current?.key;
    if (this.current === undefined) {
      throw new StateTypeError(
        `ctx.state is keyed by the current record; in @onBatch use ctx.table('${STATE_TABLE}')`,
      );
    }
    if (key === null || key === undefined) {
      throw new StateTypeError(
        'ctx.state needs a record key, and this record has none; use ctx.table(name) with a key of your choice',
      );
    }
    // A handler may call ctx.state several times per record; a JSON key is canonicalized once.
    if (this.keyed?.record === this.current) return this.keyed.key;
    let item: string;
    try {
      item = stateKeyOf(key, this.keyFormat);
    } catch (error) {
      throw new StateTypeError(
        `ctx.state cannot key an item by this record's key: ${(error as Error).message}`,
        { topic: this.topic, partition: this.partition, offset: this.offset, table: STATE_TABLE },
        { cause: error },
      );
    }
    this.keyed = { record: this.current, key: item };
    return item;
  }
}

function tableOf(txn: StateTransaction, name: string): Table {
  return {
    get: (key) => txn.get(name, key),
    set: (key, value) => txn.put(name, key, value),
    delete: (key) => txn.delete(name, key),
    add: (key, n) => txn.add(name, key, n),
    async update(key, fn) {
      const next = fn(await txn.get(name, key));
      if (next === undefined) txn.delete(name, key);
      else txn.put(name, key, next);
      return next;
    },
  };
}

function keyedState(table: () => Table, key: () => string): KeyedState {
  return {
    get: () => table().get(key()),
    set: (value) => table().set(key(), value),
    delete: () => table().delete(key()),
    add: (n) => table().add(key(), n),
    update: (fn) => table().update(key(), fn),
  };
}
