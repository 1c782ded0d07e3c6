// biome-ignore-all lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub strings hold ${…} placeholders.
import { describe, expect, it } from 'vitest';
import { pkOf } from '../state/index.ts';
import { ServerlessConfigError } from './errors.ts';
import {
  checkPolicySize,
  consumerStatements,
  mskResourceArn,
  providerRoleOf,
  ROLE_POLICY_LIMIT,
  roleLogicalId,
  stateKeyPatterns,
} from './iam.ts';

const ARN =
  'arn:aws:kafka:us-east-1:123456789012:cluster/events/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-2';
const TABLE = 'arn:aws:dynamodb:us-east-1:123456789012:table/state';
const wordCount = {
  name: 'word-count',
  functionName: 'svc-dev-word-count',
  topic: 'book-pages',
  group: 'word-count',
};
const bySid = (statements: ReturnType<typeof consumerStatements>) =>
  Object.fromEntries(statements.map((s) => [s.Sid, s]));

describe('consumerStatements', () => {
  it("scopes MSK IAM auth to the cluster, the consumer's topic, its group and its keys", () => {
    const statements = consumerStatements(wordCount, { kind: 'msk', arn: ARN, auth: 'IAM' }, TABLE);
    const sid = bySid(statements);
    expect(sid.DogearStateTable).toEqual({
      Sid: 'DogearStateTable',
      Effect: 'Allow',
      Action: [
        'dynamodb:GetItem',
        'dynamodb:BatchGetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:DeleteItem',
        'dynamodb:ConditionCheckItem',
      ],
      Resource: [TABLE],
      Condition: {
        'ForAllValues:StringLike': {
          'dynamodb:LeadingKeys': ['c|word-count|*', 's|word-count|*', 'o|word-count|*'],
        },
      },
    });
    expect(sid.DogearKafkaTopic?.Resource).toEqual([
      'arn:aws:kafka:us-east-1:123456789012:topic/events/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-2/book-pages',
    ]);
    expect(sid.DogearKafkaGroup?.Resource).toEqual([
      'arn:aws:kafka:us-east-1:123456789012:group/events/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-2/word-count',
    ]);
    expect(sid.DogearLogs?.Resource).toEqual([
      {
        'Fn::Sub':
          'arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/svc-dev-word-count:*',
      },
    ]);
    // The only `*`: the pollers' network interfaces.
    for (const s of statements) {
      if (s.Resource.includes('*')) expect(s.Sid).toBe('DogearPollerNetwork');
    }
  });

  it('grants no kafka-cluster actions without IAM auth, and reads the secret instead', () => {
    const secret = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:AmazonMSK_x-AbCdEf';
    const statements = consumerStatements(
      wordCount,
      { kind: 'msk', arn: ARN, auth: 'SASL_SCRAM', secretArn: secret },
      TABLE,
    );
    expect(statements.flatMap((s) => s.Action).some((a) => a.startsWith('kafka-cluster:'))).toBe(
      false,
    );
    expect(bySid(statements).DogearKafkaSecrets?.Resource).toEqual([secret]);
    expect(bySid(statements).DogearKafkaSecretsKey).toBeUndefined();
  });

  it('grants kms:Decrypt on the secrets key, through Secrets Manager only', () => {
    const key = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const statements = consumerStatements(
      wordCount,
      {
        kind: 'kafka',
        kafka: {
          bootstrapServers: ['b-1:9096'],
          saslScram512SecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-AbCdEf',
          secretsKmsKeyArn: key,
        },
      },
      TABLE,
    );
    expect(bySid(statements).DogearKafkaSecretsKey).toEqual({
      Sid: 'DogearKafkaSecretsKey',
      Effect: 'Allow',
      Action: ['kms:Decrypt'],
      Resource: [key],
      Condition: {
        StringEquals: {
          'kms:ViaService': { 'Fn::Sub': 'secretsmanager.${AWS::Region}.amazonaws.com' },
        },
      },
    });
    // No VPC given: the pollers reach the brokers without network interfaces of their own.
    expect(bySid(statements).DogearPollerNetwork).toBeUndefined();
  });

  it("grants the consumer's on-failure destination what Lambda calls on it", () => {
    const msk = { kind: 'msk', arn: ARN, auth: 'IAM' } as const;
    const of = (onFailure: string) =>
      bySid(consumerStatements({ ...wordCount, onFailure }, msk, TABLE));
    expect(of('arn:aws:sqs:us-east-1:123456789012:dlq').DogearOnFailureSqs?.Action).toEqual([
      'sqs:SendMessage',
    ]);
    expect(of('arn:aws:sns:us-east-1:123456789012:failed').DogearOnFailureSns?.Action).toEqual([
      'sns:Publish',
    ]);
    const s3 = of('arn:aws:s3:::failed-batches');
    expect(s3.DogearOnFailureS3Objects?.Resource).toEqual(['arn:aws:s3:::failed-batches/*']);
    expect(s3.DogearOnFailureS3Bucket?.Resource).toEqual(['arn:aws:s3:::failed-batches']);
    expect(of('kafka://word-count-dlt').DogearKafkaOnFailure?.Resource).toEqual([
      'arn:aws:kafka:us-east-1:123456789012:topic/events/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-2/word-count-dlt',
    ]);
  });
});

describe('consumerStatements for schema registries', () => {
  const msk = { kind: 'msk', arn: ARN, auth: 'IAM' } as const;

  it("reads a Glue registry's schemas where the registry ARN says: its partition, region and account", () => {
    const registry = 'arn:aws-cn:glue:cn-north-1:210987654321:registry/payments.v2';
    const sid = bySid(
      consumerStatements(
        { ...wordCount, schemaRegistry: { uri: registry, eventRecordFormat: 'JSON' } },
        msk,
        TABLE,
      ),
    );
    expect(sid.DogearSchemaRegistry?.Resource).toEqual([registry]);
    expect(sid.DogearSchemaRegistryVersions?.Resource).toEqual([
      registry,
      'arn:aws-cn:glue:cn-north-1:210987654321:schema/payments.v2/*',
    ]);
  });

  it("grants an MSK source's secrets key for a Confluent registry's secrets, through Secrets Manager only", () => {
    const key = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const secret = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:registry-AbCdEf';
    const sid = bySid(
      consumerStatements(
        {
          ...wordCount,
          schemaRegistry: {
            uri: 'https://psrc-abc12.us-east-2.aws.confluent.cloud',
            eventRecordFormat: 'SOURCE',
            accessConfigs: [{ type: 'BASIC_AUTH', uri: secret }],
          },
        },
        { ...msk, secretsKmsKeyArn: key },
        TABLE,
      ),
    );
    expect(sid.DogearSchemaRegistrySecrets?.Resource).toEqual([secret]);
    expect(sid.DogearKafkaSecretsKey?.Resource).toEqual([key]);
    expect(sid.DogearKafkaSecretsKey?.Condition).toEqual({
      StringEquals: {
        'kms:ViaService': { 'Fn::Sub': 'secretsmanager.${AWS::Region}.amazonaws.com' },
      },
    });
    // With IAM auth the cluster has no secret of its own.
    expect(sid.DogearKafkaSecrets).toBeUndefined();
  });

  it('grants no schema access without a schema registry or a Glue codec', () => {
    const actions = consumerStatements(wordCount, msk, TABLE).flatMap((s) => s.Action);
    expect(actions.some((a) => a.startsWith('glue:') || a.startsWith('secretsmanager:'))).toBe(
      false,
    );
  });
});

describe('consumerStatements for what the provider section adds to every function', () => {
  const msk = { kind: 'msk', arn: ARN, auth: 'IAM' } as const;

  it('lets a function that provider.vpc puts in a VPC manage its network interfaces', () => {
    const statements = consumerStatements({ ...wordCount, vpc: true }, msk, TABLE);
    // What the framework's AWSLambdaVPCAccessExecutionRole grants, without its logs:* on *.
    expect(bySid(statements).DogearFunctionNetwork).toEqual({
      Sid: 'DogearFunctionNetwork',
      Effect: 'Allow',
      Action: [
        'ec2:CreateNetworkInterface',
        'ec2:DescribeNetworkInterfaces',
        'ec2:DescribeSubnets',
        'ec2:DeleteNetworkInterface',
        'ec2:AssignPrivateIpAddresses',
        'ec2:UnassignPrivateIpAddresses',
      ],
      Resource: ['*'],
    });
    expect(bySid(consumerStatements(wordCount, msk, TABLE)).DogearFunctionNetwork).toBeUndefined();
  });

  it('lets a function that provider.tracing.lambda traces send its segments to X-Ray', () => {
    const statements = consumerStatements({ ...wordCount, tracing: true }, msk, TABLE);
    expect(bySid(statements).DogearXRay).toEqual({
      Sid: 'DogearXRay',
      Effect: 'Allow',
      Action: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'],
      Resource: ['*'],
    });
    expect(bySid(consumerStatements(wordCount, msk, TABLE)).DogearXRay).toBeUndefined();
  });
});

describe('providerRoleOf', () => {
  it('reads a role the framework takes as an existing one as yours: a string or an intrinsic', () => {
    for (const role of [
      'arn:aws:iam::123456789012:role/consumers',
      'consumers',
      { 'Fn::GetAtt': ['ConsumersRole', 'Arn'] },
      { 'Fn::ImportValue': 'shared-ConsumersRoleArn' },
      { 'Fn::Sub': 'arn:aws:iam::${AWS::AccountId}:role/consumers' },
    ]) {
      expect(providerRoleOf({ iam: { role } }).existing, JSON.stringify(role)).toBe(true);
    }
    expect(providerRoleOf({ role: 'arn:aws:iam::123456789012:role/consumers' }).existing).toBe(
      true,
    );
  });

  it("reads provider.iam.role's object form as settings for dogear's roles, which it carries over", () => {
    const statements = [
      { Effect: 'Allow', Action: ['s3:GetObject'], Resource: 'arn:aws:s3:::inputs/*' },
    ];
    const boundary = 'arn:aws:iam::123456789012:policy/boundary';
    const role = providerRoleOf({
      iam: {
        role: {
          statements,
          managedPolicies: ['arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess'],
          permissionsBoundary: boundary,
          path: '/teams/orders/',
          name: 'orders-role',
          tags: { team: 'orders' },
        },
      },
    });
    expect(role).toEqual({
      existing: false,
      statements,
      managedPolicies: ['arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess'],
      permissionsBoundary: boundary,
      path: '/teams/orders/',
      tags: { team: 'orders' },
      vpc: false,
      tracing: false,
    });
    // The framework's older spellings, which it still reads.
    expect(
      providerRoleOf({
        iam: { role: { permissionBoundary: boundary } },
        iamRoleStatements: statements,
        iamManagedPolicies: ['arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess'],
      }),
    ).toMatchObject({
      existing: false,
      statements,
      managedPolicies: ['arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess'],
      permissionsBoundary: boundary,
    });
    expect(providerRoleOf({ rolePermissionsBoundary: boundary }).permissionsBoundary).toBe(
      boundary,
    );
    expect(providerRoleOf({})).toEqual({
      existing: false,
      statements: [],
      managedPolicies: [],
      vpc: false,
      tracing: false,
    });
  });

  it('reads provider.vpc and provider.tracing.lambda as the framework applies them to every function', () => {
    const vpc = { subnetIds: ['subnet-1'], securityGroupIds: ['sg-1'] };
    expect(providerRoleOf({ vpc }).vpc).toBe(true);
    // Without both lists the framework gives the functions no VpcConfig.
    expect(providerRoleOf({ vpc: { subnetIds: ['subnet-1'] } }).vpc).toBe(false);
    expect(providerRoleOf({ tracing: { lambda: true } }).tracing).toBe(true);
    expect(providerRoleOf({ tracing: { lambda: 'PassThrough' } }).tracing).toBe(true);
    expect(providerRoleOf({ tracing: { apiGateway: true } }).tracing).toBe(false);
  });
});

describe('stateKeyPatterns', () => {
  /** IAM's StringLike: `*` matches any run of characters, `?` any one, the rest itself. */
  const stringLike = (pattern: string, value: string) => {
    const literal = (c: string) => c.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
    const wildcard = (c: string) => (c === '*' ? '.*' : c === '?' ? '.' : literal(c));
    return new RegExp(`^${[...pattern].map(wildcard).join('')}$`, 's').test(value);
  };
  /** Every kind of key the state store writes for `group` (src/state/dynamo/items.ts). */
  const keysOf = (group: string) => [
    pkOf.checkpoint({ group, topic: 'orders', partition: 7 }),
    pkOf.item(group, 'totals', 'eu|north'),
    pkOf.item(group, 'totals', ''),
    pkOf.once({ group, topic: 'orders', partition: 7, offset: 42, name: 'email' }),
  ];
  const allowed = (group: string, key: string) =>
    stateKeyPatterns(group).some((pattern) => stringLike(pattern, key));

  it("matches every key the state store writes for the group, and no similar group's", () => {
    expect(stringLike('c|a?|*', 'c|ab|x|1')).toBe(true);
    expect(stringLike('c|a?|*', 'c|abc|x')).toBe(false);
    for (const [group, similar] of [
      ['orders', 'orders-v2'],
      ['orders', 'order'],
      ['orders-v2', 'orders'],
      ['a.b', 'a'],
      ['team/orders', 'team'],
    ] as const) {
      for (const key of keysOf(group)) expect(allowed(group, key), `${group}: ${key}`).toBe(true);
      for (const key of keysOf(similar)) {
        expect(allowed(group, key), `${group} must not reach ${key}`).toBe(false);
      }
    }
  });
});

describe('roleLogicalId', () => {
  it('gives distinct consumers distinct ids', () => {
    expect(roleLogicalId('word-count')).toBe('DogearWordDashcountRole');
    expect(roleLogicalId('a-1')).not.toBe(roleLogicalId('a1'));
  });
});

describe('checkPolicySize', () => {
  it("fails, naming the consumer, over IAM's limit for a role's inline policies", () => {
    const document = { Statement: [{ Resource: ['x'.repeat(ROLE_POLICY_LIMIT)] }] };
    expect(() => checkPolicySize('word-count', document)).toThrow(ServerlessConfigError);
    expect(() => checkPolicySize('word-count', document)).toThrow(
      /Consumer word-count: its role's policy is 10,273 characters, over IAM's 10,240/,
    );
    expect(() => checkPolicySize('word-count', document)).toThrow(/Did you name many secrets/);
    // Filter patterns go to the mapping, not to the role.
    expect(() => checkPolicySize('word-count', document)).not.toThrow(/filter patterns/);
    expect(() => checkPolicySize('word-count', { Statement: [] })).not.toThrow();
  });
});

describe('mskResourceArn', () => {
  it("derives a topic's ARN from a cluster ARN CloudFormation gives", () => {
    expect(mskResourceArn({ 'Fn::ImportValue': 'msk-ClusterArn' }, 'group', 'word-count')).toEqual({
      'Fn::Sub': [
        '${DogearClusterArnPrefix}:group/${DogearClusterPath}/word-count',
        {
          DogearClusterArnPrefix: {
            'Fn::Select': [
              0,
              { 'Fn::Split': [':cluster/', { 'Fn::ImportValue': 'msk-ClusterArn' }] },
            ],
          },
          DogearClusterPath: {
            'Fn::Select': [
              1,
              { 'Fn::Split': [':cluster/', { 'Fn::ImportValue': 'msk-ClusterArn' }] },
            ],
          },
        },
      ],
    });
  });
});

describe('consumerStatements for outputs and dead letters', () => {
  const CLUSTER_TOPIC = (topic: string) =>
    `arn:aws:kafka:us-east-1:123456789012:topic/events/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-2/${topic}`;
  const thermometer = {
    name: 'thermometer',
    functionName: 'svc-dev-thermometer',
    topic: 'temperature-readings',
    group: 'thermometer',
  };
  const iam = { kind: 'msk', arn: ARN, auth: 'IAM' } as const;

  it("MSK with IAM: WriteData and DescribeTopic on each output topic, the relay's idempotent producer on the cluster", () => {
    const sid = bySid(
      consumerStatements(
        { ...thermometer, emits: ['temperature-alerts', 'sensor-status'] },
        iam,
        TABLE,
      ),
    );
    expect(sid.DogearRelayTopics).toEqual({
      Sid: 'DogearRelayTopics',
      Effect: 'Allow',
      Action: ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData'],
      Resource: [CLUSTER_TOPIC('temperature-alerts'), CLUSTER_TOPIC('sensor-status')],
    });
    expect(sid.DogearRelayCluster).toEqual({
      Sid: 'DogearRelayCluster',
      Effect: 'Allow',
      Action: ['kafka-cluster:Connect', 'kafka-cluster:WriteDataIdempotently'],
      Resource: [ARN],
    });
    // Reading stays on the consumer's own topic only.
    expect(sid.DogearKafkaTopic?.Resource).toEqual([CLUSTER_TOPIC('temperature-readings')]);
  });

  it('a dead-letter topic is written like an output, once even when it is also emitted to', () => {
    const sid = bySid(
      consumerStatements(
        {
          ...thermometer,
          emits: ['temperature-alerts'],
          deadLetter: { after: 3, to: 'temperature-readings.dead-letters' },
        },
        iam,
        TABLE,
      ),
    );
    expect(sid.DogearRelayTopics?.Resource).toEqual([
      CLUSTER_TOPIC('temperature-alerts'),
      CLUSTER_TOPIC('temperature-readings.dead-letters'),
    ]);
    const only = bySid(
      consumerStatements(
        { ...thermometer, emits: ['x'], deadLetter: { after: 1, to: 'x' } },
        iam,
        TABLE,
      ),
    );
    expect(only.DogearRelayTopics?.Resource).toEqual([CLUSTER_TOPIC('x')]);
  });

  it('an intrinsic cluster ARN gives each output topic ARN through Fn::Sub', () => {
    const cluster = { 'Fn::ImportValue': 'dogear-msk-ClusterArn' };
    const sid = bySid(
      consumerStatements(
        { ...thermometer, emits: ['temperature-alerts'] },
        { kind: 'msk', arn: cluster, auth: 'IAM' },
        TABLE,
      ),
    );
    expect(sid.DogearRelayTopics?.Resource).toEqual([
      mskResourceArn(cluster, 'topic', 'temperature-alerts'),
    ]);
    expect(sid.DogearRelayCluster?.Resource).toEqual([cluster]);
  });

  it('SQS dead letters: SendMessage on that queue; S3: PutObject under the group only', () => {
    const queue = 'arn:aws:sqs:us-east-1:123456789012:thermometer-dead-letters';
    const sqs = bySid(
      consumerStatements({ ...thermometer, deadLetter: { after: 3, to: queue } }, iam, TABLE),
    );
    expect(sqs.DogearDeadLetterSqs).toEqual({
      Sid: 'DogearDeadLetterSqs',
      Effect: 'Allow',
      Action: ['sqs:SendMessage'],
      Resource: [queue],
    });
    expect(sqs.DogearRelayTopics).toBeUndefined();
    expect(sqs.DogearRelayCluster).toBeUndefined();
    const s3 = bySid(
      consumerStatements(
        { ...thermometer, deadLetter: { after: 3, to: 'arn:aws:s3:::dogear-dead-letters' } },
        iam,
        TABLE,
      ),
    );
    expect(s3.DogearDeadLetterS3).toEqual({
      Sid: 'DogearDeadLetterS3',
      Effect: 'Allow',
      Action: ['s3:PutObject'],
      Resource: ['arn:aws:s3:::dogear-dead-letters/thermometer/*'],
    });
  });

  it('without IAM auth, Kafka writes are ACLs, not IAM: no kafka-cluster action; the SCRAM secret the relay signs in with is readable', () => {
    const secret = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:AmazonMSK_x-AbCdEf';
    const statements = consumerStatements(
      { ...thermometer, emits: ['temperature-alerts'] },
      { kind: 'msk', arn: ARN, auth: 'SASL_SCRAM', secretArn: secret },
      TABLE,
    );
    expect(statements.flatMap((s) => s.Action).some((a) => a.startsWith('kafka-cluster:'))).toBe(
      false,
    );
    expect(bySid(statements).DogearKafkaSecrets?.Resource).toEqual([secret]);
  });

  it("the outbox and dead letters live in the group's checkpoint: LeadingKeys still names only the group's prefixes", () => {
    const plain = bySid(consumerStatements(thermometer, iam, TABLE)).DogearStateTable;
    const piped = bySid(
      consumerStatements(
        {
          ...thermometer,
          emits: ['temperature-alerts'],
          deadLetter: { after: 3, to: 'temperature-readings.dead-letters' },
        },
        iam,
        TABLE,
      ),
    ).DogearStateTable;
    expect(piped).toEqual(plain);
    expect(piped?.Condition).toEqual({
      'ForAllValues:StringLike': {
        'dynamodb:LeadingKeys': ['c|thermometer|*', 's|thermometer|*', 'o|thermometer|*'],
      },
    });
  });
});
