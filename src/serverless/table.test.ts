// biome-ignore-all lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub strings hold ${…} placeholders.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { planTable } from './table.ts';

const service = { service: 'books', stage: 'prod', artifactDir: '.serverless' };

describe('planTable', () => {
  it('adds a table shaped like infra/state-table.yml', () => {
    const plan = planTable(undefined, service);
    expect(plan.name).toBe('books-prod-state');
    expect(plan.arn).toEqual({ 'Fn::GetAtt': ['DogearStateTable', 'Arn'] });
    const infra = parse(
      readFileSync(new URL('../../infra/state-table.yml', import.meta.url), 'utf8'),
      {
        customTags: [
          { tag: '!Ref', resolve: (value: string) => ({ Ref: value }) },
          { tag: '!Sub', resolve: (value: string) => ({ 'Fn::Sub': value }) },
          { tag: '!GetAtt', resolve: (value: string) => ({ 'Fn::GetAtt': value.split('.') }) },
        ],
      },
    ) as {
      Resources: { StateTable: { Properties: Record<string, unknown> } & Record<string, unknown> };
    };
    const { Properties: expected, ...policies } = infra.Resources.StateTable;
    const { Properties: actual, ...ours } = plan.resources.DogearStateTable!;
    expect(ours).toEqual(policies);
    expect(actual).toEqual({ ...expected, TableName: 'books-prod-state' });
  });

  it('lets a table that is not retained go with the stack', () => {
    const table = planTable({ retain: false }, service).resources.DogearStateTable!;
    expect([table.DeletionPolicy, table.UpdateReplacePolicy]).toEqual(['Delete', 'Delete']);
  });

  it('references an existing table by name or ARN', () => {
    expect(planTable({ name: 'shared-state' }, service)).toEqual({
      name: 'shared-state',
      arn: {
        'Fn::Sub':
          'arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/shared-state',
      },
      resources: {},
      outputs: {},
    });
    expect(
      planTable({ arn: 'arn:aws:dynamodb:eu-west-1:123456789012:table/shared' }, service).name,
    ).toBe('shared');
    const imported = { 'Fn::ImportValue': 'state-StateTableArn' };
    expect(planTable({ arn: imported }, service)).toMatchObject({
      name: { 'Fn::Select': [1, { 'Fn::Split': ['/', imported] }] },
      arn: imported,
    });
  });
});
