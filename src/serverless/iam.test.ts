// biome-ignore-all lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub strings hold ${…} placeholders.
import { describe, expect, it } from 'vitest';
import { iamStatements, mskResourceArn } from './iam.ts';

const ARN =
  'arn:aws:kafka:us-east-1:123456789012:cluster/events/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-2';
const TABLE = 'arn:aws:dynamodb:us-east-1:123456789012:table/state';
const consumers = [
  { topic: 'book-pages', group: 'word-count' },
  { topic: 'book-pages', group: 'duplicate-words' },
];

describe('iamStatements', () => {
  it('scopes MSK IAM auth to the cluster, its topics and its groups', () => {
    const statements = iamStatements(consumers, { kind: 'msk', arn: ARN, auth: 'IAM' }, TABLE);
    expect(statements).toEqual([
      {
        Sid: 'DogearStateTable',
        Effect: 'Allow',
        Action: [
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:DeleteItem',
          'dynamodb:ConditionCheckItem',
        ],
        Resource: [TABLE],
      },
      {
        Sid: 'DogearMskCluster',
        Effect: 'Allow',
        Action: ['kafka:DescribeClusterV2', 'kafka:GetBootstrapBrokers'],
        Resource: [ARN],
      },
      {
        Sid: 'DogearKafkaConnect',
        Effect: 'Allow',
        Action: ['kafka-cluster:Connect', 'kafka-cluster:DescribeClusterDynamicConfiguration'],
        Resource: [ARN],
      },
      {
        Sid: 'DogearKafkaTopics',
        Effect: 'Allow',
        Action: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'],
        Resource: [
          'arn:aws:kafka:us-east-1:123456789012:topic/events/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-2/book-pages',
        ],
      },
      {
        Sid: 'DogearKafkaGroups',
        Effect: 'Allow',
        Action: ['kafka-cluster:DescribeGroup', 'kafka-cluster:AlterGroup'],
        Resource: [
          'arn:aws:kafka:us-east-1:123456789012:group/events/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-2/word-count',
          'arn:aws:kafka:us-east-1:123456789012:group/events/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-2/duplicate-words',
        ],
      },
    ]);
    expect(JSON.stringify(statements)).not.toContain('"*"');
  });

  it('grants no kafka-cluster actions without IAM auth, and reads the secret instead', () => {
    const secret = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:AmazonMSK_x-Ab12';
    const statements = iamStatements(
      consumers,
      { kind: 'msk', arn: ARN, auth: 'SASL_SCRAM', secretArn: secret },
      TABLE,
    );
    expect(
      statements.flatMap((s) => s.Action).filter((a) => a.startsWith('kafka-cluster:')),
    ).toEqual([]);
    expect(statements.at(-1)).toEqual({
      Sid: 'DogearKafkaSecrets',
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue'],
      Resource: [secret],
    });
  });

  it('grants each on-failure destination what Lambda calls on it', () => {
    const statements = iamStatements(
      [
        { topic: 'a', group: 'a', onFailure: 'arn:aws:sqs:us-east-1:123456789012:dlq' },
        { topic: 'b', group: 'b', onFailure: 'arn:aws:sns:us-east-1:123456789012:failures' },
        { topic: 'c', group: 'c', onFailure: 'arn:aws:s3:::failed-batches' },
        { topic: 'd', group: 'd', onFailure: 'kafka://dead-letters' },
      ],
      { kind: 'msk', arn: ARN, auth: 'IAM' },
      TABLE,
    );
    const byAction = Object.fromEntries(statements.map((s) => [s.Sid, [s.Action, s.Resource]]));
    expect(byAction.DogearOnFailureSqs).toEqual([
      ['sqs:SendMessage'],
      ['arn:aws:sqs:us-east-1:123456789012:dlq'],
    ]);
    expect(byAction.DogearOnFailureSns).toEqual([
      ['sns:Publish'],
      ['arn:aws:sns:us-east-1:123456789012:failures'],
    ]);
    expect(byAction.DogearOnFailureS3Objects).toEqual([
      ['s3:PutObject'],
      ['arn:aws:s3:::failed-batches/*'],
    ]);
    expect(byAction.DogearOnFailureS3Buckets).toEqual([
      ['s3:ListBucket'],
      ['arn:aws:s3:::failed-batches'],
    ]);
    expect(byAction.DogearKafkaOnFailure).toEqual([
      ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData'],
      [
        'arn:aws:kafka:us-east-1:123456789012:topic/events/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-2/dead-letters',
      ],
    ]);
  });

  it('lists every secret of a self-managed cluster', () => {
    const statements = iamStatements(
      consumers,
      {
        kind: 'kafka',
        kafka: {
          bootstrapServers: ['b:9096'],
          clientCertificateSecretArn: { Ref: 'ClientCert' },
          serverRootCaSecretArn: 'arn:aws:secretsmanager:us-east-1:1:secret:ca',
        },
      },
      TABLE,
    );
    expect(statements.map((s) => s.Sid)).toEqual(['DogearStateTable', 'DogearKafkaSecrets']);
    expect(statements[1]!.Resource).toEqual([
      { Ref: 'ClientCert' },
      'arn:aws:secretsmanager:us-east-1:1:secret:ca',
    ]);
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
