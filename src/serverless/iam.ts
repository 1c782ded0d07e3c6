import type { CfnValue, IamStatement, ResolvedSource } from './types.ts';

/**
 * What the state store calls (src/state/dynamo/): GetItem, TransactWriteItems of Update
 * actions, PutItem and DeleteItem (ctx.once). TransactWriteItems has no IAM action of its own:
 * IAM authorizes each action inside it, so UpdateItem covers the transaction's updates and
 * ConditionCheckItem a condition-only item (a read, which GetItem already grants).
 */
export const STATE_TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:ConditionCheckItem',
] as const;

/** What one consumer contributes to the policy. */
export interface ConsumerGrant {
  readonly topic: string;
  readonly group: string;
  readonly onFailure?: string;
}

/**
 * The statements the functions' role needs beyond what the framework adds, every one scoped to
 * named resources. (The framework's own MSK/Kafka statement for the ENIs of Lambda's pollers,
 * `ec2:CreateNetworkInterface`, `ec2:Describe*` and `ec2:DeleteNetworkInterface`, has `"*"`: the
 * Describe actions have no resource-level permissions, and the interfaces are created in subnets
 * and security groups the mapping discovers from the cluster at run time.)
 */
export function iamStatements(
  consumers: readonly ConsumerGrant[],
  source: ResolvedSource | undefined,
  tableArn: CfnValue,
): IamStatement[] {
  const statements: IamStatement[] = [
    {
      Sid: 'DogearStateTable',
      Effect: 'Allow',
      Action: [...STATE_TABLE_ACTIONS],
      Resource: [tableArn],
    },
  ];
  const topics = unique(consumers.map((c) => c.topic));
  const groups = unique(consumers.map((c) => c.group));

  if (source?.kind === 'msk') {
    const cluster = source.arn;
    // DescribeClusterV2 is the one MSK Serverless answers; the framework grants DescribeCluster.
    statements.push({
      Sid: 'DogearMskCluster',
      Effect: 'Allow',
      Action: ['kafka:DescribeClusterV2', 'kafka:GetBootstrapBrokers'],
      Resource: [cluster],
    });
    if (source.auth === 'IAM') {
      // What Lambda's pollers do as the execution role, per MSK's IAM access control: connect,
      // read the topics, and commit the group's offsets.
      statements.push(
        {
          Sid: 'DogearKafkaConnect',
          Effect: 'Allow',
          Action: ['kafka-cluster:Connect', 'kafka-cluster:DescribeClusterDynamicConfiguration'],
          Resource: [cluster],
        },
        {
          Sid: 'DogearKafkaTopics',
          Effect: 'Allow',
          Action: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'],
          Resource: topics.map((t) => mskResourceArn(cluster, 'topic', t)),
        },
        {
          Sid: 'DogearKafkaGroups',
          Effect: 'Allow',
          Action: ['kafka-cluster:DescribeGroup', 'kafka-cluster:AlterGroup'],
          Resource: groups.map((g) => mskResourceArn(cluster, 'group', g)),
        },
      );
      const deadLetterTopics = unique(
        consumers.flatMap((c) =>
          c.onFailure?.startsWith('kafka://') ? [c.onFailure.slice(8)] : [],
        ),
      );
      if (deadLetterTopics.length) {
        statements.push({
          Sid: 'DogearKafkaOnFailure',
          Effect: 'Allow',
          Action: ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData'],
          Resource: deadLetterTopics.map((t) => mskResourceArn(cluster, 'topic', t)),
        });
      }
    }
  }

  const secrets = source ? secretsOf(source) : [];
  if (secrets.length) {
    statements.push({
      Sid: 'DogearKafkaSecrets',
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue'],
      Resource: secrets,
    });
  }

  const destinations = unique(consumers.flatMap((c) => (c.onFailure ? [c.onFailure] : [])));
  const of = (service: string) => destinations.filter((d) => d.split(':')[2] === service);
  if (of('sqs').length) {
    statements.push({
      Sid: 'DogearOnFailureSqs',
      Effect: 'Allow',
      Action: ['sqs:SendMessage'],
      Resource: of('sqs'),
    });
  }
  if (of('sns').length) {
    statements.push({
      Sid: 'DogearOnFailureSns',
      Effect: 'Allow',
      Action: ['sns:Publish'],
      Resource: of('sns'),
    });
  }
  if (of('s3').length) {
    statements.push(
      {
        Sid: 'DogearOnFailureS3Objects',
        Effect: 'Allow',
        Action: ['s3:PutObject'],
        Resource: of('s3').map((b) => `${b}/*`),
      },
      {
        Sid: 'DogearOnFailureS3Buckets',
        Effect: 'Allow',
        Action: ['s3:ListBucket'],
        Resource: of('s3'),
      },
    );
  }
  return statements;
}

/**
 * A topic's or group's ARN under an MSK cluster: `arn:…:cluster/<name>/<uuid>` gives
 * `arn:…:topic/<name>/<uuid>/<topic>`. A cluster ARN from an intrinsic is split by CloudFormation.
 */
export function mskResourceArn(cluster: CfnValue, kind: 'topic' | 'group', name: string): CfnValue {
  if (typeof cluster === 'string') return `${cluster.replace(':cluster/', `:${kind}/`)}/${name}`;
  const part = (i: number) => ({ 'Fn::Select': [i, { 'Fn::Split': [':cluster/', cluster] }] });
  // Variable names no template is likely to use as a logical id.
  return {
    'Fn::Sub': [
      `\${DogearClusterArnPrefix}:${kind}/\${DogearClusterPath}/${name}`,
      { DogearClusterArnPrefix: part(0), DogearClusterPath: part(1) },
    ],
  };
}

function secretsOf(source: ResolvedSource): CfnValue[] {
  if (source.kind === 'msk') return source.secretArn !== undefined ? [source.secretArn] : [];
  const k = source.kafka;
  return [
    k.saslScram512SecretArn,
    k.saslScram256SecretArn,
    k.saslPlainSecretArn,
    k.clientCertificateSecretArn,
    k.serverRootCaSecretArn,
  ].filter((s): s is CfnValue => s !== undefined);
}

function unique<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}
