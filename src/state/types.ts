import type { Decimal } from './decimal.ts';

/** The partition a checkpoint belongs to, within one consumer group. */
export interface PartitionRef {
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
}

/**
 * The dog-ear: the last offset whose effects are committed, and a version that fences a stale
 * writer. `version` 0 means nothing was ever committed (`offset` is then -1).
 */
export interface Checkpoint {
  readonly offset: number;
  readonly version: number;
  /**
   * A fingerprint of the record at `offset` (see `recordFingerprint`), so a later batch that
   * holds a different record there shows a new log under this checkpoint.
   */
  readonly fingerprint?: string;
  /** Kafka's id of the topic the checkpoint was committed from, when it was known. */
  readonly topicId?: string;
  /**
   * What the commit that made this version left for the relay and was not yet delivered; the
   * next slice of the partition relays it before it runs a record.
   */
  readonly outbox?: readonly OutboxMessage[];
  /**
   * Per upstream source (`<group>|<topic>|<partition>` of the dogear consumer that emitted what
   * this partition reads), the last output applied: a redelivered output at or below it is a
   * duplicate. See "Outputs read by another dogear consumer" in docs/pipelines.md.
   */
  readonly upstream?: Readonly<Record<string, UpstreamMark>>;
  /** Deliveries of the record after `offset` that did not end (for dead letters). */
  readonly attempt?: RecordAttempt;
}

/** An output's place in its source partition: the source record's offset, and its index there. */
export type UpstreamMark = readonly [offset: number, index: number];

/**
 * Failed deliveries of the record at `offset` (the one after the checkpoint), for dead letters.
 * See "Counting deliveries" in docs/pipelines.md.
 */
export interface RecordAttempt {
  readonly offset: number;
  /** Deliveries that failed on the record: its own errors, and deaths while it ran alone. */
  readonly count: number;
  /** A delivery of it began and has not ended; if none ends it, that delivery died. */
  readonly open?: boolean;
  /** That open delivery commits record by record, so if it died, it died in this record. */
  readonly solo?: boolean;
}

/** A state item as stored. `version` 0 means it never existed; a deleted item keeps its version. */
export interface StoredItem {
  /** As a handler reads it: a number is the nearest JS number to the stored decimal. */
  readonly value: unknown;
  /** The stored decimal, when `value` is a number that does not print as it (see decimal.ts). */
  readonly exact?: string;
  readonly version: number;
  /** False for a deleted item (which keeps its version so a stale cache cannot match it). */
  readonly exists: boolean;
}

/** What a commit does to one item. `add` needs no read: it commutes with other adds. */
export type Change =
  | { readonly op: 'put'; readonly value: unknown; readonly exact?: string }
  | { readonly op: 'delete' }
  | { readonly op: 'add'; readonly delta: Decimal };

export interface ItemWrite {
  readonly table: string;
  readonly key: string;
  readonly change: Change;
  /** The version the item was read at (0: read as absent); unset for a blind write. */
  readonly expectedVersion?: number;
  /** About what DynamoDB counts for the item once written; the transaction always measures it. */
  readonly bytes?: number;
}

/** One atomic step: the checkpoint moves to `offset` and every write lands, or nothing does. */
export interface Commit {
  readonly partition: PartitionRef;
  readonly checkpoint: {
    readonly expectedVersion: number;
    readonly offset: number;
    readonly fingerprint?: string;
    readonly topicId?: string;
    /** The outputs and dead letters of the committed records, for the relay. */
    readonly outbox?: readonly OutboxMessage[];
    /** The upstream marks after the committed records (all of them, not only changed ones). */
    readonly upstream?: Readonly<Record<string, UpstreamMark>>;
    /** The next record's failed deliveries so far, when the slice stopped at a failing record. */
    readonly attempt?: RecordAttempt;
  };
  readonly writes: readonly ItemWrite[];
}

/** How much one commit may carry; DynamoDB's transaction limits by default everywhere. */
export interface CommitLimits {
  /**
   * Writes conditioned on a read version per commit, the checkpoint not counted: they must
   * share one transaction with it.
   */
  readonly maxWrites: number;
  /** Estimated bytes per commit. */
  readonly maxBytes: number;
  /**
   * Estimated bytes of blind writes (`set` and `add` without a read, `delete`) when a commit
   * holds more writes than `maxWrites`: they travel as an intent inside the checkpoint item.
   */
  readonly maxIntentBytes: number;
  /** Estimated bytes per item. */
  readonly maxItemBytes: number;
}

/**
 * DynamoDB: 100 actions per transaction (one is the checkpoint), 4 MB, 400 KB per item, of
 * which the checkpoint item keeps 50 KB for itself.
 */
export const DYNAMODB_LIMITS: CommitLimits = {
  maxWrites: 99,
  maxBytes: 4 * 1024 * 1024,
  maxIntentBytes: 350 * 1024,
  maxItemBytes: 400 * 1024,
};

/** One item of a group's state: a table and a key in it. */
export interface ItemRef {
  readonly table: string;
  readonly key: string;
}

/** Where a consumer group's checkpoints and tables live. */
export interface StateStore {
  readonly limits: CommitLimits;
  readCheckpoint(ref: PartitionRef): Promise<Checkpoint>;
  readItem(group: string, table: string, key: string): Promise<StoredItem>;
  /**
   * Several items at once, each as `readItem` would read it (consistent), in the order of
   * `refs`; a ref listed twice is read once. What a slice prefetches, and `table.getMany`.
   */
  readItems(group: string, refs: readonly ItemRef[]): Promise<StoredItem[]>;
  /** Applies all of `commit` or none of it; a version mismatch throws `StateConflictError`. */
  commit(commit: Commit): Promise<void>;
  /**
   * Forgets the outbox of the checkpoint at `version`, once the relay delivered it; a checkpoint
   * that moved on is left as it is (its outbox is a later commit's).
   */
  clearOutbox(ref: PartitionRef, version: number): Promise<void>;
  /**
   * Records that a delivery of the record after the checkpoint at `version` began, so a
   * delivery that dies uncaught still counts: `attempt` replaces `previous` (what the checkpoint
   * was read with). False, changing nothing, when the checkpoint moved on or another delivery
   * marked it meanwhile.
   */
  markAttempt(
    ref: PartitionRef,
    version: number,
    attempt: RecordAttempt,
    previous: RecordAttempt | undefined,
  ): Promise<boolean>;
  /** Every live item of one table, for inspection (`dogear state`), not for handlers. */
  scanTable(group: string, table: string): Promise<Map<string, unknown>>;
  /** Every checkpoint of a group, for inspection. */
  scanCheckpoints(group: string): Promise<Array<PartitionRef & Checkpoint>>;
  /** Forgets a group's checkpoints and tables (a replay from scratch). */
  reset(group: string): Promise<void>;
  /**
   * Marks `key` as started, with `lease`, unless it is already marked. Not part of a commit:
   * the effect it guards happens at once, outside state.
   */
  claimOnce(key: OnceKey, expiresAt: number, lease: OnceLease): Promise<OnceClaim>;
  /** Records that the effect happened, and its result, until `expiresAt` (ms). */
  completeOnce(key: OnceKey, result: unknown, expiresAt: number): Promise<void>;
  /** Removes a claim whose effect threw, so a redelivery may try again. */
  releaseOnce(key: OnceKey): Promise<void>;
}

/** One `ctx.once(name, fn)` call: the record it ran for, and its name. */
export interface OnceKey extends PartitionRef {
  readonly offset: number;
  readonly name: string;
}

/**
 * When a claim started, and until when the invocation that made it can still be running (its
 * Lambda deadline), both epoch ms. Past `leaseUntil` an unfinished claim was interrupted.
 */
export interface OnceLease {
  readonly startedAt: number;
  readonly leaseUntil: number;
}

/**
 * What `claimOnce` found: nothing (now claimed), a finished effect, or an unfinished one, either
 * still `running` (now < leaseUntil: its invocation may still finish it) or `interrupted` (its
 * invocation is over, so it died or timed out in the effect). A claim stored without a lease
 * (before leases existed) is interrupted.
 */
export type OnceClaim =
  | { readonly claimed: true }
  | { readonly claimed: false; readonly done: true; readonly result: unknown }
  | ({
      readonly claimed: false;
      readonly done: false;
      readonly status: 'running' | 'interrupted';
    } & OnceLease);

/** The `OnceClaim` of an unfinished claim with `lease`, as of now. */
export function unfinished(lease: OnceLease | undefined): OnceClaim {
  const { startedAt = 0, leaseUntil = 0 } = lease ?? {};
  const status = Date.now() < leaseUntil ? 'running' : 'interrupted';
  return { claimed: false, done: false, status, startedAt, leaseUntil };
}

/** The item every read of a key that was never written returns. */
export const ABSENT: StoredItem = Object.freeze({ value: undefined, version: 0, exists: false });
export const NO_CHECKPOINT: Checkpoint = Object.freeze({ offset: -1, version: 0 });

/** The checkpoint's outbox, upstream marks and attempt, only those that are set and not empty. */
export function progressOf(c: {
  outbox?: readonly OutboxMessage[];
  upstream?: Readonly<Record<string, UpstreamMark>>;
  attempt?: RecordAttempt;
}): Pick<Checkpoint, 'outbox' | 'upstream' | 'attempt'> {
  return {
    ...(c.outbox?.length ? { outbox: c.outbox } : {}),
    ...(c.upstream && Object.keys(c.upstream).length ? { upstream: c.upstream } : {}),
    ...(c.attempt ? { attempt: c.attempt } : {}),
  };
}

/** The checkpoint's fingerprint and topic id, only those that are set. */
export function identityOf(c: {
  fingerprint?: string;
  topicId?: string;
}): Pick<Checkpoint, 'fingerprint' | 'topicId'> {
  return {
    ...(c.fingerprint === undefined ? {} : { fingerprint: c.fingerprint }),
    ...(c.topicId === undefined ? {} : { topicId: c.topicId }),
  };
}

/** An item's id within a group, in memory and in the cache. */
export const itemId = (table: string, key: string) => `${table}\u0000${key}`;

/**
 * One message a commit leaves for the relay: an output of `ctx.emit`, or a dead letter. State
 * stores it as it is, in the checkpoint item, in the same transaction as the records' effects,
 * so it exists if and only if they do; `src/output/` delivers it.
 */
export interface OutboxMessage {
  /** A Kafka topic, an SQS queue ARN (`arn:aws:sqs:…`) or an S3 bucket ARN (`arn:aws:s3:::…`). */
  readonly to: string;
  /** Base64, or null for none. */
  readonly key: string | null;
  /** Base64, or null for a tombstone. */
  readonly value: string | null;
  /** In order, names repeating as on the wire; values base64 (null for a null value). */
  readonly headers: ReadonlyArray<readonly [name: string, base64: string | null]>;
  /**
   * `<group>|<topic>|<partition>|<offset>|<index>`: the record (or the `@onBatch` slice's last
   * offset) that made it, and its place among that record's messages. Also the
   * `dogear-origin` header of every message sent, and the dedup id a reader keys on.
   */
  readonly origin: string;
  /** Set for a dead letter: what SQS and S3 receive as JSON beside the record's bytes. */
  readonly deadLetter?: DeadLetterFacts;
}

/** The header every relayed message carries: its `OutboxMessage.origin`. */
export const ORIGIN_HEADER = 'dogear-origin';
/** The header a dead letter sent to Kafka carries: its `DeadLetterFacts`, as JSON. */
export const DEAD_LETTER_HEADER = 'dogear-dead-letter';

/** Why a record went to the dead letters, and where it came from. */
export interface DeadLetterFacts {
  readonly consumer: string;
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
  /** Deliveries of the record that failed, the last included. */
  readonly attempts: number;
  readonly error: { readonly name: string; readonly message: string };
  /** Epoch ms, when the record was given up. */
  readonly at: number;
  /**
   * Set when the record's key and value were too large to keep in the dead letter (they stay in
   * the source topic, at its coordinates, until retention removes them): their sizes.
   */
  readonly omitted?: { readonly keyBytes: number; readonly valueBytes: number };
}
