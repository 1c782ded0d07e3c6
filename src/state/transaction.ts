import { StateConflictError, StateLimitError, StateTypeError } from './errors.ts';
import { itemId } from './memory.ts';
import type {
  Change,
  Checkpoint,
  ItemWrite,
  PartitionRef,
  StateStore,
  StoredItem,
} from './types.ts';

/**
 * What a process remembers between invocations: items and checkpoints as last read or written.
 * A stale entry is harmless, because every commit is conditioned on the versions it read.
 */
export class StateCache {
  private readonly items = new Map<string, StoredItem>();
  private readonly checkpoints = new Map<string, Checkpoint>();
  constructor(readonly maxItems = 100_000) {}

  item(id: string): StoredItem | undefined {
    return this.items.get(id);
  }
  setItem(id: string, item: StoredItem): void {
    this.items.delete(id);
    this.items.set(id, item);
    // Map keeps insertion order, so the first key is the least recently written.
    if (this.items.size > this.maxItems)
      this.items.delete(this.items.keys().next().value as string);
  }
  dropItem(id: string): void {
    this.items.delete(id);
  }
  checkpoint(id: string): Checkpoint | undefined {
    return this.checkpoints.get(id);
  }
  setCheckpoint(id: string, checkpoint: Checkpoint): void {
    this.checkpoints.set(id, checkpoint);
  }
  dropCheckpoint(id: string): void {
    this.checkpoints.delete(id);
  }
  clear(): void {
    this.items.clear();
    this.checkpoints.clear();
  }
}

/** One item as this transaction sees it: what it read, and what is buffered for it. */
interface Entry {
  readonly table: string;
  readonly key: string;
  /** The key in the cache, built once per transaction rather than once per operation. */
  readonly cacheId: string;
  /** Names and keys, estimated once; the value's size comes on top. */
  readonly fixedBytes: number;
  /** The version the item was first read at: the commit's condition. */
  readVersion: number | undefined;
  /** The change of the records that finished. */
  slice: Change | undefined;
  /** The change of the record running now; dropped if it throws. */
  record: Change | undefined;
  /** Estimated size of `slice`, and of `slice` then `record` once `fit` measured it. */
  sliceBytes: number;
  nextBytes: number;
}

/** How the current record's writes fit next to what the slice holds. */
export type Fit = 'fits' | 'commit-first';

/**
 * A transactional view of one consumer group's state for one partition slice: reads go through
 * the cache to the store, writes are buffered per record, and `commit` lands the buffered
 * records together with the checkpoint, all or nothing.
 *
 * This is the hot path of every consumer, so each key gets one `Entry` per transaction and the
 * per-operation work is a map lookup and, for `add`, one addition.
 */
export class StateTransaction {
  private readonly tables = new Map<string, Map<string, Entry>>();
  /** Entries with a `slice` change, in the order they were first written. */
  private dirty: Entry[] = [];
  private sliceBytes = 0;
  /** Of the dirty entries: how many carry a read version, and the bytes of those that do not. */
  private conditional = 0;
  private blindBytes = 0;
  /** Entries the running record wrote. */
  private touched: Entry[] = [];
  private checkpointNow: Checkpoint;

  private constructor(
    private readonly store: StateStore,
    private readonly cache: StateCache,
    readonly partition: PartitionRef,
    checkpoint: Checkpoint,
  ) {
    this.checkpointNow = checkpoint;
  }

  /** Opens a transaction at the partition's checkpoint (from the cache when warm). */
  static async open(store: StateStore, cache: StateCache, partition: PartitionRef) {
    const id = checkpointId(partition);
    let checkpoint = cache.checkpoint(id);
    if (!checkpoint) {
      checkpoint = await store.readCheckpoint(partition);
      cache.setCheckpoint(id, checkpoint);
    }
    return new StateTransaction(store, cache, partition, checkpoint);
  }

  /** The last offset whose effects are committed. */
  get checkpoint(): Checkpoint {
    return this.checkpointNow;
  }

  get pendingWrites(): number {
    return this.dirty.length;
  }

  private entry(table: string, key: string): Entry {
    let entries = this.tables.get(table);
    if (!entries) {
      entries = new Map();
      this.tables.set(table, entries);
    }
    let entry = entries.get(key);
    if (!entry) {
      if (typeof key !== 'string') {
        throw new StateTypeError(
          `Table '${table}' keys are strings, got ${typeof key}; did you mean String(key)?`,
        );
      }
      entry = {
        table,
        key,
        cacheId: `${this.partition.group}\u0000${itemId(table, key)}`,
        fixedBytes: Buffer.byteLength(table) + Buffer.byteLength(key) + 64,
        readVersion: undefined,
        slice: undefined,
        record: undefined,
        sliceBytes: 0,
        nextBytes: -1,
      };
      entries.set(key, entry);
    }
    return entry;
  }

  async get(table: string, key: string): Promise<unknown> {
    const entry = this.entry(table, key);
    const change = pendingOf(entry);
    if (change?.op === 'put') return change.value;
    if (change?.op === 'delete') return undefined;
    const base = await this.readCommitted(entry);
    if (change?.op === 'add') return numberIn(base, table, key) + change.delta;
    return base.exists ? base.value : undefined;
  }

  private async readCommitted(entry: Entry): Promise<StoredItem> {
    let item = this.cache.item(entry.cacheId);
    if (!item) {
      item = await this.store.readItem(this.partition.group, entry.table, entry.key);
      this.cache.setItem(entry.cacheId, item);
    }
    if (entry.readVersion === undefined) {
      entry.readVersion = item.version;
      // A buffered blind write now carries a condition: it must go into the transaction.
      if (entry.slice !== undefined) {
        this.conditional += 1;
        this.blindBytes -= entry.sliceBytes;
      }
    }
    return item;
  }

  put(table: string, key: string, value: unknown): void {
    if (value === undefined) {
      throw new StateTypeError(`Cannot set ${table}/${key} to undefined; use delete`);
    }
    this.write(this.entry(table, key), { op: 'put', value });
  }

  delete(table: string, key: string): void {
    this.write(this.entry(table, key), { op: 'delete' });
  }

  add(table: string, key: string, delta: number): void {
    if (!Number.isFinite(delta)) {
      throw new StateTypeError(`Cannot add ${delta} to ${table}/${key}; add takes a finite number`);
    }
    const entry = this.entry(table, key);
    const mine = entry.record;
    // The common case, a counter bumped again by the same record: no new object.
    if (mine?.op === 'add') (mine as { delta: number }).delta += delta;
    else this.write(entry, { op: 'add', delta });
  }

  /** The record's changes stay apart from the slice's, so the slice can commit without them. */
  private write(entry: Entry, change: Change): void {
    const mine = combine(entry.record, change, entry.table, entry.key);
    if (entry.slice && mine.op === 'add') combine(entry.slice, mine, entry.table, entry.key); // fails now if `add` meets a string
    if (entry.record === undefined) this.touched.push(entry);
    entry.record = mine.op === 'add' && mine === change ? { op: 'add', delta: mine.delta } : mine;
  }

  /** Forgets the running record's writes: it threw, so none of its effects may land. */
  abortRecord(): void {
    for (const entry of this.touched) entry.record = undefined;
    this.touched = [];
  }

  /**
   * Whether the running record's writes fit beside the slice's in one commit. Throws when they
   * cannot fit even alone, since a record's effects are never split across commits.
   */
  fit(): Fit {
    const { maxItemBytes } = this.store.limits;
    const total = {
      writes: this.dirty.length,
      conditional: this.conditional,
      bytes: this.sliceBytes,
      blindBytes: this.blindBytes,
    };
    const alone = { writes: 0, conditional: 0, bytes: 0, blindBytes: 0 };
    for (const entry of this.touched) {
      const size = sizeOf(entry, pendingOf(entry)!);
      if (size > maxItemBytes) {
        throw new StateLimitError(
          `${entry.table}/${entry.key} would be about ${size} bytes, over the ${maxItemBytes}-byte item limit; split the value over several keys`,
        );
      }
      entry.nextBytes = size;
      const conditional = entry.readVersion !== undefined;
      alone.writes += 1;
      alone.bytes += size;
      if (conditional) alone.conditional += 1;
      else alone.blindBytes += size;
      if (entry.slice === undefined) {
        total.writes += 1;
        if (conditional) total.conditional += 1;
      }
      total.bytes += size - entry.sliceBytes;
      if (!conditional) total.blindBytes += size - entry.sliceBytes;
    }
    if (this.overflows(alone)) {
      const { maxWrites, maxBytes, maxIntentBytes } = this.store.limits;
      throw new StateLimitError(
        `One record (or one @onBatch slice) writes ${alone.writes} items (${alone.conditional} after reading them, about ${alone.bytes} bytes), more than one commit holds (${maxWrites} read-then-written items, ${maxBytes} bytes, ${maxIntentBytes} bytes of blind writes); write fewer keys per record, or aggregate into one item`,
      );
    }
    return this.overflows(total) ? 'commit-first' : 'fits';
  }

  /**
   * Conditioned writes share the checkpoint's transaction, so at most `maxWrites` of them; past
   * `maxWrites` writes in all, the blind ones ride in the checkpoint item as an intent.
   */
  private overflows(w: { writes: number; conditional: number; bytes: number; blindBytes: number }) {
    const { maxWrites, maxBytes, maxIntentBytes } = this.store.limits;
    return (
      w.conditional > maxWrites ||
      w.bytes > maxBytes ||
      (w.writes > maxWrites && w.blindBytes > maxIntentBytes)
    );
  }

  /** Moves the running record's writes into the slice. */
  endRecord(): void {
    for (const entry of this.touched) {
      const merged = pendingOf(entry)!;
      // `fit` measured the merged change unless the slice committed since; then measure again.
      const bytes =
        entry.nextBytes >= 0 && entry.slice !== undefined ? entry.nextBytes : sizeOf(entry, merged);
      const blind = entry.readVersion === undefined;
      if (entry.slice === undefined) {
        this.dirty.push(entry);
        if (blind) this.blindBytes += bytes;
        else this.conditional += 1;
      } else if (blind) this.blindBytes += bytes - entry.sliceBytes;
      this.sliceBytes += bytes - entry.sliceBytes;
      entry.sliceBytes = bytes;
      entry.slice = merged;
      entry.record = undefined;
      entry.nextBytes = -1;
    }
    this.touched = [];
  }

  /**
   * Commits the finished records' writes and moves the checkpoint to `offset`. On any failure
   * the cache forgets what the commit touched, since a timed-out commit may still have landed.
   */
  async commit(offset: number): Promise<void> {
    const dirty = this.dirty;
    const writes: ItemWrite[] = dirty.map(({ table, key, slice, readVersion }) =>
      readVersion === undefined
        ? { table, key, change: slice! }
        : { table, key, change: slice!, expectedVersion: readVersion },
    );
    const checkpoint = { expectedVersion: this.checkpointNow.version, offset };
    try {
      await this.store.commit({ partition: this.partition, checkpoint, writes });
    } catch (error) {
      this.forget(error);
      throw error;
    }
    this.checkpointNow = { offset, version: checkpoint.expectedVersion + 1 };
    this.cache.setCheckpoint(checkpointId(this.partition), this.checkpointNow);
    for (const entry of dirty) {
      this.remember(entry);
      entry.slice = undefined;
      entry.sliceBytes = 0;
      entry.nextBytes = -1;
    }
    this.dirty = [];
    this.sliceBytes = 0;
    this.conditional = 0;
    this.blindBytes = 0;
  }

  private remember(entry: Entry): void {
    const cached = this.cache.item(entry.cacheId);
    const expected = entry.readVersion;
    const change = entry.slice!;
    // A blind write's resulting version is unknown here: forget it rather than guess.
    if (expected === undefined || (change.op === 'add' && cached?.version !== expected)) {
      this.cache.dropItem(entry.cacheId);
      entry.readVersion = undefined;
      return;
    }
    const version = expected + 1;
    const item: StoredItem =
      change.op === 'put'
        ? { value: change.value, version, exists: true }
        : change.op === 'delete'
          ? { value: undefined, version, exists: false }
          : {
              value: numberIn(cached!, entry.table, entry.key) + change.delta,
              version,
              exists: true,
            };
    this.cache.setItem(entry.cacheId, item);
    entry.readVersion = version;
  }

  private forget(error: unknown): void {
    const conflict = error instanceof StateConflictError ? error : undefined;
    if (!conflict || conflict.checkpoint) this.cache.dropCheckpoint(checkpointId(this.partition));
    // Whatever this transaction read or wrote may be stale now.
    for (const entries of this.tables.values()) {
      for (const entry of entries.values()) this.cache.dropItem(entry.cacheId);
    }
  }
}

function checkpointId(p: PartitionRef): string {
  return `${p.group}\u0000${p.topic}\u0000${p.partition}`;
}

/** The slice's change to an item followed by the running record's. */
function pendingOf(entry: Entry): Change | undefined {
  if (!entry.record) return entry.slice;
  if (!entry.slice) return entry.record;
  return combine(entry.slice, entry.record, entry.table, entry.key);
}

/** Folds a new change into an earlier one for the same key, so a commit writes each key once. */
function combine(before: Change | undefined, next: Change, table: string, key: string): Change {
  if (next.op !== 'add' || before === undefined) return next;
  if (before.op === 'add') return { op: 'add', delta: before.delta + next.delta };
  if (before.op === 'delete') return { op: 'put', value: next.delta };
  if (typeof before.value !== 'number') {
    throw new StateTypeError(
      `Cannot add to ${table}/${key}: it holds a ${typeof before.value}, not a number`,
    );
  }
  return { op: 'put', value: before.value + next.delta };
}

function numberIn(item: StoredItem, table: string, key: string): number {
  if (!item.exists) return 0;
  if (typeof item.value !== 'number') {
    throw new StateTypeError(
      `Cannot add to ${table}/${key}: it holds a ${typeof item.value}, not a number`,
    );
  }
  return item.value;
}

/** Roughly what DynamoDB will count: names and keys, the JSON value, the version. */
function sizeOf(entry: Entry, change: Change): number {
  return change.op === 'put'
    ? entry.fixedBytes + Buffer.byteLength(JSON.stringify(change.value))
    : entry.fixedBytes + 8;
}
