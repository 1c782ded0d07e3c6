import { describe, expect, it } from 'vitest';
import { patchTemplate } from './template.ts';
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
        roleLogicalId: 'DogearWordDashcountRole',
        alarms: {},
        emits: [],
        statements: [
          {
            Sid: 'DogearStateTable',
            Effect: 'Allow',
            Action: ['dynamodb:GetItem'],
            Resource: ['arn:table'],
          },
        ],
      },
    ],
    resources: {
      DogearStateTable: { Type: 'AWS::DynamoDB::Table', Properties: {} },
      DogearWordDashcountRole: { Type: 'AWS::IAM::Role', Properties: {} },
    },
    outputs: { DogearStateTableName: { Value: { Ref: 'DogearStateTable' } } },
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

  it("adds each consumer's role, and leaves the framework's alone", () => {
    const template = compiled();
    template.Resources.WordDashcountLambdaFunction = {
      Type: 'AWS::Lambda::Function',
      DependsOn: ['WordDashcountLogGroup', 'DogearWordDashcountRole'],
      Properties: { Role: { 'Fn::GetAtt': ['DogearWordDashcountRole', 'Arn'] } },
    };
    const before = JSON.stringify(template.Resources.IamRoleLambdaExecution);
    expect(patchTemplate(template, plan(), lambdaLogicalId)).toEqual([]);
    // Fn::GetAtt already orders the role first (cfn-lint W3005).
    expect(template.Resources.WordDashcountLambdaFunction.DependsOn).toEqual([
      'WordDashcountLogGroup',
    ]);
    expect(template.Resources.DogearWordDashcountRole?.Type).toBe('AWS::IAM::Role');
    expect(JSON.stringify(template.Resources.IamRoleLambdaExecution)).toBe(before);
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
    const yours = plan();
    // planService with roles: 'yours' adds no role resources.
    delete (yours.resources as Record<string, unknown>).DogearWordDashcountRole;
    const [warning] = patchTemplate(template, yours, lambdaLogicalId);
    expect(warning).toMatch(/provider\.iam\.role/);
    expect(warning).toContain('"dynamodb:GetItem"');
  });
});
