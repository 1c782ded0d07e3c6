import type { Checkpoint, StoredItem } from './types.ts';

export interface StateCacheOptions {
  /**
   * Estimated bytes of items kept (see `cachedBytes`); the least recently used go first, and an
   * item larger than the whole budget is not kept. @default `cacheBudget` of
   * `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`: a quarter of the function's memory
   */
  maxBytes?: number;
  /**
   * How long an item this process read, and did not write itself, may be served from the cache
   * (ms). Such an item may belong to another partition, whose writes this process does not see;
   * an item this process wrote is checked by the version condition of its next write instead.
   * @default 1000
   */
  maxReadAgeMs?: number;
  /** The clock, for tests. @default Date.now */
  now?: () => number;
}

interface Cached {
  readonly item: StoredItem;
  /** When it was read from the store; undefined once this process wrote it. */
  readonly readAt: number | undefined;
  /** `cachedBytes` of the entry, measured once when it was set. */
  readonly bytes: number;
}

/** Memory assumed when `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` is absent (a local run), in MiB. */
const DEFAULT_MEMORY_MIB = 1024;

/**
 * The share of the function's memory the cache may hold. The rest is the Node runtime itself
 * (tens of MiB), the batch (up to 6 MB of base64 event, decoded and parsed), the handler's own
 * objects, the transaction's buffer and the headroom V8's collector needs; and `cachedBytes`
 * is an estimate, which can fall short of the heap an entry really takes.
 */
const MEMORY_FRACTION = 1 / 4;

/**
 * What an entry costs besides its id and its value: the map slot, the entry and item objects,
 * the version, and the headers of the id and of the value. Measured on Node 20 (x64): 100,000
 * counters in a map took 197 bytes each with a 29-character id and 6 characters of JSON.
 */
const ENTRY_BYTES = 200;

/**
 * The cache's byte budget for a function with `memoryMiB` of memory (the text of
 * `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, which Lambda sets to the function's memory in MB): a
 * quarter of it, or of 1024 MiB when it is absent or not a positive number.
 */
export function cacheBudget(memoryMiB: string | undefined): number {
  const parsed = Number(memoryMiB);
  const mib = memoryMiB && Number.isFinite(parsed) && parsed > 0 ? parsed : DEFAULT_MEMORY_MIB;
  return Math.floor(mib * 1024 * 1024 * MEMORY_FRACTION);
}

/**
 * About the heap an entry for `item` under `id` takes: twice its JSON and id (a string may take
 * two bytes a character; objects and arrays take more than their JSON, numbers and long
 * one-byte strings less), plus `ENTRY_BYTES`. JSON.stringify, not the write check's walk: the
 * stores hand back values that are JSON already, and the native walk is the cheaper one.
 */
export function cachedBytes(id: string, item: StoredItem): number {
  const json = item.value === undefined ? 0 : (JSON.stringify(item.value)?.length ?? 0);
  return ENTRY_BYTES + 2 * (id.length + json + (item.exact?.length ?? 0));
}

/**
 * What a process remembers between invocations: items and checkpoints as last read or written.
 * A stale entry is harmless to writes, because every commit is conditioned on the versions it
 * read; reads that no write checks are kept fresh by `maxReadAgeMs`.
 */
export class StateCache {
  private readonly items = new Map<string, Cached>();
  private readonly checkpoints = new Map<string, Checkpoint>();
  readonly maxBytes: number;
  readonly maxReadAgeMs: number;
  private readonly now: () => number;
  private bytes_ = 0;

  constructor(options: StateCacheOptions = {}) {
    const maxBytes = options.maxBytes ?? cacheBudget(process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE);
    if (typeof maxBytes !== 'number' || !(maxBytes >= 0)) {
      throw new RangeError(
        `StateCache maxBytes must be a number of bytes, 0 or more (got ${String(maxBytes)}); leave it out for a quarter of the function's memory`,
      );
    }
    this.maxBytes = maxBytes;
    this.maxReadAgeMs = options.maxReadAgeMs ?? 1000;
    this.now = options.now ?? Date.now;
  }

  item(id: string): StoredItem | undefined {
    const cached = this.items.get(id);
    if (!cached) return undefined;
    if (cached.readAt !== undefined && !this.isFresh(cached.readAt)) {
      this.dropItem(id);
      return undefined;
    }
    // Map keeps insertion order: moving the entry to the end makes the first the least used.
    this.items.delete(id);
    this.items.set(id, cached);
    return cached.item;
  }

  /** The cache's clock (ms): when a read is made, for `isFresh`. */
  clock(): number {
    return this.now();
  }

  /** Whether a read made at `readAt` may still be served: it is at most `maxReadAgeMs` old. */
  isFresh(readAt: number): boolean {
    return this.now() - readAt <= this.maxReadAgeMs;
  }

  /** Estimated bytes of the items kept now; never more than `maxBytes`. */
  get bytes(): number {
    return this.bytes_;
  }

  /** An item as read from the store, at `readAt` (now, unless it was read ahead earlier). */
  setRead(id: string, item: StoredItem, readAt = this.now()): void {
    this.set(id, item, readAt);
  }

  /** An item as this process's own commit left it. */
  setWritten(id: string, item: StoredItem): void {
    this.set(id, item, undefined);
  }

  private set(id: string, item: StoredItem, readAt: number | undefined): void {
    // An item's version only grows: a read that answers after this process wrote a newer
    // version (another partition's commit, while the read was in flight) is older news.
    const held = this.items.get(id);
    if (held && held.item.version > item.version) return;
    // The older copy goes even when the new one is not kept: it is no longer the item.
    this.dropItem(id);
    const bytes = cachedBytes(id, item);
    // Too large to keep: the next read goes to the store, which is only slower.
    if (bytes > this.maxBytes) return;
    this.items.set(id, { item, readAt, bytes });
    this.bytes_ += bytes;
    // Checked before iterating: under budget, a set starts no iterator.
    if (this.bytes_ > this.maxBytes) this.evict();
  }

  /** Drops the least recently used items until the rest fit `maxBytes`. */
  private evict(): void {
    for (const [oldest, cached] of this.items) {
      if (this.bytes_ <= this.maxBytes) break;
      this.items.delete(oldest);
      this.bytes_ -= cached.bytes;
    }
  }

  dropItem(id: string): void {
    const cached = this.items.get(id);
    if (!cached) return;
    this.items.delete(id);
    this.bytes_ -= cached.bytes;
  }
  /**
   * Forgets every item of `group`: when a partition's checkpoint had to be read from the store,
   * another invocation may have committed that partition's records, and any item this process
   * holds of the group may be one they changed.
   */
  dropGroupItems(group: string): void {
    const prefix = `${group}\u0000`;
    for (const [id, cached] of this.items) {
      if (!id.startsWith(prefix)) continue;
      this.items.delete(id);
      this.bytes_ -= cached.bytes;
    }
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
    this.bytes_ = 0;
    this.checkpoints.clear();
  }
}
