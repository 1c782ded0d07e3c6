import { describe, expect, it } from 'vitest';
import { newStatements, patchTemplate } from './template.ts';
import type { CloudFormationTemplate, ServicePlan } from './types.ts';

const ARN = 'arn:aws:kafka:us-east-1:123456789012:cluster/events/abc-2';
const lambdaLogicalId = (name: string) =>
  `${name.replace(/-/g, 'Dash').replace(/^./, (c) => c.toUpperCase())}LambdaFunction`;

/** What osls compiles for one function with an msk event: a mapping and its role statements. */
function compiled(): CloudFormationTemplate {
  const frameworkStatement = {
    Effect: 'Allow',
    Action: ['kafka:DescribeCluster', 'kafka:GetBootstrapBrokers'],
    Resource: [ARN],
  };
  return {
    Resources: {
      IamRoleLambdaExecution: {
        Type: 'AWS::IAM::Role',
        Properties: {
          Policies: [
            {
              PolicyName: 'lambda',
              PolicyDocument: { Statement: [frameworkStatement, { ...frameworkStatement }] },
            },
          ],
        },
      },
      WordDashcountEventSourceMappingMSKEventsBookpages: {
        Type: 'AWS::Lambda::EventSourceMapping',
        DependsOn: ['IamRoleLambdaExecution'],
        Properties: {
          EventSourceArn: ARN,
          FunctionName: { 'Fn::GetAtt': ['WordDashcountLambdaFunction', 'Arn'] },
          StartingPosition: 'TRIM_HORIZON',
          Topics: ['book-pages'],
          BatchSize: 500,
        },
      },
    },
  };
}

function plan(): ServicePlan {
  return {
    consumers: [
      {
        name: 'word-count',
        group: 'word-count',
        topic: 'book-pages',
        deploy: {} as never,
        function: {} as never,
        mapping: {
          EventSourceArn: ARN,
          Topics: ['book-pages'],
          BatchSize: 500,
          MaximumBatchingWindowInSeconds: 0,
          ProvisionedPollerConfig: { MinimumPollers: 1 },
        },
      },
    ],
    resources: { DogearStateTable: { Type: 'AWS::DynamoDB::Table', Properties: {} } },
    outputs: { DogearStateTableName: { Value: { Ref: 'DogearStateTable' } } },
    statements: [
      {
        Sid: 'DogearStateTable',
        Effect: 'Allow',
        Action: ['dynamodb:GetItem'],
        Resource: ['arn:table'],
      },
      {
        Sid: 'DogearMskCluster',
        Effect: 'Allow',
        Action: ['kafka:DescribeClusterV2', 'kafka:GetBootstrapBrokers'],
        Resource: [ARN],
      },
    ],
  };
}

describe('patchTemplate', () => {
  it('replaces the mapping properties but keeps FunctionName and DependsOn', () => {
    const template = compiled();
    expect(patchTemplate(template, plan(), lambdaLogicalId)).toEqual([]);
    const mapping = template.Resources.WordDashcountEventSourceMappingMSKEventsBookpages!;
    expect(mapping.DependsOn).toEqual(['IamRoleLambdaExecution']);
    expect(mapping.Properties).toEqual({
      FunctionName: { 'Fn::GetAtt': ['WordDashcountLambdaFunction', 'Arn'] },
      EventSourceArn: ARN,
      Topics: ['book-pages'],
      BatchSize: 500,
      MaximumBatchingWindowInSeconds: 0,
      ProvisionedPollerConfig: { MinimumPollers: 1 },
    });
    expect(template.Resources.DogearStateTable?.Type).toBe('AWS::DynamoDB::Table');
    expect(template.Outputs).toHaveProperty('DogearStateTableName');
  });

  it("adds statements to the framework's role without repeating a grant", () => {
    const template = compiled();
    patchTemplate(template, plan(), lambdaLogicalId);
    const statements = (
      template.Resources.IamRoleLambdaExecution!.Properties!.Policies as Array<{
        PolicyDocument: { Statement: Array<{ Sid?: string; Action: string[] }> };
      }>
    )[0]!.PolicyDocument.Statement;
    expect(statements.map((s) => [s.Sid, s.Action])).toEqual([
      [undefined, ['kafka:DescribeCluster', 'kafka:GetBootstrapBrokers']],
      ['DogearStateTable', ['dynamodb:GetItem']],
      ['DogearMskCluster', ['kafka:DescribeClusterV2']],
    ]);
  });

  it('fails when the framework compiled no mapping for a consumer', () => {
    const template = compiled();
    delete template.Resources.WordDashcountEventSourceMappingMSKEventsBookpages;
    expect(() => patchTemplate(template, plan(), lambdaLogicalId)).toThrow(
      /Expected one event-source mapping for consumer word-count \(function WordDashcountLambdaFunction, topic book-pages\)/,
    );
  });

  it('warns, with the statements, when the functions use a role of their own', () => {
    const template = compiled();
    delete template.Resources.IamRoleLambdaExecution;
    const [warning] = patchTemplate(template, plan(), lambdaLogicalId);
    expect(warning).toMatch(/provider\.iam\.role/);
    expect(warning).toContain('"dynamodb:GetItem"');
  });
});

describe('newStatements', () => {
  it('keeps an action granted on only some of its resources', () => {
    const existing = [{ Effect: 'Allow', Action: 'sqs:SendMessage', Resource: 'arn:a' }];
    expect(
      newStatements(existing, [
        { Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: ['arn:a', 'arn:b'] },
      ]),
    ).toHaveLength(1);
    expect(
      newStatements(existing, [
        { Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: ['arn:a'] },
      ]),
    ).toEqual([]);
  });

  it('does not count a conditional grant', () => {
    const existing = [
      {
        Effect: 'Allow',
        Action: ['sqs:SendMessage'],
        Resource: ['arn:a'],
        Condition: { Bool: {} },
      },
    ];
    expect(
      newStatements(existing, [
        { Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: ['arn:a'] },
      ]),
    ).toHaveLength(1);
  });
});
