import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { StateCache } from './cache.ts';
import { StateError } from './errors.ts';
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
