import type { TestProject } from 'vitest/node';
import { startDynamoDbLocal } from '../../infra/dynamodb-local.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    dynamodbEndpoint: string;
  }
}

/** One DynamoDB Local for the whole run; each test file makes its own tables. */
export default async function setup(project: TestProject) {
  const started = performance.now();
  const local = await startDynamoDbLocal();
  process.stderr.write(
    `DynamoDB Local on ${local.endpoint} (${Math.round(performance.now() - started)} ms)\n`,
  );
  project.provide('dynamodbEndpoint', local.endpoint);
  return () => local.stop();
}
