import type { Checkpoint, StoredItem } from './types.ts';

export interface StateCacheOptions {
  /** Items kept; the least recently used go first. @default 100000 */
  maxItems?: number;
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
}

/**
 * What a process remembers between invocations: items and checkpoints as last read or written.
 * A stale entry is harmless to writes, because every commit is conditioned on the versions it
 * read; reads that no write checks are kept fresh by `maxReadAgeMs`.
 */
export class StateCache {
  private readonly items = new Map<string, Cached>();
  private readonly checkpoints = new Map<string, Checkpoint>();
  readonly maxItems: number;
  readonly maxReadAgeMs: number;
  private readonly now: () => number;

  constructor(options: StateCacheOptions = {}) {
    this.maxItems = options.maxItems ?? 100_000;
    this.maxReadAgeMs = options.maxReadAgeMs ?? 1000;
    this.now = options.now ?? Date.now;
  }

  item(id: string): StoredItem | undefined {
    const cached = this.items.get(id);
    if (!cached) return undefined;
    if (cached.readAt !== undefined && this.now() - cached.readAt > this.maxReadAgeMs) {
      this.items.delete(id);
      return undefined;
    }
    // Map keeps insertion order: moving the entry to the end makes the first the least used.
    this.items.delete(id);
    this.items.set(id, cached);
    return cached.item;
  }

  /** An item as read from the store. */
  setRead(id: string, item: StoredItem): void {
    this.set(id, { item, readAt: this.now() });
  }

  /** An item as this process's own commit left it. */
  setWritten(id: string, item: StoredItem): void {
    this.set(id, { item, readAt: undefined });
  }

  private set(id: string, cached: Cached): void {
    this.items.delete(id);
    this.items.set(id, cached);
    if (this.items.size > this.maxItems) {
      this.items.delete(this.items.keys().next().value as string);
    }
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
