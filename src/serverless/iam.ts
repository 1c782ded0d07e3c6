// biome-ignore-all lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub strings hold ${…} placeholders.
import type { BuiltConsumer } from '../build/index.ts';
import type { DeadLetterOptions, SchemaRegistryDeployOptions } from '../runtime/index.ts';
import { groupKeyPrefixes } from '../state/index.ts';
import { GLUE_REGISTRY_ARN } from './config.ts';
import { ServerlessConfigError } from './errors.ts';
import type { CfnValue, IamStatement, ProviderRole, ResolvedSource } from './types.ts';

/**
 * What the state store calls (src/state/dynamo/): GetItem, TransactWriteItems of Update
 * actions, PutItem and DeleteItem (ctx.once), and BatchGetItem (batched reads: a slice reading
 * ahead, `table.getMany`).
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
 * The patterns of a group's keys in the state table: each prefix the state store writes under
 * (`groupKeyPrefixes`: checkpoints `c|<group>|…`, state items `s|<group>|…`, once records
 * `o|<group>|…`) followed by `*`. A group name holds neither `|` nor IAM's wildcards `*` and `?`
 * (CONSUMER_GROUP_PATTERN), so each pattern matches that group's keys and no other group's.
 */
export function stateKeyPatterns(group: string): string[] {
  return groupKeyPrefixes(group).map((prefix) => `${prefix}*`);
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
  /** `provider.vpc` puts the function in a VPC. */
  readonly vpc?: boolean;
  /** `provider.tracing.lambda` traces the function. */
  readonly tracing?: boolean;
  /** The mapping's schema registry, which Lambda's pollers read as the function's role. */
  readonly schemaRegistry?: SchemaRegistryDeployOptions;
  /** The registries the function's own key and value codecs read writer schemas from. */
  readonly codecRegistries?: BuiltConsumer['schemaRegistries'];
  /** The topics `ctx.emit` writes (`ConsumerOptions.emits`). */
  readonly emits?: readonly string[];
  /** Where records that keep failing go (`ConsumerOptions.deadLetter`). */
  readonly deadLetter?: DeadLetterOptions;
}

/** What kind of destination a `deadLetter.to` names: a Kafka topic, an SQS queue or an S3 bucket. */
export function deadLetterKind(to: string): 'kafka' | 'sqs' | 's3' {
  if (!to.startsWith('arn:')) return 'kafka';
  return to.split(':')[2] === 'sqs' ? 'sqs' : 's3';
}

/**
 * The Kafka topics the function itself writes, through its outbox's relay: each topic it emits
 * to, and its dead letters' topic when they go to Kafka. Empty when the function writes no Kafka.
 */
export function relayTopics(consumer: Pick<ConsumerGrant, 'emits' | 'deadLetter'>): string[] {
  const topics = [...(consumer.emits ?? [])];
  const to = consumer.deadLetter?.to;
  if (to !== undefined && deadLetterKind(to) === 'kafka' && !topics.includes(to)) topics.push(to);
  return topics;
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
 * What a function in a VPC needs for its own network interfaces: the EC2 actions of the managed
 * policy AWSLambdaVPCAccessExecutionRole, which the framework attaches to its own role for
 * `provider.vpc`, without that policy's `logs:*` on every log group.
 */
const FUNCTION_NETWORK_ACTIONS = [
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
];

/**
 * The statements of one consumer's own execution role, every one on named resources but those
 * whose actions have no resource-level permissions (network interfaces, X-Ray): its log group,
 * its keys in the state table, the cluster, its topic and its group, the secrets (and their KMS
 * key) the mapping authenticates with (and the function's relay too, when it writes Kafka), its
 * output topics and dead letters, its on-failure destination, and what the provider section adds
 * to every function (a VPC, tracing). The outbox and the dead letters' attempt counts live in the
 * group's checkpoint items, so they need no key pattern of their own.
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
      const topics = relayTopics(consumer);
      if (topics.length) {
        // The relay is an idempotent producer: MSK's "produce data idempotently" use case, the
        // topics by name and WriteDataIdempotently on the cluster (its only resource).
        statements.push(
          {
            Sid: 'DogearRelayCluster',
            Effect: 'Allow',
            Action: ['kafka-cluster:Connect', 'kafka-cluster:WriteDataIdempotently'],
            Resource: [cluster],
          },
          {
            Sid: 'DogearRelayTopics',
            Effect: 'Allow',
            Action: ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData'],
            Resource: topics.map((topic) => mskResourceArn(cluster, 'topic', topic)),
          },
        );
      }
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

  if (consumer.vpc) {
    statements.push({
      Sid: 'DogearFunctionNetwork',
      Effect: 'Allow',
      Action: FUNCTION_NETWORK_ACTIONS,
      Resource: ['*'],
    });
  }
  if (consumer.tracing) {
    // What the framework adds to its own role when it traces the functions.
    statements.push({
      Sid: 'DogearXRay',
      Effect: 'Allow',
      Action: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'],
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
  }
  const registrySecrets = (consumer.schemaRegistry?.accessConfigs ?? []).map((a) => a.uri);
  if (registrySecrets.length) {
    statements.push({
      Sid: 'DogearSchemaRegistrySecrets',
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue'],
      Resource: registrySecrets,
    });
  }
  // One key for the service's secrets: the cluster's and the schema registry's.
  const key = source?.kind === 'msk' ? source.secretsKmsKeyArn : source?.kafka.secretsKmsKeyArn;
  if (key !== undefined && (secrets.length || registrySecrets.length)) {
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
  statements.push(...schemaStatements(consumer), ...deadLetterStatements(consumer));

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
 * What the relay calls to deliver dead letters outside Kafka: SendMessage on the queue, or
 * PutObject under the group's own prefix of the bucket (its objects are
 * `<group>/<topic>/<partition>/<offset>.json`), so two consumers sharing a bucket cannot
 * overwrite each other's.
 */
function deadLetterStatements(consumer: ConsumerGrant): IamStatement[] {
  const to = consumer.deadLetter?.to;
  if (to === undefined) return [];
  switch (deadLetterKind(to)) {
    case 'kafka':
      return [];
    case 'sqs':
      return [
        {
          Sid: 'DogearDeadLetterSqs',
          Effect: 'Allow',
          Action: ['sqs:SendMessage'],
          Resource: [to],
        },
      ];
    case 's3':
      return [
        {
          Sid: 'DogearDeadLetterS3',
          Effect: 'Allow',
          Action: ['s3:PutObject'],
          Resource: [`${to}/${consumer.group}/*`],
        },
      ];
  }
}

/**
 * What reading writer schemas takes. Lambda's pollers read a Glue registry as the function's
 * role: GetRegistry on it, GetSchemaVersion on it and its schemas (the grants CDK's
 * GlueSchemaRegistry adds), with the schemas' ARN built from the registry's own partition,
 * region and account. The function's Glue codecs call GetSchemaVersion: on the registry they
 * name, or on every registry of the function's account and region, never on `*`.
 */
function schemaStatements(consumer: ConsumerGrant): IamStatement[] {
  const statements: IamStatement[] = [];
  const mapping = consumer.schemaRegistry?.uri.match(GLUE_REGISTRY_ARN);
  if (mapping) {
    const [registry, partition, region, account, name] = mapping;
    statements.push(
      {
        Sid: 'DogearSchemaRegistry',
        Effect: 'Allow',
        Action: ['glue:GetRegistry'],
        Resource: [registry],
      },
      {
        Sid: 'DogearSchemaRegistryVersions',
        Effect: 'Allow',
        Action: ['glue:GetSchemaVersion'],
        Resource: [registry, `arn:${partition}:glue:${region}:${account}:schema/${name}/*`],
      },
    );
  }
  const secrets = [
    ...new Set((consumer.codecRegistries ?? []).flatMap((r) => (r.secretArn ? [r.secretArn] : []))),
  ];
  if (secrets.length) {
    statements.push({
      Sid: 'DogearRegistryCredentials',
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue'],
      Resource: secrets,
    });
  }
  const glue = (consumer.codecRegistries ?? []).filter((r) => r.wire === 'glue');
  if (glue.length) {
    // A codec without a registry name may read any registry: it takes the wildcard for all.
    const names = glue.every((r) => r.registryName)
      ? [...new Set(glue.map((r) => r.registryName!))]
      : ['*'];
    const arn = (resource: string) => ({
      'Fn::Sub': `arn:\${AWS::Partition}:glue:\${AWS::Region}:\${AWS::AccountId}:${resource}`,
    });
    statements.push({
      Sid: 'DogearGlueSchemas',
      Effect: 'Allow',
      Action: ['glue:GetSchemaVersion'],
      Resource: names.flatMap((name) => [arn(`registry/${name}`), arn(`schema/${name}/*`)]),
    });
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

/**
 * Fails at package time, naming the consumer, where IAM would fail at deploy time. IAM limits
 * the sum of a role's inline policies, so every document counts.
 */
export function checkPolicySize(consumer: string, ...documents: unknown[]): void {
  const size = documents.reduce<number>((sum, document) => sum + policySize(document), 0);
  if (size > ROLE_POLICY_LIMIT) {
    throw new ServerlessConfigError(
      `Consumer ${consumer}: its role's policy is ${size.toLocaleString('en')} characters, over IAM's ${ROLE_POLICY_LIMIT.toLocaleString('en')} for a role's inline policies; Did you name many secrets, long intrinsics or many provider.iam.role.statements? Shorten them, give the ARNs as strings, or move your statements to a managed policy (provider.iam.role.managedPolicies)`,
      { option: 'role', consumer },
    );
  }
}

interface PolicyDocument {
  readonly Version: '2012-10-17';
  readonly Statement: readonly unknown[];
}

/**
 * One consumer's own role: dogear's statements in one inline policy, the provider's
 * `provider.iam.role.statements` as written in another (their Sids are the user's, so the two
 * never clash), and the managed policies, boundary, path and tags the framework would have given
 * its own role. Not the role's name: one name cannot serve several roles.
 */
export function consumerRole(
  consumer: { readonly name: string; readonly topic: string; readonly group: string },
  statements: readonly IamStatement[],
  provider: ProviderRole,
): { Type: 'AWS::IAM::Role'; Properties: Record<string, unknown> } {
  const policies: Array<{ PolicyName: string; PolicyDocument: PolicyDocument }> = [
    {
      PolicyName: `dogear-${consumer.name}`,
      PolicyDocument: { Version: '2012-10-17', Statement: statements },
    },
  ];
  if (provider.statements.length) {
    policies.push({
      PolicyName: `dogear-${consumer.name}-provider`,
      PolicyDocument: { Version: '2012-10-17', Statement: provider.statements },
    });
  }
  checkPolicySize(consumer.name, ...policies.map((p) => p.PolicyDocument));
  return {
    Type: 'AWS::IAM::Role',
    Properties: {
      Description: `dogear consumer ${consumer.name}: topic ${consumer.topic}, group ${consumer.group}`,
      AssumeRolePolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { Service: ['lambda.amazonaws.com'] },
            Action: ['sts:AssumeRole'],
          },
        ],
      },
      Policies: policies,
      ...(provider.managedPolicies.length
        ? { ManagedPolicyArns: [...provider.managedPolicies] }
        : {}),
      ...(provider.permissionsBoundary !== undefined
        ? { PermissionsBoundary: provider.permissionsBoundary }
        : {}),
      ...(provider.path !== undefined ? { Path: provider.path } : {}),
      ...(provider.tags
        ? { Tags: Object.entries(provider.tags).map(([Key, Value]) => ({ Key, Value })) }
        : {}),
    },
  };
}

/** The parts of serverless.yml's `provider` section that shape the functions' role. */
export interface ProviderSection {
  readonly role?: unknown;
  readonly iam?: { readonly role?: unknown } | undefined;
  readonly iamRoleStatements?: unknown;
  readonly iamManagedPolicies?: unknown;
  readonly rolePermissionsBoundary?: unknown;
  readonly vpc?: unknown;
  readonly tracing?: unknown;
}

/**
 * Reads `provider` as the framework does. An existing role is what its `isExistingRoleProvided`
 * accepts (osls `lib/plugins/aws/provider.js`, Serverless v3 the same file): a string, or an
 * object with a key holding `::` (`Fn::GetAtt`, `Fn::ImportValue`, `Fn::Sub`, …); `provider.role`
 * counts too. Any other object is the role the framework builds itself
 * (`lib/plugins/aws/package/lib/merge-iam-templates.js`), from these settings, which dogear's
 * roles then carry over, older spellings included.
 */
export function providerRoleOf(provider: ProviderSection): ProviderRole {
  const role = provider.iam?.role;
  const existing =
    typeof role === 'string' ||
    (isRecord(role) && Object.keys(role).some((key) => key.includes('::'))) ||
    provider.role !== undefined;
  const settings = isRecord(role) && !existing ? role : {};
  const list = (value: unknown) => (Array.isArray(value) ? value : []);
  const boundary =
    settings.permissionsBoundary ?? settings.permissionBoundary ?? provider.rolePermissionsBoundary;
  const vpc = isRecord(provider.vpc) ? provider.vpc : {};
  const tracing = isRecord(provider.tracing) ? provider.tracing : {};
  return {
    existing,
    statements: list(settings.statements ?? provider.iamRoleStatements),
    managedPolicies: list(settings.managedPolicies ?? provider.iamManagedPolicies),
    ...(boundary !== undefined ? { permissionsBoundary: boundary as CfnValue } : {}),
    ...(settings.path !== undefined ? { path: settings.path as CfnValue } : {}),
    ...(isRecord(settings.tags) ? { tags: settings.tags as Record<string, CfnValue> } : {}),
    // The framework gives a function a VpcConfig only with both lists (compile/functions.js).
    vpc: Boolean(vpc.subnetIds && vpc.securityGroupIds),
    tracing: Boolean(tracing.lambda),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
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
