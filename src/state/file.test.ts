import { spawnSync } from 'node:child_process';
import { appendFile, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { StateCache } from './cache.ts';
import { StateConflictError, StateError } from './errors.ts';
import { FileStateStore } from './file.ts';
import { StateTransaction } from './transaction.ts';
import type { PartitionRef } from './types.ts';

const p0: PartitionRef = { group: 'counter', topic: 'words', partition: 0 };
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dogear-file-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs one slice: each entry of `records` is one record's writes, committed at `offset`. */
async function slice(
  store: FileStateStore,
  offset: number,
  write: (txn: StateTransaction) => Promise<void> | void,
  partition = p0,
) {
  const txn = await StateTransaction.open(store, new StateCache(), partition);
  txn.beginRecord(offset);
  await write(txn);
  txn.endRecord();
  await txn.commit();
}

async function snapshot(store: FileStateStore, group = p0.group) {
  return {
    counts: Object.fromEntries(await store.scanTable(group, 'counts')),
    checkpoints: await store.scanCheckpoints(group),
    item: await store.readItem(group, 'counts', 'a'),
  };
}

test('a new instance on the same folder replays every commit, versions included', async () => {
  const first = new FileStateStore(dir);
  await slice(first, 0, (t) => {
    t.put('counts', 'a', 1);
    t.put('counts', 'b', 2);
  });
  await slice(first, 3, async (t) => {
    t.put('counts', 'a', ((await t.get('counts', 'a')) as number) + 10);
    t.delete('counts', 'b');
    t.add('counts', 'c', 5);
  });
  await slice(first, 9, (t) => t.add('counts', 'x', 1), { ...p0, partition: 1 });
  const before = await snapshot(first);
  expect(before.counts).toEqual({ a: 11, c: 5, x: 1 });

  const second = new FileStateStore(dir);
  expect(await snapshot(second)).toEqual(before);
  expect(await second.readCheckpoint(p0)).toMatchObject({ offset: 3, version: 2 });
  // The replayed versions fence as the originals would: a commit from the old checkpoint fails.
  await expect(
    second.commit({ partition: p0, checkpoint: { expectedVersion: 1, offset: 4 }, writes: [] }),
  ).rejects.toThrow(/moved/);
  await slice(second, 4, (t) => t.add('counts', 'a', 1));
  expect(Object.fromEntries(await new FileStateStore(dir).scanTable('counter', 'counts'))).toEqual({
    a: 12,
    c: 5,
    x: 1,
  });
});

test('a torn last line (a crash mid-write) is ignored, and later commits survive it', async () => {
  const first = new FileStateStore(dir);
  await slice(first, 0, (t) => t.put('counts', 'a', 1));
  const before = await snapshot(first);
  const log = join(dir, 'counter.jsonl');
  const whole = await readFile(log, 'utf8');
  // Half of a commit line, as a process killed in the middle of its write leaves it.
  await appendFile(log, whole.slice(0, Math.floor(whole.length / 2)).replace('"a"', '"torn"'));

  const reopened = new FileStateStore(dir);
  expect(await snapshot(reopened)).toEqual(before);
  await slice(reopened, 1, (t) => t.put('counts', 'after', 2));
  // The commit after the crash must not be glued to the torn half and lost on the next replay.
  const third = new FileStateStore(dir);
  expect(Object.fromEntries(await third.scanTable('counter', 'counts'))).toEqual({
    a: 1,
    after: 2,
  });
  expect(await third.readCheckpoint(p0)).toMatchObject({ offset: 1, version: 2 });
});

test('reset forgets a group, on disk too, and leaves other groups alone', async () => {
  const store = new FileStateStore(dir);
  await slice(store, 7, (t) => t.put('counts', 'a', 1));
  await slice(store, 2, (t) => t.put('counts', 'a', 'other'), { ...p0, group: 'other' });
  await store.reset('counter');
  expect(await snapshot(store)).toEqual({
    counts: {},
    checkpoints: [],
    item: { value: undefined, version: 0, exists: false },
  });
  const reopened = new FileStateStore(dir);
  expect((await snapshot(reopened)).checkpoints).toEqual([]);
  expect(Object.fromEntries(await reopened.scanTable('other', 'counts'))).toEqual({ a: 'other' });
  // Processing starts again from the beginning after a reset.
  await slice(reopened, 0, (t) => t.add('counts', 'a', 1));
  expect(Object.fromEntries(await reopened.scanTable('counter', 'counts'))).toEqual({ a: 1 });
});

test('a group name that cannot be a file name is refused with a clear error', async () => {
  const store = new FileStateStore(dir);
  await expect(store.readCheckpoint({ ...p0, group: '../escape' })).rejects.toThrow(StateError);
});

test('ctx.once claims and results survive a new instance, so a rerun does not repeat an effect', async () => {
  const at = { ...p0, offset: 4 };
  const expires = Date.now() + 60_000;
  // Each claim's invocation is over: an unfinished one is interrupted, not running.
  const lease = { startedAt: Date.now() - 2000, leaseUntil: Date.now() - 1000 };
  const first = new FileStateStore(dir);
  expect(await first.claimOnce({ ...at, name: 'email' }, expires, lease)).toEqual({
    claimed: true,
  });
  await first.completeOnce({ ...at, name: 'email' }, { id: 'm-1' }, expires);
  expect(await first.claimOnce({ ...at, name: 'charge' }, expires, lease)).toEqual({
    claimed: true,
  });
  expect(await first.claimOnce({ ...at, name: 'retry' }, expires, lease)).toEqual({
    claimed: true,
  });
  await first.releaseOnce({ ...at, name: 'retry' }); // its effect threw: it may run again
  await slice(first, 4, (t) => t.put('counts', 'a', 1)); // commits share the log

  const second = new FileStateStore(dir);
  expect(await second.claimOnce({ ...at, name: 'email' }, expires, lease)).toEqual({
    claimed: false,
    done: true,
    result: { id: 'm-1' },
  });
  // Started and never finished (the process died in it): not run again blindly.
  expect(await second.claimOnce({ ...at, name: 'charge' }, expires, lease)).toEqual({
    claimed: false,
    done: false,
    status: 'interrupted',
    ...lease,
  });
  expect(await second.claimOnce({ ...at, name: 'retry' }, expires, lease)).toEqual({
    claimed: true,
  });
  expect(Object.fromEntries(await second.scanTable('counter', 'counts'))).toEqual({ a: 1 });

  await second.reset('counter');
  const third = new FileStateStore(dir);
  expect(await third.claimOnce({ ...at, name: 'email' }, expires, lease)).toEqual({
    claimed: true,
  });
});

test('a ctx.once lease survives a new instance: a claim still inside its lease is running', async () => {
  const key = { ...p0, offset: 5, name: 'publish' };
  const expires = Date.now() + 60_000;
  const lease = { startedAt: Date.now(), leaseUntil: Date.now() + 30_000 };
  expect(await new FileStateStore(dir).claimOnce(key, expires, lease)).toEqual({ claimed: true });
  const later = { startedAt: Date.now(), leaseUntil: Date.now() + 60_000 };
  expect(await new FileStateStore(dir).claimOnce(key, expires, later)).toEqual({
    claimed: false,
    done: false,
    status: 'running',
    ...lease,
  });
});

describe('several processes on one folder (two instances here stand for two processes)', () => {
  test('a commit from a stale checkpoint conflicts, and the rerun lands on top of the other', async () => {
    const a = new FileStateStore(dir);
    const b = new FileStateStore(dir);
    const stale = await StateTransaction.open(b, new StateCache(), p0);
    stale.beginRecord(0);
    stale.add('counts', 'a', 1);
    stale.endRecord();
    await slice(a, 0, (t) => t.add('counts', 'a', 1));
    // b opened at version 0; a moved the checkpoint to 1: fenced, as DynamoDB would fence it.
    const conflict = await stale.commit().catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(StateConflictError);
    expect((conflict as StateConflictError).checkpoint).toBe(true);
    await slice(b, 1, (t) => t.add('counts', 'a', 1));
    for (const store of [a, b, new FileStateStore(dir)]) {
      expect(await store.readItem('counter', 'counts', 'a')).toEqual({
        value: 2,
        version: 2,
        exists: true,
      });
      expect(await store.readCheckpoint(p0)).toMatchObject({ offset: 1, version: 2 });
    }
  });

  test('adds from two instances to one key on different partitions both count', async () => {
    const a = new FileStateStore(dir);
    const b = new FileStateStore(dir);
    for (let offset = 0; offset < 20; offset++) {
      await Promise.all([
        slice(a, offset, (t) => t.add('counts', 'the', 1)),
        slice(b, offset, (t) => t.add('counts', 'the', 2), { ...p0, partition: 1 }),
      ]);
    }
    for (const store of [a, b, new FileStateStore(dir)]) {
      expect(await store.scanTable('counter', 'counts')).toEqual(new Map([['the', 60]]));
    }
  });

  test('a read-then-write of an item the other instance changed conflicts on that item', async () => {
    const a = new FileStateStore(dir);
    const b = new FileStateStore(dir);
    await slice(a, 0, (t) => t.put('counts', 'a', 1));
    const txn = await StateTransaction.open(b, new StateCache(), { ...p0, partition: 1 });
    txn.beginRecord(0);
    txn.put('counts', 'a', ((await txn.get('counts', 'a')) as number) + 1);
    txn.endRecord();
    await slice(a, 1, (t) => t.put('counts', 'a', 10));
    const conflict = (await txn.commit().catch((e: unknown) => e)) as StateConflictError;
    expect(conflict).toBeInstanceOf(StateConflictError);
    expect(conflict).toMatchObject({ checkpoint: false, items: [{ table: 'counts', key: 'a' }] });
    expect(await b.readItem('counter', 'counts', 'a')).toMatchObject({ value: 10, version: 2 });
  });

  test('every read sees what the other instance committed since', async () => {
    const a = new FileStateStore(dir);
    const b = new FileStateStore(dir);
    expect(await snapshot(b)).toEqual({
      counts: {},
      checkpoints: [],
      item: { value: undefined, version: 0, exists: false },
    });
    await slice(a, 0, (t) => t.put('counts', 'a', 1));
    expect(await snapshot(b)).toEqual(await snapshot(a));
    await slice(a, 5, (t) => t.add('counts', 'b', 3), { ...p0, partition: 1 });
    expect(await b.readCheckpoint({ ...p0, partition: 1 })).toMatchObject({
      offset: 5,
      version: 1,
    });
    expect(await snapshot(b)).toEqual(await snapshot(a));
    expect((await snapshot(b)).counts).toEqual({ a: 1, b: 3 });
  });

  test('a line still being written is not a commit yet, and a reader leaves it alone', async () => {
    // Two commits' lines as a writer puts them on disk, taken from a scratch folder.
    const scratch = join(dir, 'scratch');
    const writer = new FileStateStore(scratch);
    await slice(writer, 0, (t) => t.put('counts', 'a', 1));
    await slice(writer, 1, (t) => t.add('counts', 'a', 1));
    const [first, second] = (await readFile(join(scratch, 'counter.jsonl'), 'utf8'))
      .split('\n')
      .map((line) => `${line}\n`);
    const log = join(dir, 'counter.jsonl');
    // The other process is in the middle of its write: half of its second line is on disk.
    await writeFile(log, first! + second!.slice(0, 40));
    const reader = new FileStateStore(dir);
    expect(await reader.readCheckpoint(p0)).toMatchObject({ offset: 0, version: 1 });
    expect(await readFile(log, 'utf8')).toBe(first! + second!.slice(0, 40));
    await appendFile(log, second!.slice(40));
    expect(await reader.readCheckpoint(p0)).toMatchObject({ offset: 1, version: 2 });
    expect(await reader.readItem('counter', 'counts', 'a')).toMatchObject({ value: 2, version: 2 });
  });

  test('a reset by one instance is seen by the other, whose old checkpoint then conflicts', async () => {
    const a = new FileStateStore(dir);
    const b = new FileStateStore(dir);
    await slice(a, 3, (t) => t.put('counts', 'a', 1));
    const stale = await StateTransaction.open(b, new StateCache(), p0);
    expect(stale.checkpoint).toMatchObject({ offset: 3, version: 1 });
    await a.reset('counter');
    expect(await snapshot(b)).toEqual({
      counts: {},
      checkpoints: [],
      item: { value: undefined, version: 0, exists: false },
    });
    stale.beginRecord(4);
    stale.add('counts', 'a', 1);
    stale.endRecord();
    await expect(stale.commit()).rejects.toMatchObject({ checkpoint: true });
    await slice(b, 0, (t) => t.add('counts', 'a', 1));
    await slice(a, 1, (t) => t.add('counts', 'a', 1));
    expect(Object.fromEntries(await b.scanTable('counter', 'counts'))).toEqual({ a: 2 });
    expect(
      Object.fromEntries(await new FileStateStore(dir).scanTable('counter', 'counts')),
    ).toEqual({
      a: 2,
    });
  });

  test('ctx.once: an effect claimed by one instance is not claimed again by the other', async () => {
    const a = new FileStateStore(dir);
    const b = new FileStateStore(dir);
    const key = { ...p0, offset: 4, name: 'email' };
    const expires = Date.now() + 60_000;
    const lease = { startedAt: Date.now(), leaseUntil: Date.now() + 60_000 };
    const claims = await Promise.all([
      a.claimOnce(key, expires, lease),
      b.claimOnce(key, expires, lease),
    ]);
    expect(claims.filter((c) => c.claimed)).toHaveLength(1);
    const [winner, loser] = claims[0]!.claimed ? [a, b] : [b, a];
    await winner.completeOnce(key, { id: 'm-1' }, expires);
    expect(await loser.claimOnce(key, expires, lease)).toEqual({
      claimed: false,
      done: true,
      result: { id: 'm-1' },
    });
  });
});

describe('the lock', () => {
  const lockFile = () => join(dir, 'counter.lock');
  const holder = (pid: number, host = hostname()) =>
    JSON.stringify({ pid, host, token: 'someone-else', at: Date.now() });

  test('a lock left by a dead process on this host is broken', async () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    await writeFile(lockFile(), holder(dead));
    const store = new FileStateStore(dir);
    await slice(store, 0, (t) => t.add('counts', 'a', 1));
    expect(await readdir(dir)).toEqual(['counter.jsonl']);
  });

  test('a lock far older than any commit takes is broken, whoever holds it', async () => {
    await writeFile(lockFile(), holder(1, 'another-host'));
    const old = new Date(Date.now() - 10 * 60_000);
    await utimes(lockFile(), old, old);
    const store = new FileStateStore(dir);
    await slice(store, 0, (t) => t.add('counts', 'a', 1));
    expect(await readdir(dir)).toEqual(['counter.jsonl']);
  });

  test('a stale lock is broken once: writers racing to break it lose nothing', async () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    const stores = Array.from({ length: 6 }, () => new FileStateStore(dir));
    for (let round = 0; round < 10; round++) {
      // Every writer finds the lock abandoned at once; one breaking it must not let another
      // break the lock the first then takes.
      await writeFile(lockFile(), holder(dead));
      await Promise.all(
        stores.map((store, i) =>
          slice(store, round, (t) => t.add('counts', 'a', 1), { ...p0, partition: i }),
        ),
      );
    }
    expect(await new FileStateStore(dir).readItem('counter', 'counts', 'a')).toMatchObject({
      value: 60,
      version: 60,
    });
    expect(await readdir(dir)).toEqual(['counter.jsonl']);
  });

  test('a breaker that comes late leaves alone the lock another breaker took meanwhile', async () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    await writeFile(lockFile(), holder(dead));
    const fast = new FileStateStore(dir);
    const slow = new FileStateStore(dir);
    const hooks = (store: FileStateStore) =>
      store as unknown as Record<'breakLock' | 'append', (...args: unknown[]) => Promise<unknown>>;
    const gate = () => {
      let open!: () => void;
      const opened = new Promise<void>((resolve) => {
        open = resolve;
      });
      return { open, opened };
    };
    // `slow` judges the dead lock abandoned, then stalls before it breaks it...
    const slowStalled = gate();
    const slowGoes = gate();
    const breakLock = hooks(slow).breakLock.bind(slow);
    hooks(slow).breakLock = async (...args) => {
      slowStalled.open();
      await slowGoes.opened;
      return breakLock(...args);
    };
    // ...while `fast` breaks it, takes the lock and is in the middle of its commit.
    const fastInside = gate();
    const fastGoes = gate();
    const append = hooks(fast).append.bind(fast);
    hooks(fast).append = async (...args) => {
      fastInside.open();
      await fastGoes.opened;
      return append(...args);
    };
    const slowCommit = slice(slow, 0, (t) => t.add('counts', 'a', 1), { ...p0, partition: 1 });
    await slowStalled.opened;
    const fastCommit = slice(fast, 0, (t) => t.add('counts', 'a', 1));
    await fastInside.opened;
    slowGoes.open();
    await new Promise((resolve) => setTimeout(resolve, 100));
    // The lock is still the one `fast` took, not broken a second time.
    expect(JSON.parse(await readFile(lockFile(), 'utf8'))).toMatchObject({ pid: process.pid });
    fastGoes.open();
    await Promise.all([slowCommit, fastCommit]);
    expect(await new FileStateStore(dir).readItem('counter', 'counts', 'a')).toMatchObject({
      value: 2,
      version: 2,
    });
  });

  test('a commit that held the lock so long that it was broken writes nothing', async () => {
    const options = { staleLockMs: 200 };
    const stalled = new FileStateStore(dir, undefined, options);
    const other = new FileStateStore(dir, undefined, options);
    const hook = stalled as unknown as { append: (...args: unknown[]) => Promise<unknown> };
    const append = hook.append.bind(stalled);
    hook.append = async (...args) => {
      // Frozen with the lock held (a debugger, a suspended process) past the stale age...
      await new Promise((resolve) => setTimeout(resolve, 400));
      return append(...args);
    };
    const late = slice(stalled, 0, (t) => t.add('counts', 'a', 1)).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // ...so another process took it for abandoned and committed.
    await slice(other, 0, (t) => t.add('counts', 'b', 1), { ...p0, partition: 1 });
    const error = (await late) as Error;
    expect(error).toBeInstanceOf(StateError);
    expect(error.message).toMatch(/another process took it over/);
    expect(
      Object.fromEntries(await new FileStateStore(dir).scanTable('counter', 'counts')),
    ).toEqual({ b: 1 });
    expect(await readdir(dir)).toEqual(['counter.jsonl']);
  });

  test('a live holder makes a commit wait, then fail naming the holder and the lock file', async () => {
    const held = holder(process.pid);
    await writeFile(lockFile(), held);
    const store = new FileStateStore(dir, undefined, { lockWaitMs: 300 });
    const started = Date.now();
    const error = (await slice(store, 0, (t) => t.add('counts', 'a', 1)).catch(
      (e: unknown) => e,
    )) as Error;
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(error).toBeInstanceOf(StateError);
    expect(error.message).toContain(`pid ${process.pid} on ${hostname()}`);
    expect(error.message).toContain(lockFile());
    expect(await readFile(lockFile(), 'utf8')).toBe(held);
    // Once the holder lets go, commits go through again.
    await rm(lockFile());
    await slice(store, 0, (t) => t.add('counts', 'a', 1));
    expect(await store.readItem('counter', 'counts', 'a')).toMatchObject({ value: 1 });
  });
});
