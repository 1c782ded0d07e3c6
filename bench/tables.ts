/** The baseline's plain DynamoDB tables, made and read through the SDK as its users would. */
import {
  type AttributeValue,
  CreateTableCommand,
  type DynamoDBClient,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';

export async function createTable(
  client: DynamoDBClient,
  table: string,
  key: string,
): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: table,
      AttributeDefinitions: [{ AttributeName: key, AttributeType: 'S' }],
      KeySchema: [{ AttributeName: key, KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
}

export async function* scanAll(
  client: DynamoDBClient,
  table: string,
): AsyncGenerator<Record<string, AttributeValue>> {
  let start: Record<string, AttributeValue> | undefined;
  do {
    const out = await client.send(
      new ScanCommand({ TableName: table, ConsistentRead: true, ExclusiveStartKey: start }),
    );
    yield* out.Items ?? [];
    start = out.LastEvaluatedKey;
  } while (start);
}

/** Fails unless a Powertools idempotency table holds exactly `records` COMPLETED items. */
export async function assertAllCompleted(
  client: DynamoDBClient,
  table: string,
  records: number,
  label: string,
): Promise<void> {
  let completed = 0;
  for await (const item of scanAll(client, table)) {
    if (item.status?.S !== 'COMPLETED') {
      throw new Error(
        `${label}: idempotency item ${item.id?.S} is ${item.status?.S}, not COMPLETED`,
      );
    }
    completed++;
  }
  if (completed !== records) {
    throw new Error(`${label}: ${completed} COMPLETED idempotency items, expected ${records}`);
  }
}

/**
 * A baseline table as `key → number`: the string `key` attribute of each item, and its number
 * attribute `value` (1 for each item when `value` is not given: a set).
 */
export async function readNumbers(
  client: DynamoDBClient,
  table: string,
  key: string,
  value?: string,
): Promise<Map<string, number>> {
  const rows = new Map<string, number>();
  for await (const item of scanAll(client, table)) {
    rows.set(item[key]!.S!, value ? Number(item[value]!.N) : 1);
  }
  return rows;
}
