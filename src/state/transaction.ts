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

interface Pending {
  readonly table: string;
  readonly key: string;
  readonly change: Change;
}

/** How the current record's writes fit next to what the slice holds. */
export type Fit = 'fits' | 'commit-first';

/**
 * A transactional view of one consumer group's state for one partition slice: reads go through
 * the cache to the store, writes are buffered per record, and `commit` lands the buffered
 * records together with the checkpoint, all or nothing.
 */
export class StateTransaction {
  /** The version each item was first read at in this transaction: the commit's condition. */
  private readonly reads = new Map<string, number>();
  /** Writes of records that finished. */
  private readonly slice = new Map<string, Pending & { bytes: number }>();
  private sliceBytes = 0;
  /** Writes of the record running now; dropped if it throws. */
  private record = new Map<string, Pending>();
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
    return this.slice.size;
  }

  async get(table: string, key: string): Promise<unknown> {
    const id = itemId(table, key);
    const change = this.pending(id);
    if (change?.op === 'put') return change.value;
    if (change?.op === 'delete') return undefined;
    const base = await this.readCommitted(table, key, id);
    if (change?.op === 'add') return numberIn(base, table, key) + change.delta;
    return base.exists ? base.value : undefined;
  }

  /** The slice's change to an item followed by the running record's. */
  private pending(id: string): Change | undefined {
    const ofSlice = this.slice.get(id);
    const ofRecord = this.record.get(id);
    if (!ofRecord) return ofSlice?.change;
    if (!ofSlice) return ofRecord.change;
    return combine(ofSlice.change, ofRecord.change, ofRecord.table, ofRecord.key);
  }

  private async readCommitted(table: string, key: string, id: string): Promise<StoredItem> {
    const cacheId = `${this.partition.group}\u0000${id}`;
    let item = this.cache.item(cacheId);
    if (!item) {
      item = await this.store.readItem(this.partition.group, table, key);
      this.cache.setItem(cacheId, item);
    }
    if (!this.reads.has(id)) this.reads.set(id, item.version);
    return item;
  }

  put(table: string, key: string, value: unknown): void {
    if (value === undefined)
      throw new StateTypeError(`Cannot set ${table}/${key} to undefined; use delete`);
    this.write(table, key, { op: 'put', value });
  }

  delete(table: string, key: string): void {
    this.write(table, key, { op: 'delete' });
  }

  add(table: string, key: string, delta: number): void {
    if (!Number.isFinite(delta)) {
      throw new StateTypeError(`Cannot add ${delta} to ${table}/${key}; add takes a finite number`);
    }
    this.write(table, key, { op: 'add', delta });
  }

  private write(table: string, key: string, change: Change): void {
    if (typeof key !== 'string') {
      throw new StateTypeError(
        `Table '${table}' keys are strings, got ${typeof key}; did you mean String(key)?`,
      );
    }
    const id = itemId(table, key);
    // The record's changes stay apart from the slice's, so the slice can commit without them.
    const mine = combine(this.record.get(id)?.change, change, table, key);
    const ofSlice = this.slice.get(id);
    if (ofSlice) combine(ofSlice.change, mine, table, key); // fails now if `add` meets a string
    this.record.set(id, { table, key, change: mine });
  }

  /** Forgets the running record's writes: it threw, so none of its effects may land. */
  abortRecord(): void {
    this.record = new Map();
  }

  /**
   * Whether the running record's writes fit beside the slice's in one commit. Throws when they
   * cannot fit even alone, since a record's effects are never split across commits.
   */
  fit(): Fit {
    const { maxWrites, maxBytes, maxItemBytes } = this.store.limits;
    let writes = this.slice.size;
    let bytes = this.sliceBytes;
    let alone = 0;
    for (const [id, pending] of this.record) {
      const size = estimateBytes({ ...pending, change: this.pending(id)! });
      if (size > maxItemBytes) {
        throw new StateLimitError(
          `${pending.table}/${pending.key} would be about ${size} bytes, over the ${maxItemBytes}-byte item limit; split the value over several keys`,
        );
      }
      alone += size;
      const previous = this.slice.get(id);
      if (previous) bytes -= previous.bytes;
      else writes += 1;
      bytes += size;
    }
    if (this.record.size > maxWrites || alone > maxBytes) {
      throw new StateLimitError(
        `One record writes ${this.record.size} items (about ${alone} bytes), more than one commit holds (${maxWrites} items, ${maxBytes} bytes); write fewer keys per record, or aggregate into one item`,
      );
    }
    return writes > maxWrites || bytes > maxBytes ? 'commit-first' : 'fits';
  }

  /** Moves the running record's writes into the slice. */
  endRecord(): void {
    for (const [id, pending] of this.record) {
      const previous = this.slice.get(id);
      const merged = { ...pending, change: this.pending(id)! };
      const bytes = estimateBytes(merged);
      this.sliceBytes += bytes - (previous?.bytes ?? 0);
      this.slice.set(id, { ...merged, bytes });
    }
    this.record = new Map();
  }

  /**
   * Commits the finished records' writes and moves the checkpoint to `offset`. On any failure
   * the cache forgets what the commit touched, since a timed-out commit may still have landed.
   */
  async commit(offset: number): Promise<void> {
    const writes: ItemWrite[] = [];
    for (const [id, { table, key, change }] of this.slice) {
      const expectedVersion = this.reads.get(id);
      writes.push(
        expectedVersion === undefined
          ? { table, key, change }
          : { table, key, change, expectedVersion },
      );
    }
    const checkpoint = { expectedVersion: this.checkpointNow.version, offset };
    try {
      await this.store.commit({ partition: this.partition, checkpoint, writes });
    } catch (error) {
      this.forget(writes, error);
      throw error;
    }
    this.checkpointNow = { offset, version: checkpoint.expectedVersion + 1 };
    this.cache.setCheckpoint(checkpointId(this.partition), this.checkpointNow);
    for (const write of writes) this.remember(write);
    this.slice.clear();
    this.sliceBytes = 0;
  }

  private remember(write: ItemWrite): void {
    const id = itemId(write.table, write.key);
    const cacheId = `${this.partition.group}\u0000${id}`;
    const cached = this.cache.item(cacheId);
    const expected = write.expectedVersion;
    // A blind write's resulting version is unknown here: forget it rather than guess.
    if (expected === undefined || (write.change.op === 'add' && cached?.version !== expected)) {
      this.cache.dropItem(cacheId);
      this.reads.delete(id);
      return;
    }
    const version = expected + 1;
    const { change } = write;
    const item: StoredItem =
      change.op === 'put'
        ? { value: change.value, version, exists: true }
        : change.op === 'delete'
          ? { value: undefined, version, exists: false }
          : {
              value: numberIn(cached!, write.table, write.key) + change.delta,
              version,
              exists: true,
            };
    this.cache.setItem(cacheId, item);
    this.reads.set(id, version);
  }

  private forget(writes: readonly ItemWrite[], error: unknown): void {
    const conflict = error instanceof StateConflictError ? error : undefined;
    if (!conflict || conflict.checkpoint) this.cache.dropCheckpoint(checkpointId(this.partition));
    const touched = conflict && !conflict.checkpoint ? conflict.items : writes;
    for (const { table, key } of touched) {
      this.cache.dropItem(`${this.partition.group}\u0000${itemId(table, key)}`);
    }
    for (const id of this.reads.keys()) this.cache.dropItem(`${this.partition.group}\u0000${id}`);
  }
}

function checkpointId(p: PartitionRef): string {
  return `${p.group}\u0000${p.topic}\u0000${p.partition}`;
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

/** Roughly what DynamoDB will count: names, the JSON value, and the keys and version. */
function estimateBytes({ table, key, change }: Pending): number {
  const value = change.op === 'put' ? Buffer.byteLength(JSON.stringify(change.value)) : 8;
  return Buffer.byteLength(table) + Buffer.byteLength(key) + value + 64;
}
