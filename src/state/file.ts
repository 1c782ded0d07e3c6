import { randomBytes } from 'node:crypto';
import { close, fstat, open as openFd, read, readlinkSync } from 'node:fs';
import {
  appendFile,
  link,
  mkdir,
  open,
  rm,
  stat,
  truncate,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { StateError } from './errors.ts';
import { type AppliedCommit, MemoryStateStore } from './memory.ts';
import type {
  CommitLimits,
  ItemRef,
  OnceClaim,
  OnceKey,
  OnceLease,
  PartitionRef,
} from './types.ts';
import { DYNAMODB_LIMITS } from './types.ts';

export interface FileStateStoreOptions {
  /** How long a commit waits for another process's lock before it fails. @default 40_000 */
  readonly lockWaitMs?: number;
  /**
   * How old a lock must be to count as abandoned whoever holds it; a lock of a dead process on
   * this host is broken at once. @default 30_000
   */
  readonly staleLockMs?: number;
}

/**
 * The embedded store for local runs: each consumer group is an append-only log of applied
 * commits under `dir` (`<group>.jsonl`). One commit is one line written by one `write`, so a
 * crash leaves at most a torn last line, which replay ignores: a commit is on disk whole or not
 * at all. `ctx.once` claims and results are lines of the same log, so a later run does not
 * repeat an effect either.
 *
 * Several processes may share the folder (two `dogear invoke` runs, `dogear dev` processes in
 * one group). Each keeps the log in memory and reads the lines others appended before every
 * read and every commit. A commit holds `<group>.lock` while it reads the last lines, checks its
 * versions, appends and applies, so it is checked against every commit before it: the versions
 * in the log fence a stale writer as DynamoDB's conditions do, and its slice reruns.
 */
export class FileStateStore extends MemoryStateStore {
  /** Per group: the log file as far as this process has read it. */
  private readonly logs = new Map<string, Log>();
  /** Per group: reads of the log and locked steps, one at a time within this process. */
  private readonly turns = new Map<string, Promise<unknown>>();
  private readonly lockWaitMs: number;
  private readonly staleLockMs: number;

  constructor(
    readonly dir: string,
    limits: CommitLimits = DYNAMODB_LIMITS,
    options: FileStateStoreOptions = {},
  ) {
    super(limits);
    this.lockWaitMs = options.lockWaitMs ?? 40_000;
    this.staleLockMs = options.staleLockMs ?? 30_000;
    // A log stays open so its inode cannot be reused while this store remembers it.
    openLogs.register(this, this.logs);
  }

  private file(group: string, suffix = '.jsonl'): string {
    if (!/^[\w.-]+$/.test(group)) {
      throw new StateError(
        `Consumer group '${group}' cannot name a file; use letters, digits, '.', '_' or '-'`,
      );
    }
    return join(this.dir, `${group}${suffix}`);
  }

  private turn<T>(group: string, step: () => Promise<T>): Promise<T> {
    const next = (this.turns.get(group) ?? Promise.resolve()).catch(() => {}).then(step);
    this.turns.set(group, next);
    return next;
  }

  /** Catches up on the log: what other processes appended since this one last read it. */
  protected override load(group: string): Promise<void> {
    return this.turn(group, () => this.readTail(group));
  }

  private async readTail(group: string): Promise<void> {
    const path = this.file(group);
    let log = this.logs.get(group);
    const found = await stat(path).catch(absent);
    if (
      log &&
      (!found || found.ino !== log.ino || found.dev !== log.dev || found.size < log.read)
    ) {
      // Another process reset the group: what this one remembers is gone.
      this.logs.delete(group);
      closeFd(log.fd);
      await super.reset(group);
      log = undefined;
    }
    if (!found) return;
    if (!log) {
      const fd = await openLog(path);
      if (fd === undefined) return;
      const opened = await fstatFd(fd);
      log = { fd, ino: opened.ino, dev: opened.dev, read: 0, size: opened.size };
      this.logs.set(group, log);
    } else log.size = found.size;
    if (log.size <= log.read) return;
    const bytes = Buffer.alloc(log.size - log.read);
    let filled = 0;
    while (filled < bytes.length) {
      const { bytesRead } = await readFd(
        log.fd,
        bytes,
        filled,
        bytes.length - filled,
        log.read + filled,
      );
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    // A commit is on disk once its newline is: bytes after the last one are a write in progress,
    // or a torn one, and not a commit yet.
    const end = bytes.subarray(0, filled).lastIndexOf(0x0a) + 1;
    log.read += end;
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

  /**
   * Runs `step` holding the group's lock, on the log caught up to its last line: a check made
   * in `step` is a check against every commit of every process.
   */
  private locked<T>(group: string, step: () => Promise<T>): Promise<T> {
    return this.turn(group, async () => {
      // The bulk of what others wrote is read before taking the lock, to hold it briefly.
      await this.readTail(group);
      const lock = await this.lock(group);
      try {
        await this.readTail(group);
        const log = this.logs.get(group);
        // Only a lock holder may cut a torn tail: without the lock it may be a write in progress.
        if (log && log.size > log.read) {
          await truncate(this.file(group), log.read);
          log.size = log.read;
        }
        this.held.set(group, lock);
        return await step();
      } finally {
        this.held.delete(group);
        await this.unlock(lock);
      }
    });
  }

  protected override exclusive(group: string, step: () => Promise<void>): Promise<void> {
    return this.locked(group, step);
  }

  override async readCheckpoint(ref: PartitionRef) {
    await this.load(ref.group);
    return super.readCheckpoint(ref);
  }

  override async readItem(group: string, table: string, key: string) {
    await this.load(group);
    return super.readItem(group, table, key);
  }

  override async readItems(group: string, refs: readonly ItemRef[]) {
    await this.load(group);
    return super.readItems(group, refs);
  }

  protected override async persist(applied: AppliedCommit): Promise<void> {
    // JSON drops `undefined`, so a deleted item's value is simply absent in the log.
    await this.append(applied.group, applied);
  }

  private readonly held = new Map<string, Lock>();

  /** Appends one line; only within `locked`, on a log read to its end. */
  private async append(group: string, entry: AppliedCommit | OnceLine): Promise<void> {
    const lock = this.held.get(group);
    if (!lock) throw new StateError(`Internal: append to ${group} without its lock`);
    await this.stillHeld(lock);
    const path = this.file(group);
    const line = Buffer.from(`${JSON.stringify(entry)}\n`);
    await appendFile(path, line);
    let log = this.logs.get(group);
    if (!log) {
      // The first line of a new log: this process created the file, holding the lock.
      const fd = await openLog(path);
      if (fd === undefined) throw new StateError(`${path} vanished while locked`);
      const { ino, dev } = await fstatFd(fd);
      log = { fd, ino, dev, read: 0, size: 0 };
      this.logs.set(group, log);
    }
    log.read += line.length;
    log.size = log.read;
  }

  override async claimOnce(key: OnceKey, expiresAt: number, lease: OnceLease): Promise<OnceClaim> {
    return this.locked(key.group, async () => {
      const claim = await super.claimOnce(key, expiresAt, lease);
      if (claim.claimed) await this.append(key.group, { once: 'claim', key, expiresAt, lease });
      return claim;
    });
  }

  override async completeOnce(key: OnceKey, result: unknown, expiresAt: number): Promise<void> {
    await this.locked(key.group, async () => {
      await this.append(key.group, { once: 'complete', key, result, expiresAt });
      await super.completeOnce(key, result, expiresAt);
    });
  }

  override async releaseOnce(key: OnceKey): Promise<void> {
    await this.locked(key.group, async () => {
      await this.append(key.group, { once: 'release', key });
      await super.releaseOnce(key);
    });
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
    await this.locked(group, async () => {
      await rm(this.file(group), { force: true });
      const log = this.logs.get(group);
      if (log) closeFd(log.fd);
      this.logs.delete(group);
      await super.reset(group);
    });
  }

  /**
   * Takes `<group>.lock`. It is made whole under another name and linked into place, since a
   * link, like `open(…, 'wx')`, fails if the name exists, and a lock is then never seen empty.
   */
  private async lock(group: string): Promise<Lock> {
    const path = this.file(group, '.lock');
    const token = randomBytes(8).toString('hex');
    const draft = `${path}.${token}`;
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      const content = JSON.stringify({
        pid: process.pid,
        host: HOST,
        ns: namespace(),
        token,
        at: Date.now(),
      });
      try {
        await writeFile(draft, content);
      } catch (error) {
        if (code(error) !== 'ENOENT') throw error;
        await mkdir(this.dir, { recursive: true });
        await writeFile(draft, content);
      }
      try {
        await link(draft, path);
        return { path, token, since: Date.now() };
      } catch (error) {
        if (code(error) !== 'EEXIST') throw error;
      } finally {
        await unlink(draft).catch(() => {});
      }
      const holder = await readLock(path);
      if (!holder) continue; // let go just now
      if (this.abandoned(holder)) {
        if (await this.breakLock(path, holder)) continue;
      } else if (Date.now() - started >= this.lockWaitMs) {
        const { pid, host } = holder.info;
        throw new StateError(
          `State folder lock ${path} is held by pid ${pid ?? '?'} on ${host ?? '?'} (taken ${new Date(holder.mtimeMs).toISOString()}); waited ${Date.now() - started} ms. Another dogear process is committing to group '${group}' and seems stuck; stop it, or delete the lock file if no such process runs`,
        );
      }
      await sleep(Math.min(50, 2 ** attempt) * (0.5 + Math.random()));
    }
  }

  /** A lock whose process is dead (it can only tell on this host), or far too old. */
  private abandoned(holder: Holder): boolean {
    if (Date.now() - holder.mtimeMs > this.staleLockMs) return true;
    const { pid, host, ns } = holder.info;
    // A lock made by hand names no namespace; the host must do.
    const here = host === HOST && (ns === undefined || ns === namespace());
    return here && typeof pid === 'number' && !alive(pid);
  }

  /**
   * Removes an abandoned lock so that, of several processes breaking it at once, one does and
   * none removes the lock another then took: each first links the lock to a name made from its
   * token, which only one link can take, and removes the lock only if that name holds the very
   * lock it judged abandoned. True when taking the lock is worth another try at once.
   */
  private async breakLock(path: string, holder: Holder): Promise<boolean> {
    const claim = `${path}.break-${identity(holder)}`;
    try {
      await link(path, claim);
    } catch (error) {
      if (code(error) === 'ENOENT') return true;
      if (code(error) !== 'EEXIST') throw error;
      // Another process is breaking it; if that one died in the middle, its claim grows old.
      const taken = await stat(claim).catch(absent);
      if (taken && Date.now() - taken.ctimeMs > this.staleLockMs)
        await unlink(claim).catch(() => {});
      return false;
    }
    try {
      const claimed = await readLock(claim);
      if (claimed && identity(claimed) === identity(holder)) await unlink(path).catch(() => {});
    } finally {
      await unlink(claim).catch(() => {});
    }
    return true;
  }

  /**
   * A lock held longer than half the stale age may have been broken by another process: then
   * this one must not write, nor remove the other's lock.
   */
  private async stillHeld(lock: Lock): Promise<void> {
    if (Date.now() - lock.since < this.staleLockMs / 2) return;
    const holder = await readLock(lock.path);
    if (holder?.info.token === lock.token) return;
    throw new StateError(
      `Held ${lock.path} for ${Date.now() - lock.since} ms, and another process took it over as abandoned; nothing was written`,
    );
  }

  private async unlock(lock: Lock): Promise<void> {
    try {
      await this.stillHeld(lock);
    } catch {
      return; // the lock is another process's now
    }
    await unlink(lock.path).catch(() => {});
  }
}

/** A log line that is not a commit: what happened to one `ctx.once` effect. */
type OnceLine =
  | { once: 'claim'; key: OnceKey; expiresAt: number; lease?: OnceLease }
  | { once: 'complete'; key: OnceKey; result: unknown; expiresAt: number }
  | { once: 'release'; key: OnceKey };

/** The lease of a claim logged before leases existed: over, so the claim is interrupted. */
const NO_LEASE: OnceLease = { startedAt: 0, leaseUntil: 0 };

interface Log {
  readonly fd: number;
  readonly ino: number;
  readonly dev: number;
  /** Bytes replayed: up to the last newline seen. */
  read: number;
  /** The file's size when last looked at; more than `read` while a line is unfinished. */
  size: number;
}

interface Lock {
  readonly path: string;
  readonly token: string;
  readonly since: number;
}

interface Holder {
  readonly info: { pid?: number; host?: string; ns?: string; token?: string };
  readonly ino: number;
  readonly mtimeMs: number;
}

const HOST = hostname();
/**
 * The pid namespace: containers may share a host name and a folder but not their pids, so a pid
 * is only checked where it names the same process.
 */
let pidNamespace: string | null | undefined;
function namespace(): string | undefined {
  if (pidNamespace === undefined) {
    try {
      pidNamespace = readlinkSync('/proc/self/ns/pid');
    } catch {
      pidNamespace = null; // not Linux
    }
  }
  return pidNamespace ?? undefined;
}

const openLogs = new FinalizationRegistry<Map<string, Log>>((logs) => {
  for (const log of logs.values()) closeFd(log.fd);
});

const openFdAsync = promisify(openFd);
const fstatFd = promisify(fstat);
const readFd = promisify(read);
const closeFd = (fd: number) => close(fd, () => {});

async function openLog(path: string): Promise<number | undefined> {
  try {
    return await openFdAsync(path, 'r');
  } catch (error) {
    if (code(error) === 'ENOENT') return undefined;
    throw error;
  }
}

async function readLock(path: string): Promise<Holder | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if (code(error) === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const { ino, mtimeMs } = await handle.stat();
    let info: Holder['info'] = {};
    try {
      info = JSON.parse(await handle.readFile('utf8')) as Holder['info'];
    } catch {}
    return { info, ino, mtimeMs };
  } finally {
    await handle.close();
  }
}

/** What tells one lock from the next: its token, or for a lock made by hand its inode and age. */
function identity(holder: Holder): string {
  return typeof holder.info.token === 'string' && /^\w+$/.test(holder.info.token)
    ? holder.info.token
    : `${holder.ino}-${Math.round(holder.mtimeMs)}`;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return code(error) === 'EPERM'; // someone else's process, but alive
  }
}

function absent(error: unknown): undefined {
  if (code(error) === 'ENOENT') return undefined;
  throw error;
}

function code(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
