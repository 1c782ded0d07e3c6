// biome-ignore-all lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub strings hold ${…} placeholders.
import { ServerlessConfigError } from './errors.ts';
import type { CfnValue, IamStatement, ResolvedSource } from './types.ts';

/**
 * What the state store calls (src/state/dynamo/): GetItem, TransactWriteItems of Update
 * actions, PutItem and DeleteItem (ctx.once), and BatchGetItem for the batched reads to come.
 * TransactWriteItems has no IAM action of its own: IAM authorizes each action inside it, so
 * UpdateItem covers the transaction's updates and ConditionCheckItem a condition-only item.
 */
export const STATE_TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:ConditionCheckItem',
] as const;

/**
 * The prefixes of a group's keys in the state table (src/state/dynamo/items.ts): checkpoints
 * `c|<group>|…`, state items `s|<group>|…`, once records `o|<group>|…`. A group name holds
 * neither `|` nor IAM's wildcards `*` and `?` (CONSUMER_GROUP_PATTERN), so each pattern matches
 * that group's keys and no other group's.
 */
export function stateKeyPatterns(group: string): string[] {
  return ['c', 's', 'o'].map((kind) => `${kind}|${group}|*`);
}

/** IAM's limit on the inline policies of one role, in characters without whitespace. */
export const ROLE_POLICY_LIMIT = 10_240;

/** What one consumer's role is scoped to. */
export interface ConsumerGrant {
  readonly name: string;
  /** The Lambda function's name: its log group is `/aws/lambda/<functionName>`. */
  readonly functionName: string;
  readonly topic: string;
  readonly group: string;
  readonly onFailure?: string;
}

/** The ENI actions of Lambda's pollers in a VPC: the only `*`, since Describe* has no resource-level permissions. */
const NETWORK_INTERFACE_ACTIONS = [
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeVpcs',
  'ec2:DeleteNetworkInterface',
  'ec2:DescribeSubnets',
  'ec2:DescribeSecurityGroups',
];

/**
 * The statements of one consumer's own execution role, every one on named resources but the
 * pollers' network interfaces: its log group, its keys in the state table, the cluster, its
 * topic and its group, the secrets (and their KMS key) the mapping authenticates with, and its
 * on-failure destination.
 */
export function consumerStatements(
  consumer: ConsumerGrant,
  source: ResolvedSource | undefined,
  tableArn: CfnValue,
): IamStatement[] {
  const logGroup = `arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/lambda/${consumer.functionName}`;
  const statements: IamStatement[] = [
    {
      Sid: 'DogearLogs',
      Effect: 'Allow',
      Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      Resource: [{ 'Fn::Sub': `${logGroup}:*` }],
    },
    {
      Sid: 'DogearStateTable',
      Effect: 'Allow',
      Action: [...STATE_TABLE_ACTIONS],
      Resource: [tableArn],
      // Every key of every item the call touches must be one of this group's.
      Condition: {
        'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': stateKeyPatterns(consumer.group) },
      },
    },
  ];

  if (source?.kind === 'msk') {
    const cluster = source.arn;
    statements.push(
      {
        // DescribeClusterV2 is the one MSK Serverless answers; DescribeCluster the provisioned one.
        Sid: 'DogearMskCluster',
        Effect: 'Allow',
        Action: ['kafka:DescribeCluster', 'kafka:DescribeClusterV2', 'kafka:GetBootstrapBrokers'],
        Resource: [cluster],
      },
      {
        Sid: 'DogearPollerNetwork',
        Effect: 'Allow',
        Action: NETWORK_INTERFACE_ACTIONS,
        Resource: ['*'],
      },
    );
    if (source.auth === 'IAM') {
      // What Lambda's pollers do as the execution role, per MSK's IAM access control: connect,
      // read the topic, and commit the group's offsets.
      statements.push(
        {
          Sid: 'DogearKafkaConnect',
          Effect: 'Allow',
          Action: ['kafka-cluster:Connect', 'kafka-cluster:DescribeClusterDynamicConfiguration'],
          Resource: [cluster],
        },
        {
          Sid: 'DogearKafkaTopic',
          Effect: 'Allow',
          Action: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'],
          Resource: [mskResourceArn(cluster, 'topic', consumer.topic)],
        },
        {
          Sid: 'DogearKafkaGroup',
          Effect: 'Allow',
          Action: ['kafka-cluster:DescribeGroup', 'kafka-cluster:AlterGroup'],
          Resource: [mskResourceArn(cluster, 'group', consumer.group)],
        },
      );
      if (consumer.onFailure?.startsWith('kafka://')) {
        statements.push({
          Sid: 'DogearKafkaOnFailure',
          Effect: 'Allow',
          Action: ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData'],
          Resource: [mskResourceArn(cluster, 'topic', consumer.onFailure.slice('kafka://'.length))],
        });
      }
    }
  } else if (source?.kafka.vpc) {
    statements.push({
      Sid: 'DogearPollerNetwork',
      Effect: 'Allow',
      Action: NETWORK_INTERFACE_ACTIONS,
      Resource: ['*'],
    });
  }

  const secrets = source ? secretsOf(source) : [];
  if (secrets.length) {
    statements.push({
      Sid: 'DogearKafkaSecrets',
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue'],
      Resource: secrets,
    });
    const key = source?.kind === 'msk' ? source.secretsKmsKeyArn : source?.kafka.secretsKmsKeyArn;
    if (key !== undefined) {
      statements.push({
        Sid: 'DogearKafkaSecretsKey',
        Effect: 'Allow',
        Action: ['kms:Decrypt'],
        Resource: [key],
        // Only as Secrets Manager decrypts the secrets for the pollers, not for any ciphertext.
        Condition: {
          StringEquals: {
            'kms:ViaService': { 'Fn::Sub': 'secretsmanager.${AWS::Region}.amazonaws.com' },
          },
        },
      });
    }
  }

  const destination = consumer.onFailure;
  const service = destination?.startsWith('arn:') ? destination.split(':')[2] : undefined;
  if (destination && service === 'sqs') {
    statements.push({
      Sid: 'DogearOnFailureSqs',
      Effect: 'Allow',
      Action: ['sqs:SendMessage'],
      Resource: [destination],
    });
  } else if (destination && service === 'sns') {
    statements.push({
      Sid: 'DogearOnFailureSns',
      Effect: 'Allow',
      Action: ['sns:Publish'],
      Resource: [destination],
    });
  } else if (destination && service === 's3') {
    statements.push(
      {
        Sid: 'DogearOnFailureS3Objects',
        Effect: 'Allow',
        Action: ['s3:PutObject'],
        Resource: [`${destination}/*`],
      },
      {
        Sid: 'DogearOnFailureS3Bucket',
        Effect: 'Allow',
        Action: ['s3:ListBucket'],
        Resource: [destination],
      },
    );
  }
  return statements;
}

/**
 * The logical id of a consumer's role: the framework's own escaping of `-` (`Dash`), so two
 * consumer names never give one id.
 */
export function roleLogicalId(consumer: string): string {
  const normalized = consumer.replace(/-/g, 'Dash');
  return `Dogear${normalized.charAt(0).toUpperCase()}${normalized.slice(1)}Role`;
}

/**
 * A policy document's size as IAM counts it (JSON without whitespace). An intrinsic counts at
 * its written length, which is longer than the ARN CloudFormation resolves it to: the check errs
 * on the safe side.
 */
export function policySize(document: unknown): number {
  return JSON.stringify(document).length;
}

/** Fails at package time, naming the consumer, where IAM would fail at deploy time. */
export function checkPolicySize(consumer: string, document: unknown): void {
  const size = policySize(document);
  if (size > ROLE_POLICY_LIMIT) {
    throw new ServerlessConfigError(
      `Consumer ${consumer}: its role's policy is ${size.toLocaleString('en')} characters, over IAM's ${ROLE_POLICY_LIMIT.toLocaleString('en')} for a role's inline policies; Did you give it many filter patterns, secrets or long intrinsics? Shorten them, or give the ARNs as strings`,
      { option: 'role', consumer },
    );
  }
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
