import type { RecordCoordinates } from '../errors.ts';
import { type FieldFormat, type KafkaRecord, stateKeyOf } from '../event/index.ts';
import {
  type ItemRef,
  type OutboxDraft,
  StateError,
  type StateStore,
  type StateTransaction,
  StateTypeError,
} from '../state/index.ts';
import {
  EmitError,
  OnceInBatchError,
  OnceInProgressError,
  OnceInterruptedError,
} from './errors.ts';
import type { Logger } from './logger.ts';
import type { Context, EmitOptions, KeyedState, OnceOptions, Reads, Table } from './types.ts';

/** The table `ctx.state` reads and writes. */
export const STATE_TABLE = 'state';

/** What `ctx.table(name)` takes as a name. */
export const TABLE_NAME = /^[\w.-]{1,100}$/;

/**
 * The records of the slice still to run, for reading ahead: `position` is the current record's
 * place among them, `next(n)` the n records from it on, decoded (records that fail to decode
 * are left out: they fail when their turn comes).
 */
export interface RecordsToRun {
  readonly position: number;
  next(count: number): Promise<ReadonlyArray<KafkaRecord<unknown, unknown>>>;
}

/**
 * How many records one read-ahead covers: it bounds what a slice holds read ahead and not yet
 * read (250 items of up to 400 KB is 100 MB at worst), and how old a read-ahead item is when
 * its record runs; past it, the next read reads ahead the next records.
 */
export const READ_AHEAD_RECORDS = 250;

/** `ctx.state`'s own entry among the tables: an id no table name can be. */
const STATE_ID = '\u0000state';

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
  readonly eventSourceArn: string | undefined;
  readonly bootstrapServers: string | undefined;
  /** Up to which record (its position) this slice read ahead what `reads` names, and `ctx.state`. */
  private namedAheadTo = 0;
  private stateAheadTo = 0;
  /** What the running record emitted, in order, each encoded or being encoded. */
  private emitted: Array<OutboxDraft | Promise<OutboxDraft>> = [];

  constructor(
    readonly consumer: string,
    readonly group: string,
    readonly topic: string,
    readonly partition: number,
    private readonly txn: StateTransaction,
    private readonly store: StateStore,
    readonly log: Logger,
    /** The consumer's key format, which decides how `ctx.state` spells a record's key. */
    private readonly keyFormat: FieldFormat,
    /** Until when (epoch ms) this invocation can still be running: Lambda's deadline. */
    private readonly deadline: () => number,
    /** The records still to run, for reading ahead; none when the handler does not read ahead. */
    private readonly toRun: RecordsToRun | undefined,
    /** The items a record will read, by table (`ConsumerOptions.reads`). */
    private readonly reads: Reads | undefined,
    source: { readonly eventSourceArn?: string; readonly bootstrapServers?: string } = {},
    /** The topics `emit` may write (`ConsumerOptions.emits`). */
    private readonly emits: readonly string[] = [],
  ) {
    this.eventSourceArn = source.eventSourceArn;
    this.bootstrapServers = source.bootstrapServers;
    this.state = keyedState(
      () => this.tableOf(STATE_TABLE, true),
      () => this.stateKey(),
    );
  }

  emit(topic: string, value: unknown, options: EmitOptions = {}): void {
    const at = { topic: this.topic, partition: this.partition, offset: this.offset };
    if (!this.emits.includes(topic)) {
      throw new EmitError(
        at,
        `consumer ${this.consumer} may not write '${topic}': add it to the consumer's emits (${this.emits.length ? `now ${this.emits.join(', ')}` : 'none yet'}); the function's role may write only the topics listed there`,
      );
    }
    // Encoded when the record ends, in the order emitted: a schema codec encodes asynchronously.
    this.emitted.push(outputDraft(topic, value, options, at));
  }

  /** The running record's outputs, encoded, to the transaction: before it ends. */
  async settleEmits(): Promise<void> {
    const emitted = this.emitted;
    this.emitted = [];
    for (const draft of emitted) this.txn.output(await draft);
  }

  /** The running record threw: what it emitted goes with it. */
  dropEmits(): void {
    for (const draft of this.emitted) if (draft instanceof Promise) draft.catch(() => {});
    this.emitted = [];
  }

  /**
   * Before a read: if the records from here on are not read ahead yet, reads ahead, in one
   * batch, what `reads` names for the next `READ_AHEAD_RECORDS` records, and (for a `ctx.state`
   * read) their `ctx.state` items. A consumer that never reads makes no read ahead, and one
   * that writes blind (`add`, `set`) none either.
   */
  private async readAhead(state: boolean): Promise<void> {
    if (!this.toRun) return;
    const at = this.toRun.position;
    const named = this.reads !== undefined && at >= this.namedAheadTo;
    const keyed = state && at >= this.stateAheadTo;
    if (!named && !keyed) return;
    if (named) this.namedAheadTo = at + READ_AHEAD_RECORDS;
    if (keyed) this.stateAheadTo = at + READ_AHEAD_RECORDS;
    const refs: ItemRef[] = [];
    const failed: Array<{ table: string; offset: number; error: string }> = [];
    for (const record of await this.toRun.next(READ_AHEAD_RECORDS)) {
      if (named) refs.push(...this.namedReads(record, failed));
      if (keyed && record.key !== null && record.key !== undefined) {
        try {
          refs.push({ table: STATE_TABLE, key: stateKeyOf(record.key, this.keyFormat) });
        } catch {
          // Its own ctx.state read refuses the key, naming the record.
        }
      }
    }
    // One line for the read-ahead, not one per record: a `reads` that throws on tombstones
    // would otherwise log every one.
    if (failed.length > 0) {
      const [first] = failed;
      this.log.warn(
        `reads.${first!.table} threw for ${failed.length} record(s); their reads are not read ahead`,
        { offset: first!.offset, error: first!.error },
      );
    }
    await this.txn.prefetch(refs);
  }

  /** What `reads` names for `record`; a function that throws names nothing, and is logged. */
  private namedReads(
    record: KafkaRecord<unknown, unknown>,
    failed: Array<{ table: string; offset: number; error: string }>,
  ): ItemRef[] {
    const refs: ItemRef[] = [];
    for (const [table, keysOf] of Object.entries(this.reads!)) {
      let keys: string | readonly string[] | undefined;
      try {
        keys = keysOf(record);
      } catch (error) {
        failed.push({
          table,
          offset: record.offset,
          error: (error as Error)?.message ?? String(error),
        });
        continue;
      }
      for (const key of typeof keys === 'string' ? [keys] : (keys ?? [])) {
        if (typeof key === 'string') refs.push({ table, key });
      }
    }
    return refs;
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
    return this.tableOf<T>(name, false);
  }

  /** One `Table` per name, and one more for `ctx.state`, whose reads also read ahead its items. */
  private tableOf<T>(name: string, forState: boolean): Table<T> {
    const id = forState ? STATE_ID : name;
    let table = this.tables.get(id);
    if (!table) {
      if (!TABLE_NAME.test(name)) {
        throw new StateError(
          `Table name '${name}' must be 1 to 100 letters, digits, '_', '.' or '-'`,
        );
      }
      table = tableOf(this.txn, name, () => this.readAhead(forState));
      this.tables.set(id, table);
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

function tableOf(txn: StateTransaction, name: string, readAhead: () => Promise<void>): Table {
  return {
    async get(key) {
      await readAhead();
      return txn.get(name, key);
    },
    async getMany(keys) {
      await readAhead();
      return txn.getMany(name, keys);
    },
    set: (key, value) => txn.put(name, key, value),
    delete: (key) => txn.delete(name, key),
    add: (key, n) => txn.add(name, key, n),
    async update(key, fn) {
      await readAhead();
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

/** Header names dogear writes itself: a handler's own would confuse dedup and dead letters. */
const RESERVED_HEADER = /^dogear-/i;

/** What `ctx.emit` makes of its arguments: bytes as the outbox keeps them (base64). */
function outputDraft(
  topic: string,
  value: unknown,
  options: EmitOptions,
  at: RecordCoordinates,
): OutboxDraft | Promise<OutboxDraft> {
  const { key, headers = {}, format = 'json' } = options;
  const refuse = (problem: string, cause?: unknown) =>
    new EmitError(at, `the output to '${topic}' ${problem}`, cause ? { cause } : undefined);
  if (
    key !== undefined &&
    key !== null &&
    typeof key !== 'string' &&
    !(key instanceof Uint8Array)
  ) {
    throw refuse(`has a key of type ${typeof key}; a key is a string, a Uint8Array or null`);
  }
  const pairs: Array<readonly [string, string | null]> = [];
  for (const [name, v] of Object.entries(headers)) {
    if (RESERVED_HEADER.test(name)) {
      throw refuse(`sets header '${name}'; headers starting dogear- are dogear's own`);
    }
    if (typeof v !== 'string' && !(v instanceof Uint8Array)) {
      throw refuse(
        `has header '${name}' of type ${typeof v}; a header value is a string or a Uint8Array`,
      );
    }
    pairs.push([name, base64(v)]);
  }
  const draft = (bytes: Uint8Array | null): OutboxDraft => ({
    to: topic,
    key: key === undefined || key === null ? null : base64(key),
    value: bytes === null ? null : base64(bytes),
    headers: pairs,
  });
  if (value === null) return draft(null);
  if (typeof format === 'object') {
    const { schemaId } = options;
    return format.encode(value, schemaId).then(draft, (error: unknown) => {
      throw refuse(
        `cannot be encoded as ${format.format}: ${error instanceof Error ? error.message : String(error)}`,
        error,
      );
    });
  }
  if (format === 'json') {
    const text = value === undefined ? undefined : JSON.stringify(value);
    if (text === undefined)
      throw refuse('has no JSON value (undefined); emit null for a tombstone');
    return draft(Buffer.from(text));
  }
  if (format === 'string') {
    if (typeof value !== 'string')
      throw refuse(`is a ${typeof value}, not a string (format 'string')`);
    return draft(Buffer.from(value));
  }
  if (format === 'bytes') {
    if (!(value instanceof Uint8Array)) throw refuse("is not a Uint8Array (format 'bytes')");
    return draft(value);
  }
  throw refuse(`has format '${String(format)}'; use json, string, bytes or a schema codec`);
}

function base64(value: string | Uint8Array): string {
  return (
    typeof value === 'string'
      ? Buffer.from(value)
      : Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  ).toString('base64');
}
