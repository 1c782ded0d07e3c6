/** Table administration: creating the state table locally, scanning and clearing a group. */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { backoff } from '../../backoff.ts';
import { BatchWriteItem, CreateTable, type DynamoApi, Scan, UpdateTimeToLive } from './api.ts';

/** Runs one call, turning a missing table or permission into an error that says so. */
export type Call = <T>(action: string, send: () => Promise<T>) => Promise<T>;

/** Creates the table (TTL on `ttl`); for local endpoints, not for AWS. */
export async function createStateTable(api: DynamoApi, table: string): Promise<void> {
  await api.send(
    CreateTable({
      TableName: table,
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  await api.send(
    UpdateTimeToLive({
      TableName: table,
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
    }),
  );
}

/** Every item whose `pk` starts with `prefix`: a filtered, consistent `Scan`, for tools only. */
export async function* scanPrefix(
  api: DynamoApi,
  call: Call,
  table: string,
  prefix: string,
): AsyncGenerator<Record<string, AttributeValue>> {
  let start: Record<string, AttributeValue> | undefined;
  do {
    const out = await call('Scan', () =>
      api.send(
        Scan({
          TableName: table,
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

/** Deletes every item under each prefix, 25 a call, retrying what DynamoDB leaves unprocessed. */
export async function deletePrefixes(
  api: DynamoApi,
  call: Call,
  table: string,
  prefixes: readonly string[],
): Promise<void> {
  for (const prefix of prefixes) {
    let batch: string[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const requests = batch.map((pk) => ({ DeleteRequest: { Key: { pk: { S: pk } } } }));
      let pending: typeof requests | undefined = requests;
      for (let attempt = 0; pending && pending.length > 0; attempt++) {
        const out = await call('BatchWriteItem', () =>
          api.send(BatchWriteItem({ RequestItems: { [table]: pending! } })),
        );
        pending = out.UnprocessedItems?.[table] as typeof requests | undefined;
        if (pending?.length) await backoff(attempt);
      }
      batch = [];
    };
    for await (const item of scanPrefix(api, call, table, prefix)) {
      batch.push(item.pk!.S!);
      if (batch.length === 25) await flush();
    }
    await flush();
  }
}
