// biome-ignore-all lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub strings hold ${…} placeholders.
import { describe, expect, it } from 'vitest';
import { ServerlessConfigError } from './errors.ts';
import {
  checkPolicySize,
  consumerStatements,
  mskResourceArn,
  ROLE_POLICY_LIMIT,
  roleLogicalId,
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
