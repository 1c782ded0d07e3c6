import { addDecimal, decimalIn, decimalProblem, numberFields } from './decimal.ts';
import { StateConflictError, StateLimitError, StateValueError } from './errors.ts';
import {
  ABSENT,
  type Checkpoint,
  type Commit,
  type CommitLimits,
  DYNAMODB_LIMITS,
  type ItemRef,
  type ItemWrite,
  identityOf,
  NO_CHECKPOINT,
  type OnceClaim,
  type OnceKey,
  type OnceLease,
  type PartitionRef,
  progressOf,
  type RecordAttempt,
  type StateStore,
  type StoredItem,
  unfinished,
} from './types.ts';
import { commitProblem } from './write-rules.ts';

/** One consumer group's state as plain maps. */
export interface GroupState {
  checkpoints: Map<string, Checkpoint & { topic: string; partition: number }>;
  /** Table name → key → item. */
  tables: Map<string, Map<string, StoredItem>>;
}

/** What a commit changed, resolved to final values and versions: what a log needs to replay. */
export interface AppliedCommit {
  readonly group: string;
  readonly checkpoint: Checkpoint & { topic: string; partition: number };
  readonly items: ReadonlyArray<StoredItem & { table: string; key: string }>;
}

const partitionId = (topic: string, partition: number) => `${topic}\u0000${partition}`;
const onceId = (k: OnceKey) => [k.group, k.topic, k.partition, k.offset, k.name].join('\u0000');

/**
 * A `StateStore` in memory, with the same atomicity and version checks as DynamoDB's. The limits
 * are DynamoDB's by default, so a handler that writes too much fails here first.
 */
export class MemoryStateStore implements StateStore {
  protected readonly groups = new Map<string, GroupState>();
  /** Commits to one group run one at a time, so a check and its write cannot interleave. */
  private readonly queues = new Map<string, Promise<unknown>>();
  constructor(readonly limits: CommitLimits = DYNAMODB_LIMITS) {}

  protected group(name: string): GroupState {
    let group = this.groups.get(name);
    if (!group) {
      group = { checkpoints: new Map(), tables: new Map() };
      this.groups.set(name, group);
    }
    return group;
  }

  async readCheckpoint(ref: PartitionRef): Promise<Checkpoint> {
    return (
      this.group(ref.group).checkpoints.get(partitionId(ref.topic, ref.partition)) ?? NO_CHECKPOINT
    );
  }

  async readItem(group: string, table: string, key: string): Promise<StoredItem> {
    return this.group(group).tables.get(table)?.get(key) ?? ABSENT;
  }

  async readItems(group: string, refs: readonly ItemRef[]): Promise<StoredItem[]> {
    const tables = this.group(group).tables;
    return refs.map(({ table, key }) => tables.get(table)?.get(key) ?? ABSENT);
  }

  commit(commit: Commit): Promise<void> {
    return this.inTurn(commit.partition.group, async () => {
      const applied = this.resolve(commit);
      await this.persist(applied);
      this.apply(applied);
    });
  }

  /** Runs `step` after the group's earlier commits, loaded and exclusive, as a commit runs. */
  private inTurn<T>(group: string, step: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(group) ?? Promise.resolve();
    const next = previous
      .catch(() => {})
      .then(async () => {
        await this.load(group);
        let result: T | undefined;
        await this.exclusive(group, async () => {
          result = await step();
        });
        return result as T;
      });
    this.queues.set(group, next);
    return next;
  }

  async clearOutbox(ref: PartitionRef, version: number): Promise<void> {
    await this.amendCheckpoint(ref, version, ({ outbox: _, ...rest }) => rest);
  }

  markAttempt(
    ref: PartitionRef,
    version: number,
    attempt: RecordAttempt,
    previous: RecordAttempt | undefined,
  ): Promise<boolean> {
    return this.amendCheckpoint(
      ref,
      version,
      (c) => ({ ...c, attempt }),
      (c) => JSON.stringify(c.attempt) === JSON.stringify(previous),
    );
  }

  /**
   * Changes the checkpoint at `version` without moving it (the version stays, so no writer is
   * fenced by it); false, changing nothing, when it is at another version.
   */
  private amendCheckpoint(
    ref: PartitionRef,
    version: number,
    change: (c: Checkpoint) => Checkpoint,
    holds: (c: Checkpoint) => boolean = () => true,
  ): Promise<boolean> {
    return this.inTurn(ref.group, async () => {
      const { topic, partition } = ref;
      const current =
        this.group(ref.group).checkpoints.get(partitionId(topic, partition)) ?? NO_CHECKPOINT;
      if (current.version !== version || !holds(current)) return false;
      const applied = {
        group: ref.group,
        checkpoint: { ...change(current), topic, partition },
        items: [],
      };
      await this.persist(applied);
      this.apply(applied);
      return true;
    });
  }

  /** Brings a group into memory before its first use; memory has nothing to load. */
  protected async load(_group: string): Promise<void> {}

  /**
   * Runs a commit's check, write and apply as one step. Within a process the queue above is
   * enough; a store that other processes write too must lock around it.
   */
  protected exclusive(_group: string, step: () => Promise<void>): Promise<void> {
    return step();
  }

  /** Checks every condition and computes the new items without changing anything. */
  protected resolve(commit: Commit): AppliedCommit {
    const { group: name, topic, partition } = commit.partition;
    const problem = commitProblem(commit, this.limits);
    if (problem) {
      throw new StateLimitError(
        `A commit of ${name} ${topic}-${partition} exceeds what DynamoDB takes in one transaction: ${problem}. This is a bug in dogear; please report it`,
        { topic, partition },
      );
    }
    const group = this.group(name);
    const current = group.checkpoints.get(partitionId(topic, partition)) ?? NO_CHECKPOINT;
    if (current.version !== commit.checkpoint.expectedVersion) {
      throw new StateConflictError(
        `Checkpoint of ${name} ${topic}-${partition} moved (version ${current.version}, expected ${commit.checkpoint.expectedVersion})`,
        [],
        true,
      );
    }
    const stale = commit.writes.filter(
      (w) =>
        w.expectedVersion !== undefined &&
        (group.tables.get(w.table)?.get(w.key)?.version ?? 0) !== w.expectedVersion,
    );
    if (stale.length > 0) {
      throw new StateConflictError(
        `Items changed since they were read: ${stale.map((w) => `${w.table}/${w.key}`).join(', ')}`,
        stale.map(({ table, key }) => ({ table, key })),
        false,
      );
    }
    return {
      group: name,
      checkpoint: {
        topic,
        partition,
        offset: commit.checkpoint.offset,
        version: current.version + 1,
        ...identityOf(commit.checkpoint),
        ...progressOf(commit.checkpoint),
      },
      items: commit.writes.map((w) => this.written(group, w)),
    };
  }

  private written(
    group: GroupState,
    write: ItemWrite,
  ): StoredItem & { table: string; key: string } {
    const { table, key, change } = write;
    const before = group.tables.get(table)?.get(key) ?? ABSENT;
    const version = before.version + 1;
    if (change.op === 'put') {
      return { table, key, value: change.value, exact: change.exact, version, exists: true };
    }
    if (change.op === 'delete') return { table, key, value: undefined, version, exists: false };
    const sum = addDecimal(decimalIn(before, { table, key }), change.delta);
    const problem =
      typeof sum === 'number' && Number.isSafeInteger(sum) ? undefined : decimalProblem(sum);
    if (problem) {
      // DynamoDB's ADD fails the same way: the sum is out of what it holds.
      throw new StateValueError(`Cannot add to ${table}/${key}: the sum ${problem}`, {
        table,
        key,
      });
    }
    return { table, key, ...numberFields(sum), version, exists: true };
  }

  /** Makes a resolved commit durable; memory has nothing to do. */
  protected async persist(_applied: AppliedCommit): Promise<void> {}

  protected apply(applied: AppliedCommit): void {
    const group = this.group(applied.group);
    const { topic, partition } = applied.checkpoint;
    group.checkpoints.set(partitionId(topic, partition), applied.checkpoint);
    for (const { table, key, ...item } of applied.items) {
      let items = group.tables.get(table);
      if (!items) {
        items = new Map();
        group.tables.set(table, items);
      }
      items.set(key, item);
    }
  }

  async scanTable(group: string, table: string): Promise<Map<string, unknown>> {
    const rows = new Map<string, unknown>();
    for (const [key, item] of this.group(group).tables.get(table) ?? []) {
      if (item.exists) rows.set(key, item.value);
    }
    return rows;
  }

  async scanCheckpoints(group: string): Promise<Array<PartitionRef & Checkpoint>> {
    return [...this.group(group).checkpoints.values()].map((c) => ({ group, ...c }));
  }

  async reset(group: string): Promise<void> {
    this.groups.delete(group);
    for (const id of this.onces.keys()) if (id.startsWith(`${group}\u0000`)) this.onces.delete(id);
  }

  private readonly onces = new Map<
    string,
    { done: boolean; result: unknown; expiresAt: number; lease?: OnceLease }
  >();

  async claimOnce(key: OnceKey, expiresAt: number, lease: OnceLease): Promise<OnceClaim> {
    const id = onceId(key);
    const found = this.onces.get(id);
    if (found && found.expiresAt > Date.now()) {
      return found.done
        ? { claimed: false, done: true, result: found.result }
        : unfinished(found.lease);
    }
    this.onces.set(id, {
      done: false,
      result: undefined,
      expiresAt,
      lease: { startedAt: lease.startedAt, leaseUntil: lease.leaseUntil },
    });
    return { claimed: true };
  }

  async completeOnce(key: OnceKey, result: unknown, expiresAt: number): Promise<void> {
    // Stored as JSON, as DynamoDB stores it, so both return the same shape.
    const stored = result === undefined ? undefined : JSON.parse(JSON.stringify(result));
    this.onces.set(onceId(key), { done: true, result: stored, expiresAt });
  }

  async releaseOnce(key: OnceKey): Promise<void> {
    this.onces.delete(onceId(key));
  }
}
