import type { CfnValue, CloudFormationTemplate, ServiceContext, TableOptions } from './types.ts';

/** The logical id of the table dogear adds to the stack. */
export const STATE_TABLE_LOGICAL_ID = 'DogearStateTable';

/** The state table as the functions and the IAM policy see it, and what the stack gains. */
export interface TablePlan {
  /** What `DOGEAR_DYNAMODB_TABLE` is set to. */
  readonly name: CfnValue;
  /** What the IAM statement is scoped to. */
  readonly arn: CfnValue;
  readonly resources: CloudFormationTemplate['Resources'];
  readonly outputs: Record<string, unknown>;
}

/**
 * The table: a new one shaped like infra/state-table.yml (one string HASH key `pk`, on-demand,
 * TTL on `ttl`, point-in-time recovery, encrypted, kept on stack deletion), or an existing one by
 * name or ARN. A new table has a fixed name, so a stack deleted and deployed again fails on the
 * kept table instead of silently starting from empty state behind Kafka's committed offsets.
 */
export function planTable(options: TableOptions | undefined, service: ServiceContext): TablePlan {
  if (options?.name !== undefined) {
    return {
      name: options.name,
      arn: {
        'Fn::Sub': `arn:\${AWS::Partition}:dynamodb:\${AWS::Region}:\${AWS::AccountId}:table/${options.name}`,
      },
      resources: {},
      outputs: {},
    };
  }
  if (options?.arn !== undefined) {
    const arn = options.arn;
    return {
      // DynamoDB takes a table's name; the name is the ARN's last part.
      name:
        typeof arn === 'string'
          ? arn.slice(arn.lastIndexOf('/') + 1)
          : { 'Fn::Select': [1, { 'Fn::Split': ['/', arn] }] },
      arn,
      resources: {},
      outputs: {},
    };
  }
  const name = `${service.service}-${service.stage}-state`;
  const policy = options?.retain === false ? 'Delete' : 'Retain';
  return {
    name,
    arn: { 'Fn::GetAtt': [STATE_TABLE_LOGICAL_ID, 'Arn'] },
    resources: {
      [STATE_TABLE_LOGICAL_ID]: {
        Type: 'AWS::DynamoDB::Table',
        DeletionPolicy: policy,
        UpdateReplacePolicy: policy,
        Properties: {
          TableName: name,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
          TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          SSESpecification: { SSEEnabled: true },
        },
      },
    },
    outputs: {
      DogearStateTableName: {
        Description: "dogear's state table: DOGEAR_DYNAMODB_TABLE of every consumer",
        Value: { Ref: STATE_TABLE_LOGICAL_ID },
      },
      DogearStateTableArn: { Value: { 'Fn::GetAtt': [STATE_TABLE_LOGICAL_ID, 'Arn'] } },
    },
  };
}
