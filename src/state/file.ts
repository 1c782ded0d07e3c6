import { appendFile, mkdir, readFile, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { StateError } from './errors.ts';
import { type AppliedCommit, MemoryStateStore } from './memory.ts';
import type { CommitLimits, OnceClaim, OnceKey, OnceLease, PartitionRef } from './types.ts';
import { DYNAMODB_LIMITS } from './types.ts';

/**
 * The embedded store for local runs: each consumer group is an append-only log of applied
 * commits under `dir` (`<group>.jsonl`), replayed into memory when first used. One commit is one
 * line written by one `write`, so a crash leaves at most a torn last line, which replay ignores:
 * a commit is on disk whole or not at all. `ctx.once` claims and results are lines of the same
 * log, so a later run does not repeat an effect either.
 */
export class FileStateStore extends MemoryStateStore {
  private readonly loaded = new Map<string, Promise<void>>();

  constructor(
    readonly dir: string,
    limits: CommitLimits = DYNAMODB_LIMITS,
  ) {
    super(limits);
  }

  private file(group: string): string {
    if (!/^[\w.-]+$/.test(group)) {
      throw new StateError(
        `Consumer group '${group}' cannot name a file; use letters, digits, '.', '_' or '-'`,
      );
    }
    return join(this.dir, `${group}.jsonl`);
  }

  protected override load(group: string): Promise<void> {
    let loading = this.loaded.get(group);
    if (!loading) {
      loading = this.replay(group);
      this.loaded.set(group, loading);
    }
    return loading;
  }

  private async replay(group: string): Promise<void> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.file(group));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    // A commit is on disk once its newline is. Anything after the last newline is a torn write:
    // cut it off, or the next commit would be appended to it and lost on the next replay.
    const end = bytes.lastIndexOf(0x0a) + 1;
    if (end < bytes.length) await truncate(this.file(group), end);
    for (const line of bytes.subarray(0, end).toString('utf8').split('\n')) {
      if (line === '') continue;
      let entry: AppliedCommit | OnceLine;
      try {
        entry = JSON.parse(line) as AppliedCommit | OnceLine;
      } catch {
        continue; // an unreadable line (never written whole): that commit never happened
      }
      if (!('once' in entry)) this.apply(entry);
      else if (entry.once === 'claim')
        await super.claimOnce(entry.key, entry.expiresAt, entry.lease ?? NO_LEASE);
      else if (entry.once === 'complete')
        await super.completeOnce(entry.key, entry.result, entry.expiresAt);
      else await super.releaseOnce(entry.key);
    }
  }

  override async readCheckpoint(ref: PartitionRef) {
    await this.load(ref.group);
    return super.readCheckpoint(ref);
  }

  override async readItem(group: string, table: string, key: string) {
    await this.load(group);
    return super.readItem(group, table, key);
  }

  protected override async persist(applied: AppliedCommit): Promise<void> {
    // JSON drops `undefined`, so a deleted item's value is simply absent in the log.
    await this.append(applied.group, applied);
  }

  private async append(group: string, entry: AppliedCommit | OnceLine): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await appendFile(this.file(group), `${JSON.stringify(entry)}\n`);
  }

  override async claimOnce(key: OnceKey, expiresAt: number, lease: OnceLease): Promise<OnceClaim> {
    await this.load(key.group);
    const claim = await super.claimOnce(key, expiresAt, lease);
    if (claim.claimed) await this.append(key.group, { once: 'claim', key, expiresAt, lease });
    return claim;
  }

  override async completeOnce(key: OnceKey, result: unknown, expiresAt: number): Promise<void> {
    await this.load(key.group);
    await this.append(key.group, { once: 'complete', key, result, expiresAt });
    await super.completeOnce(key, result, expiresAt);
  }

  override async releaseOnce(key: OnceKey): Promise<void> {
    await this.load(key.group);
    await this.append(key.group, { once: 'release', key });
    await super.releaseOnce(key);
  }

  override async scanTable(group: string, table: string) {
    await this.load(group);
    return super.scanTable(group, table);
  }

  override async scanCheckpoints(group: string) {
    await this.load(group);
    return super.scanCheckpoints(group);
  }

  override async reset(group: string): Promise<void> {
    await rm(this.file(group), { force: true });
    this.loaded.set(group, Promise.resolve());
    await super.reset(group);
  }
}

/** A log line that is not a commit: what happened to one `ctx.once` effect. */
type OnceLine =
  | { once: 'claim'; key: OnceKey; expiresAt: number; lease?: OnceLease }
  | { once: 'complete'; key: OnceKey; result: unknown; expiresAt: number }
  | { once: 'release'; key: OnceKey };

/** The lease of a claim logged before leases existed: over, so the claim is interrupted. */
const NO_LEASE: OnceLease = { startedAt: 0, leaseUntil: 0 };
