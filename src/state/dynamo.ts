import type { AttributeValue, TransactWriteItem } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import {
  BatchWriteItem,
  CreateTable,
  DeleteItem,
  DescribeTable,
  type DynamoApi,
  fetchDynamoApi,
  GetItem,
  PutItem,
  Scan,
  TransactWriteItems,
  UpdateItem,
  UpdateTimeToLive,
} from './dynamo-api.ts';
import { StateConflictError, StateError, StateLimitError, StateTypeError } from './errors.ts';
import {
  ABSENT,
  type Change,
  type Checkpoint,
  type Commit,
  type CommitLimits,
  DYNAMODB_LIMITS,
  type ItemWrite,
  NO_CHECKPOINT,
  type OnceClaim,
  type OnceKey,
  type PartitionRef,
  type StateStore,
  type StoredItem,
} from './types.ts';

/**
 * The table's items; one partition key `pk`, so each item spreads on its own:
 *   checkpoint  `c|<group>|<topic>|<partition>`  offset, ver
 *   state item  `s|<group>|<table>|<key>`        v (the value, native DynamoDB types), ver, del
 *   once        `o|<group>|<topic>|<partition>|<offset>|<name>`  done, r (JSON), ttl
 * Group and table names never hold `|`, so every prefix is unambiguous. See docs/state.md.
 */
const pkOf = {
  checkpoint: (p: PartitionRef) => `c|${p.group}|${p.topic}|${p.partition}`,
  item: (group: string, table: string, key: string) => `s|${group}|${table}|${key}`,
  once: (k: OnceKey) => `o|${k.group}|${k.topic}|${k.partition}|${k.offset}|${k.name}`,
};

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
    const checkpoint = { offset: Number(item.offset?.N ?? -1), version: Number(item.ver?.N ?? 0) };
    // A commit whose intent was not applied yet (its process died): finish it before anyone
    // reads state behind this checkpoint.
    if (item.intent?.S) {
      await this.applyIntent(ref, checkpoint, JSON.parse(item.intent.S) as IntentWrite[]);
    }
    return checkpoint;
  }

  async readItem(group: string, table: string, key: string): Promise<StoredItem> {
    const item = await this.get(pkOf.item(group, table, key), 'GetItem');
    if (!item) return ABSENT;
    const version = Number(item.ver?.N ?? 0);
    if (item.del?.BOOL || item.v === undefined) return { value: undefined, version, exists: false };
    return { value: unmarshall({ v: item.v }).v, version, exists: true };
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
    // The same token on a retry makes DynamoDB apply the transaction once, not twice.
    const input = { TransactItems: items, ClientRequestToken: crypto.randomUUID() };
    for (let attempt = 0; ; attempt++) {
      try {
        await this.call('TransactWriteItems', () => this.api.send(TransactWriteItems(input)));
        return;
      } catch (error) {
        const reasons = cancellationReasons(error);
        if (!reasons) throw addedToNonNumber(error, writes) ?? error;
        const failed = reasons.map((r) => r.Code ?? 'None');
        if (
          failed[0] === 'ConditionalCheckFailed' ||
          failed.slice(1).includes('ConditionalCheckFailed')
        ) {
          const stale = writes.filter((_, i) => failed[i + 1] === 'ConditionalCheckFailed');
          throw new StateConflictError(
            failed[0] === 'ConditionalCheckFailed'
              ? `Checkpoint of ${commit.partition.group} ${commit.partition.topic}-${commit.partition.partition} moved: another invocation committed first`
              : `Items changed since they were read: ${stale.map((w) => `${w.table}/${w.key}`).join(', ')}`,
            stale.map(({ table, key }) => ({ table, key })),
            failed[0] === 'ConditionalCheckFailed',
            { cause: error },
          );
        }
        if (failed.includes('ValidationError')) {
          const at = failed.indexOf('ValidationError');
          const write = at > 0 ? writes[at - 1] : undefined;
          const message = reasons[at]?.Message ?? '';
          if (write?.change.op === 'add') {
            throw new StateTypeError(
              `Cannot add to ${write.table}/${write.key}: it does not hold a number (${message})`,
              { cause: error },
            );
          }
          throw new StateLimitError(
            `DynamoDB rejected ${write ? `${write.table}/${write.key}` : 'the commit'}: ${message}`,
            { cause: error },
          );
        }
        const transient = failed.every(
          (c) =>
            c === 'None' ||
            c === 'TransactionConflict' ||
            c === 'ThrottlingError' ||
            c === 'ProvisionedThroughputExceeded',
        );
        if (!transient || attempt >= this.maxRetries) {
          throw new StateError(
            `Commit of ${commit.partition.topic}-${commit.partition.partition} cancelled (${failed.join(', ')}) after ${attempt + 1} attempts; nothing was written`,
            { cause: error },
          );
        }
        await jitter(attempt);
      }
    }
  }

  /**
   * Applies a committed intent in transactions of up to 100 items. Each item remembers, per
   * partition, the offset of the last intent it took (`a|<topic>|<partition>`), so an item that
   * already took this one fails its condition and is left out: a retry, a recovering process and
   * a zombie can all apply the same intent, and it lands once.
   */
  protected async applyIntent(ref: PartitionRef, checkpoint: Checkpoint, writes: IntentWrite[]) {
    let pending = writes;
    for (let attempt = 0; pending.length > 0; ) {
      const chunk = pending.slice(0, 100);
      const items = chunk.map((w) => intentUpdate(this.table, ref, checkpoint.offset, w));
      try {
        await this.call('TransactWriteItems', () =>
          this.api.send(
            TransactWriteItems({
              TransactItems: items,
              ClientRequestToken: crypto.randomUUID(),
            }),
          ),
        );
        pending = pending.slice(chunk.length);
      } catch (error) {
        const reasons = cancellationReasons(error);
        if (!reasons) {
          throw (
            addedToNonNumber(
              error,
              chunk.map(([table, key, op]) => ({ table, key, change: { op } as Change })),
            ) ?? error
          );
        }
        const codes = reasons.map((r) => r.Code ?? 'None');
        if (codes.includes('ConditionalCheckFailed')) {
          const applied = new Set(chunk.filter((_, i) => codes[i] === 'ConditionalCheckFailed'));
          pending = pending.filter((w) => !applied.has(w));
          continue;
        }
        const invalid = codes.indexOf('ValidationError');
        if (invalid >= 0) {
          const [table, key] = chunk[invalid]!;
          throw new StateTypeError(
            `Cannot apply the commit of ${ref.topic}-${ref.partition} up to offset ${checkpoint.offset}: DynamoDB rejected ${table}/${key} (${reasons[invalid]?.Message ?? ''}); it must hold a number to be added to`,
            { cause: error },
          );
        }
        if (++attempt > this.maxRetries) throw error;
        await jitter(attempt);
      }
    }
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

  async scanTable(group: string, table: string): Promise<Map<string, unknown>> {
    const prefix = pkOf.item(group, table, '');
    const rows = new Map<string, unknown>();
    for await (const item of this.scan(prefix)) {
      if (item.del?.BOOL || item.v === undefined) continue;
      rows.set(item.pk!.S!.slice(prefix.length), unmarshall({ v: item.v }).v);
    }
    return rows;
  }

  async scanCheckpoints(group: string): Promise<Array<PartitionRef & Checkpoint>> {
    const found: Array<PartitionRef & Checkpoint> = [];
    for await (const item of this.scan(`c|${group}|`)) {
      const [, , topic, partition] = item.pk!.S!.split('|');
      found.push({
        group,
        topic: topic!,
        partition: Number(partition),
        offset: Number(item.offset?.N),
        version: Number(item.ver?.N),
      });
    }
    return found.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
  }

  async reset(group: string): Promise<void> {
    for (const prefix of [`c|${group}|`, `s|${group}|`, `o|${group}|`]) {
      let batch: string[] = [];
      const flush = async () => {
        if (batch.length === 0) return;
        const requests = batch.map((pk) => ({ DeleteRequest: { Key: { pk: { S: pk } } } }));
        let pending: typeof requests | undefined = requests;
        for (let attempt = 0; pending && pending.length > 0; attempt++) {
          const out = await this.call('BatchWriteItem', () =>
            this.api.send(BatchWriteItem({ RequestItems: { [this.table]: pending! } })),
          );
          pending = out.UnprocessedItems?.[this.table] as typeof requests | undefined;
          if (pending?.length) await jitter(attempt);
        }
        batch = [];
      };
      for await (const item of this.scan(prefix)) {
        batch.push(item.pk!.S!);
        if (batch.length === 25) await flush();
      }
      await flush();
    }
  }

  private async *scan(prefix: string): AsyncGenerator<Record<string, AttributeValue>> {
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await this.call('Scan', () =>
        this.api.send(
          Scan({
            TableName: this.table,
            FilterExpression: 'begins_with(pk, :p)',
            ExpressionAttributeValues: { ':p': { S: prefix } },
            ConsistentRead: true,
            ExclusiveStartKey: start,
          }),
        ),
      );
      yield* out.Items ?? [];
      start = out.LastEvaluatedKey;
    } while (start);
  }

  async claimOnce(key: OnceKey, expiresAt: number): Promise<OnceClaim> {
    try {
      await this.call('PutItem', () =>
        this.api.send(
          PutItem({
            TableName: this.table,
            Item: {
              pk: { S: pkOf.once(key) },
              done: { BOOL: false },
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
      if (!item) return this.claimOnce(key, expiresAt); // released between our put and get
      return item.done?.BOOL
        ? {
            claimed: false,
            done: true,
            result: item.r?.S === undefined ? undefined : JSON.parse(item.r.S),
          }
        : { claimed: false, done: false };
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
    await this.api.send(
      CreateTable({
        TableName: this.table,
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    await this.api.send(
      UpdateTimeToLive({
        TableName: this.table,
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      }),
    );
    return 'created';
  }

  /** Runs one DynamoDB call and turns a missing table or permission into an error that says so. */
  private async call<T>(action: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      throw this.explain(action, error);
    }
  }

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

function checkpointUpdate(
  table: string,
  commit: Commit,
  intent: readonly ItemWrite[],
): TransactWriteItem {
  const { expectedVersion, offset } = commit.checkpoint;
  return {
    Update: {
      TableName: table,
      Key: { pk: { S: pkOf.checkpoint(commit.partition) } },
      UpdateExpression: intent.length
        ? 'SET #o = :offset, ver = :next, intent = :intent'
        : 'SET #o = :offset, ver = :next REMOVE intent',
      ConditionExpression: expectedVersion === 0 ? 'attribute_not_exists(pk)' : 'ver = :expected',
      ExpressionAttributeNames: { '#o': 'offset' },
      ExpressionAttributeValues: {
        ':offset': { N: String(offset) },
        ':next': { N: String(expectedVersion + 1) },
        ...(expectedVersion === 0 ? {} : { ':expected': { N: String(expectedVersion) } }),
        ...(intent.length ? { ':intent': { S: JSON.stringify(intent.map(intentOf)) } } : {}),
      },
    },
  };
}

function itemUpdate(table: string, group: string, write: ItemWrite): TransactWriteItem {
  const values: Record<string, AttributeValue> = { ':one': { N: '1' } };
  let expression: string;
  const { change } = write;
  if (change.op === 'add') {
    values[':d'] = { N: String(change.delta) };
    expression = 'ADD v :d, ver :one REMOVE del';
  } else {
    values[':zero'] = { N: '0' };
    if (change.op === 'put') {
      values[':v'] = marshall(
        { v: change.value },
        { removeUndefinedValues: true, convertClassInstanceToMap: true },
      ).v!;
      expression = 'SET v = :v, ver = if_not_exists(ver, :zero) + :one REMOVE del';
    } else {
      values[':true'] = { BOOL: true };
      expression = 'SET del = :true, ver = if_not_exists(ver, :zero) + :one REMOVE v';
    }
  }
  let condition: string | undefined;
  if (write.expectedVersion === 0) condition = 'attribute_not_exists(pk)';
  else if (write.expectedVersion !== undefined) {
    condition = 'ver = :expected';
    values[':expected'] = { N: String(write.expectedVersion) };
  }
  return {
    Update: {
      TableName: table,
      Key: { pk: { S: pkOf.item(group, write.table, write.key) } },
      UpdateExpression: expression,
      ExpressionAttributeValues: values,
      ...(condition ? { ConditionExpression: condition } : {}),
    },
  };
}

/** A blind write as the checkpoint item carries it: `[table, key, op, value or delta]`. */
export type IntentWrite = [table: string, key: string, op: Change['op'], operand?: unknown];

function intentOf(write: ItemWrite): IntentWrite {
  const { table, key, change } = write;
  if (change.op === 'put') return [table, key, 'put', change.value];
  if (change.op === 'add') return [table, key, 'add', change.delta];
  return [table, key, 'delete'];
}

function intentUpdate(
  table: string,
  ref: PartitionRef,
  offset: number,
  [itemTable, key, op, operand]: IntentWrite,
): TransactWriteItem {
  const values: Record<string, AttributeValue> = {
    ':one': { N: '1' },
    ':off': { N: String(offset) },
  };
  let expression: string;
  if (op !== 'add') values[':zero'] = { N: '0' };
  if (op === 'add') {
    values[':d'] = { N: String(operand) };
    expression = 'ADD v :d, ver :one SET #a = :off REMOVE del';
  } else if (op === 'put') {
    values[':v'] = marshall(
      { v: operand },
      { removeUndefinedValues: true, convertClassInstanceToMap: true },
    ).v!;
    expression = 'SET v = :v, ver = if_not_exists(ver, :zero) + :one, #a = :off REMOVE del';
  } else {
    values[':true'] = { BOOL: true };
    expression = 'SET del = :true, ver = if_not_exists(ver, :zero) + :one, #a = :off REMOVE v';
  }
  return {
    Update: {
      TableName: table,
      Key: { pk: { S: pkOf.item(ref.group, itemTable, key) } },
      UpdateExpression: expression,
      ConditionExpression: 'attribute_not_exists(#a) OR #a < :off',
      ExpressionAttributeNames: { '#a': `a|${ref.topic}|${ref.partition}` },
      ExpressionAttributeValues: values,
    },
  };
}

/**
 * DynamoDB rejects a whole transaction, without naming the item, when `ADD` meets a value that
 * is not a number; name the items that add.
 */
function addedToNonNumber(
  error: unknown,
  writes: readonly ItemWrite[],
): StateTypeError | undefined {
  if (!/incorrect data type/.test((error as Error)?.message ?? '')) return undefined;
  const adds = writes.filter((w) => w.change.op === 'add').map((w) => `${w.table}/${w.key}`);
  return new StateTypeError(
    `Cannot add to an item that does not hold a number: one of ${adds.slice(0, 10).join(', ')}${adds.length > 10 ? ` and ${adds.length - 10} more` : ''}; nothing of this commit was written`,
    { cause: error },
  );
}

function cancellationReasons(
  error: unknown,
): Array<{ Code?: string; Message?: string }> | undefined {
  if ((error as Error)?.name !== 'TransactionCanceledException') return undefined;
  return (
    (error as { CancellationReasons?: Array<{ Code?: string; Message?: string }> })
      .CancellationReasons ?? []
  );
}

function jitter(attempt: number): Promise<void> {
  const ceiling = Math.min(2000, 25 * 2 ** attempt);
  return new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
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
