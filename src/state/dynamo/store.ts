import type { AttributeValue, TransactWriteItem } from '@aws-sdk/client-dynamodb';
import { backoff } from '../../backoff.ts';
import { StateError, StateLimitError, StateTypeError } from '../errors.ts';
import {
  type Checkpoint,
  type Commit,
  type CommitLimits,
  DYNAMODB_LIMITS,
  type ItemRef,
  type ItemWrite,
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
} from '../types.ts';
import { commitProblem } from '../write-rules.ts';
import { createStateTable, deletePrefixes, scanPrefix } from './admin.ts';
import {
  BatchGetItem,
  DeleteItem,
  DescribeTable,
  type DynamoApi,
  fetchDynamoApi,
  GetItem,
  PutItem,
  TransactWriteItems,
  UpdateItem,
} from './api.ts';
import { type IntentWrite, intentOf, intentUpdate } from './intent.ts';
import { groupKeyPrefix, groupKeyPrefixes, itemUpdate, pkOf, storedItemOf } from './items.ts';
import {
  addedToNonNumber,
  cancellationReasons,
  cancelledForGood,
  commitCancelled,
  isTransient,
  type Named,
  OUT_OF_RANGE,
} from './reasons.ts';

/** DynamoDB's limit on the actions of one transaction. */
const MAX_TRANSACTION_ITEMS = 100;
/** DynamoDB's limit on the keys of one BatchGetItem. */
const MAX_BATCH_GET_KEYS = 100;
/** The checkpoint item's 400 KB, less room for its other attributes: what intent and outbox share. */
const MAX_INTENT_JSON_BYTES = 390 * 1024;

export interface DynamoStateStoreOptions {
  /** How calls reach DynamoDB: `fetchDynamoApi(...)`. */
  api: DynamoApi;
  /** The state table's name. */
  table: string;
  /** Retries of a commit cancelled by throttling or a transaction conflict. @default 8 */
  maxRetries?: number;
}

/**
 * The production `StateStore`: one DynamoDB table. A commit is one `TransactWriteItems` with
 * the checkpoint conditioned on the version it was read at (fencing stale invocations) and each
 * item conditioned on its read version, or unconditioned for blind writes and `ADD`.
 */
export class DynamoStateStore implements StateStore {
  readonly limits: CommitLimits = DYNAMODB_LIMITS;
  private readonly api: DynamoApi;
  readonly table: string;
  private readonly maxRetries: number;

  constructor(options: DynamoStateStoreOptions) {
    this.api = options.api;
    this.table = options.table;
    this.maxRetries = options.maxRetries ?? 8;
  }

  async readCheckpoint(ref: PartitionRef): Promise<Checkpoint> {
    const item = await this.get(pkOf.checkpoint(ref), 'GetItem');
    if (!item) return NO_CHECKPOINT;
    const checkpoint = checkpointOf(item);
    // A commit whose intent was not applied yet (its process died): finish it before anyone
    // reads state behind this checkpoint.
    if (item.intent?.S) {
      await this.applyIntent(ref, checkpoint, JSON.parse(item.intent.S) as IntentWrite[]);
    }
    return checkpoint;
  }

  async readItem(group: string, table: string, key: string): Promise<StoredItem> {
    return storedItemOf(await this.get(pkOf.item(group, table, key), 'GetItem'));
  }

  /**
   * `BatchGetItem`s of up to 100 keys, all at once, each a consistent read; keys DynamoDB leaves
   * unprocessed (throttling, its 16 MB response limit) are asked for again with backoff.
   */
  async readItems(group: string, refs: readonly ItemRef[]): Promise<StoredItem[]> {
    const pks = refs.map(({ table, key }) => pkOf.item(group, table, key));
    // DynamoDB refuses a request that names a key twice.
    const distinct = [...new Set(pks)];
    const found = new Map<string, Record<string, AttributeValue>>();
    const chunks: string[][] = [];
    for (let i = 0; i < distinct.length; i += MAX_BATCH_GET_KEYS) {
      chunks.push(distinct.slice(i, i + MAX_BATCH_GET_KEYS));
    }
    await Promise.all(chunks.map((chunk) => this.batchGet(chunk, found)));
    return pks.map((pk) => storedItemOf(found.get(pk)));
  }

  private async batchGet(pks: string[], found: Map<string, Record<string, AttributeValue>>) {
    let keys = pks.map((pk) => ({ pk: { S: pk } }));
    for (let attempt = 0; keys.length > 0; attempt++) {
      const request = { [this.table]: { Keys: keys, ConsistentRead: true } };
      const output = await this.call('BatchGetItem', () =>
        this.api.send(BatchGetItem({ RequestItems: request })),
      );
      for (const item of output.Responses?.[this.table] ?? []) found.set(item.pk!.S!, item);
      keys = (output.UnprocessedKeys?.[this.table]?.Keys ?? []) as typeof keys;
      if (keys.length === 0) return;
      if (attempt >= this.maxRetries) {
        throw new StateError(
          `DynamoDB left ${keys.length} keys of a BatchGetItem on '${this.table}' unprocessed after ${attempt + 1} attempts (throttled); raise the table's read capacity or retry later`,
        );
      }
      await backoff(attempt);
    }
  }

  private async get(pk: string, action: string) {
    const output = await this.call(action, () =>
      this.api.send(
        GetItem({ TableName: this.table, Key: { pk: { S: pk } }, ConsistentRead: true }),
      ),
    );
    return output.Item;
  }

  /**
   * Up to 99 writes commit in one transaction with the checkpoint. Past that, the writes that
   * carry a read version still do, and the blind ones (`set`/`add` without a read, `delete`)
   * ride in the checkpoint item as an intent: the transaction decides them, and they are applied
   * right after, each item marked with the offset it reflects, so applying twice changes nothing.
   * A slice then costs one commit however many keys it touches, instead of one per 99 keys.
   */
  async commit(commit: Commit): Promise<void> {
    const problem = commitProblem(commit, this.limits);
    if (problem) {
      throw new StateLimitError(
        `A commit of ${commit.partition.topic}-${commit.partition.partition} exceeds what one transaction takes: ${problem}. This is a bug in dogear; please report it`,
        { topic: commit.partition.topic, partition: commit.partition.partition },
      );
    }
    const direct = commit.writes.length <= this.limits.maxWrites;
    const transacted = direct
      ? commit.writes
      : commit.writes.filter((w) => w.expectedVersion !== undefined);
    const intent = direct ? [] : commit.writes.filter((w) => w.expectedVersion === undefined);
    await this.transact(commit, transacted, intent);
    if (intent.length > 0) {
      const checkpoint = {
        offset: commit.checkpoint.offset,
        version: commit.checkpoint.expectedVersion + 1,
      };
      await this.applyIntent(commit.partition, checkpoint, intent.map(intentOf));
    }
  }

  private async transact(
    commit: Commit,
    writes: readonly ItemWrite[],
    intent: readonly ItemWrite[],
  ) {
    const items = [
      checkpointUpdate(this.table, commit, intent),
      ...writes.map((w) => itemUpdate(this.table, commit.partition.group, w)),
    ];
    const named = writes.map(({ table, key, change }) => ({ table, key, op: change.op }));
    for (let attempt = 0; ; attempt++) {
      try {
        await this.send(items);
        return;
      } catch (error) {
        const reasons = cancellationReasons(error);
        if (!reasons) throw addedToNonNumber(error, named) ?? error;
        const typed = commitCancelled(error, reasons, commit, named);
        if (typed) throw typed;
        if (!isTransient(reasons) || attempt >= this.maxRetries) {
          throw cancelledForGood(error, reasons, commit, attempt + 1);
        }
        await backoff(attempt);
      }
    }
  }

  /** One transaction. The same token on an SDK retry makes DynamoDB apply it once, not twice. */
  private async send(items: TransactWriteItem[]): Promise<void> {
    if (items.length > MAX_TRANSACTION_ITEMS) {
      throw new StateLimitError(
        `A transaction of ${items.length} items, over DynamoDB's ${MAX_TRANSACTION_ITEMS}. This is a bug in dogear; please report it`,
      );
    }
    const input = { TransactItems: items, ClientRequestToken: crypto.randomUUID() };
    await this.call('TransactWriteItems', () => this.api.send(TransactWriteItems(input)));
  }

  /**
   * Applies a committed intent in transactions of up to 100 items, all sent at once: they touch
   * different items, and each item takes the intent at most once whatever the order. Each item
   * remembers, per partition, the offset of the last intent it took (`a|<topic>|<partition>`), so
   * an item that already took this one fails its condition and is left out: a retry, a
   * recovering process and a zombie can all apply the same intent, and it lands once. The intent
   * is cleared only after every chunk landed.
   */
  protected async applyIntent(ref: PartitionRef, checkpoint: Checkpoint, writes: IntentWrite[]) {
    const chunks: IntentWrite[][] = [];
    for (let i = 0; i < writes.length; i += MAX_TRANSACTION_ITEMS) {
      chunks.push(writes.slice(i, i + MAX_TRANSACTION_ITEMS));
    }
    await Promise.all(chunks.map((chunk) => this.applyIntentChunk(ref, checkpoint, chunk)));
    try {
      await this.api.send(
        UpdateItem({
          TableName: this.table,
          Key: { pk: { S: pkOf.checkpoint(ref) } },
          UpdateExpression: 'REMOVE intent',
          ConditionExpression: 'ver = :ver',
          ExpressionAttributeValues: { ':ver': { N: String(checkpoint.version) } },
        }),
      );
    } catch (error) {
      // Another invocation moved the checkpoint on, after applying this intent itself.
      if ((error as Error).name !== 'ConditionalCheckFailedException')
        throw this.explain('UpdateItem', error);
    }
  }

  /** One transaction of an intent's items, retried without the items that took it already. */
  private async applyIntentChunk(ref: PartitionRef, checkpoint: Checkpoint, chunk: IntentWrite[]) {
    let pending = chunk;
    for (let attempt = 0; pending.length > 0; ) {
      const updates = pending.map((w) => intentUpdate(w, ref, checkpoint.offset));
      const named: Named[] = updates.map(({ table, key, change }) => ({
        table,
        key,
        op: change.op,
      }));
      try {
        await this.send(updates.map((u) => itemUpdate(this.table, ref.group, u)));
        return;
      } catch (error) {
        const reasons = cancellationReasons(error);
        if (!reasons) throw addedToNonNumber(error, named) ?? error;
        const codes = reasons.map((r) => r.Code ?? 'None');
        if (codes.includes('ConditionalCheckFailed')) {
          // Those items took this intent already: leave them out and apply the rest.
          pending = pending.filter((_, i) => codes[i] !== 'ConditionalCheckFailed');
          continue;
        }
        const invalid = codes.indexOf('ValidationError');
        if (invalid >= 0) {
          const { table, key } = named[invalid]!;
          const message = reasons[invalid]?.Message ?? '';
          throw new StateTypeError(
            `Cannot apply the commit of ${ref.topic}-${ref.partition} up to offset ${checkpoint.offset}: DynamoDB rejected ${table}/${key} (${message}); ${OUT_OF_RANGE.test(message) ? 'the sum of its adds is not a number DynamoDB holds' : 'it must hold a number to be added to'}, so the partition stops here until the item is fixed`,
            { topic: ref.topic, partition: ref.partition, table, key },
            { cause: error },
          );
        }
        if (++attempt > this.maxRetries) throw error;
        await backoff(attempt);
      }
    }
  }

  async clearOutbox(ref: PartitionRef, version: number): Promise<void> {
    await this.amendCheckpoint(ref, version, 'REMOVE #out', {}, { '#out': 'out' });
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
      'SET att = :att',
      {
        ':att': { S: JSON.stringify(attempt) },
        ...(previous ? { ':prev': { S: JSON.stringify(previous) } } : {}),
      },
      undefined,
      previous ? 'att = :prev' : 'attribute_not_exists(att)',
    );
  }

  /** One update of the checkpoint at `version` that leaves its version as it is. */
  private async amendCheckpoint(
    ref: PartitionRef,
    version: number,
    update: string,
    values: Record<string, AttributeValue>,
    names?: Record<string, string>,
    holds?: string,
  ): Promise<boolean> {
    const versionHolds = version === 0 ? 'attribute_not_exists(ver)' : 'ver = :ver';
    const allValues = { ...values, ...(version === 0 ? {} : { ':ver': { N: String(version) } }) };
    try {
      await this.call('UpdateItem', () =>
        this.api.send(
          UpdateItem({
            TableName: this.table,
            Key: { pk: { S: pkOf.checkpoint(ref) } },
            UpdateExpression: update,
            ConditionExpression: holds ? `${versionHolds} AND ${holds}` : versionHolds,
            ...(names ? { ExpressionAttributeNames: names } : {}),
            ...(Object.keys(allValues).length ? { ExpressionAttributeValues: allValues } : {}),
          }),
        ),
      );
      return true;
    } catch (error) {
      if ((error as Error).name === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  }

  async scanTable(group: string, table: string): Promise<Map<string, unknown>> {
    const prefix = pkOf.item(group, table, '');
    const rows = new Map<string, unknown>();
    for await (const item of scanPrefix(this.api, this.call, this.table, prefix)) {
      const stored = storedItemOf(item);
      if (stored.exists) rows.set(item.pk!.S!.slice(prefix.length), stored.value);
    }
    return rows;
  }

  async scanCheckpoints(group: string): Promise<Array<PartitionRef & Checkpoint>> {
    const found: Array<PartitionRef & Checkpoint> = [];
    for await (const item of scanPrefix(
      this.api,
      this.call,
      this.table,
      groupKeyPrefix.checkpoint(group),
    )) {
      const [, , topic, partition] = item.pk!.S!.split('|');
      found.push({ group, topic: topic!, partition: Number(partition), ...checkpointOf(item) });
    }
    return found.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
  }

  async reset(group: string): Promise<void> {
    await deletePrefixes(this.api, this.call, this.table, groupKeyPrefixes(group));
  }

  async claimOnce(key: OnceKey, expiresAt: number, lease: OnceLease): Promise<OnceClaim> {
    try {
      await this.call('PutItem', () =>
        this.api.send(
          PutItem({
            TableName: this.table,
            Item: {
              pk: { S: pkOf.once(key) },
              done: { BOOL: false },
              startedAt: { N: String(lease.startedAt) },
              leaseUntil: { N: String(lease.leaseUntil) },
              ttl: { N: String(Math.ceil(expiresAt / 1000)) },
            },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        ),
      );
      return { claimed: true };
    } catch (error) {
      if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
      const item = await this.get(pkOf.once(key), 'GetItem');
      if (!item) return this.claimOnce(key, expiresAt, lease); // released between our put and get
      if (item.done?.BOOL) {
        return {
          claimed: false,
          done: true,
          result: item.r?.S === undefined ? undefined : JSON.parse(item.r.S),
        };
      }
      // A claim made before leases existed has none: it is interrupted.
      return unfinished({
        startedAt: Number(item.startedAt?.N ?? 0),
        leaseUntil: Number(item.leaseUntil?.N ?? 0),
      });
    }
  }

  async completeOnce(key: OnceKey, result: unknown, expiresAt: number): Promise<void> {
    const item: Record<string, AttributeValue> = {
      pk: { S: pkOf.once(key) },
      done: { BOOL: true },
      ttl: { N: String(Math.ceil(expiresAt / 1000)) },
    };
    if (result !== undefined) item.r = { S: JSON.stringify(result) };
    await this.call('PutItem', () => this.api.send(PutItem({ TableName: this.table, Item: item })));
  }

  async releaseOnce(key: OnceKey): Promise<void> {
    await this.call('DeleteItem', () =>
      this.api.send(DeleteItem({ TableName: this.table, Key: { pk: { S: pkOf.once(key) } } })),
    );
  }

  /** Creates the table (TTL on `ttl`) when it is missing: for local endpoints, not for AWS. */
  async ensureTable(): Promise<'created' | 'exists'> {
    try {
      await this.api.send(DescribeTable({ TableName: this.table }));
      return 'exists';
    } catch (error) {
      if ((error as Error).name !== 'ResourceNotFoundException')
        throw this.explain('DescribeTable', error);
    }
    await createStateTable(this.api, this.table);
    return 'created';
  }

  /** Runs one DynamoDB call and turns a missing table or permission into an error that says so. */
  private readonly call = async <T>(action: string, send: () => Promise<T>): Promise<T> => {
    try {
      return await send();
    } catch (error) {
      throw this.explain(action, error);
    }
  };

  private explain(action: string, error: unknown): unknown {
    const name = (error as Error)?.name;
    if (name === 'ResourceNotFoundException') {
      return new StateError(
        `DynamoDB table '${this.table}' does not exist; deploy infra/state-table.yml, or point DOGEAR_DYNAMODB_TABLE at the state table`,
        { cause: error },
      );
    }
    if (name === 'AccessDeniedException' || name === 'UnrecognizedClientException') {
      return new StateError(
        `Not allowed to call dynamodb:${action} on table '${this.table}'; grant it to the function's role (dogear/serverless does) or check the credentials`,
        { cause: error },
      );
    }
    return error;
  }
}

/** A checkpoint item as read: `fp` and `tid` only when it has them. */
function checkpointOf(item: Record<string, AttributeValue>): Checkpoint {
  return {
    offset: Number(item.offset?.N ?? -1),
    version: Number(item.ver?.N ?? 0),
    ...(item.fp?.S === undefined ? {} : { fingerprint: item.fp.S }),
    ...(item.tid?.S === undefined ? {} : { topicId: item.tid.S }),
    ...progressOf({
      ...(item.out?.S === undefined ? {} : { outbox: JSON.parse(item.out.S) }),
      ...(item.up?.S === undefined ? {} : { upstream: JSON.parse(item.up.S) }),
      ...(item.att?.S === undefined ? {} : { attempt: JSON.parse(item.att.S) }),
    }),
  };
}

function checkpointUpdate(
  table: string,
  commit: Commit,
  intent: readonly ItemWrite[],
): TransactWriteItem {
  const { expectedVersion, offset, fingerprint, topicId, outbox, upstream, attempt } =
    commit.checkpoint;
  const progress = progressOf({
    ...(outbox ? { outbox } : {}),
    ...(upstream ? { upstream } : {}),
    ...(attempt ? { attempt } : {}),
  });
  const json = {
    intent: intent.length ? JSON.stringify(intent.map(intentOf)) : undefined,
    out: progress.outbox && JSON.stringify(progress.outbox),
    up: progress.upstream && JSON.stringify(progress.upstream),
    att: progress.attempt && JSON.stringify(progress.attempt),
  };
  // The transaction sizes intents and outboxes by their JSON; a checkpoint item over DynamoDB's
  // 400 KB would be refused on every delivery, so a miscount must fail loudly here instead.
  const carried = Object.values(json).reduce((n, j) => n + (j ? Buffer.byteLength(j) : 0), 0);
  if (carried > MAX_INTENT_JSON_BYTES) {
    throw new StateLimitError(
      `The intent and outbox of a commit of ${commit.partition.topic}-${commit.partition.partition} are ${carried} bytes of JSON, over the ${MAX_INTENT_JSON_BYTES} a checkpoint item holds. This is a bug in dogear; please report it`,
      { topic: commit.partition.topic, partition: commit.partition.partition },
    );
  }
  const set = ['#o = :offset', 'ver = :next'];
  const remove: string[] = [];
  // Names go through placeholders: OUT, among others, is a word DynamoDB reserves.
  const names: Record<string, string> = { '#o': 'offset' };
  const values: Record<string, AttributeValue> = {
    ':offset': { N: String(offset) },
    ':next': { N: String(expectedVersion + 1) },
  };
  // The checkpoint is what the commit says: the fingerprint is of the record at the new offset,
  // and an old one must not stay beside it (the transaction carries a known topic id on). An
  // outbox is the commit's own: the one before it was relayed before this commit was made.
  const attributes: Record<string, string | undefined> = {
    fp: fingerprint,
    tid: topicId,
    ...json,
  };
  for (const [name, text] of Object.entries(attributes)) {
    names[`#${name}`] = name;
    if (text === undefined) remove.push(`#${name}`);
    else {
      set.push(`#${name} = :${name}`);
      values[`:${name}`] = { S: text };
    }
  }
  // A checkpoint item can exist at version 0, holding only an attempt mark.
  if (expectedVersion !== 0) values[':expected'] = { N: String(expectedVersion) };
  return {
    Update: {
      TableName: table,
      Key: { pk: { S: pkOf.checkpoint(commit.partition) } },
      UpdateExpression: `SET ${set.join(', ')}${remove.length ? ` REMOVE ${remove.join(', ')}` : ''}`,
      ConditionExpression: expectedVersion === 0 ? 'attribute_not_exists(ver)' : 'ver = :expected',
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    },
  };
}

/** Where the state table is: an endpoint (DynamoDB Local) or AWS, and the table's name. */
export interface DynamoLocation {
  /** A DynamoDB endpoint URL; unset means AWS, from the region in the environment. */
  endpoint?: string;
  table: string;
  region?: string;
}

/**
 * A store for `location`. Credentials come from the environment as they are; a local endpoint
 * without any gets placeholder ones, since DynamoDB Local checks only their shape.
 */
export async function openDynamoStateStore(location: DynamoLocation): Promise<DynamoStateStore> {
  const local =
    location.endpoint !== undefined &&
    /^https?:\/\/(localhost|127\.|\[::1\])/.test(location.endpoint);
  const fromEnvironment = Boolean(process.env.AWS_ACCESS_KEY_ID);
  const api = fetchDynamoApi({
    region:
      location.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    ...(location.endpoint ? { endpoint: location.endpoint } : {}),
    ...(fromEnvironment
      ? {}
      : { credentials: local ? localCredentials : await profileCredentials() }),
  });
  const store = new DynamoStateStore({ api, table: location.table });
  if (local) await store.ensureTable();
  return store;
}

async function localCredentials() {
  return { accessKeyId: 'dogear', secretAccessKey: 'local' };
}

/** Profiles, SSO and the rest of the SDK's chain, for the CLI only: never in a Lambda bundle. */
async function profileCredentials() {
  const { fromNodeProviderChain } = await import('@aws-sdk/credential-providers');
  const provider = fromNodeProviderChain();
  return () => provider();
}
