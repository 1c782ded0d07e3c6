import { ServerlessTemplateError } from './errors.ts';
import type { CloudFormationTemplate, IamStatement, ServicePlan } from './types.ts';

/** The role the framework creates for every function that names no role of its own. */
export const FRAMEWORK_ROLE_LOGICAL_ID = 'IamRoleLambdaExecution';

/**
 * Applies the plan to the template the framework compiled, after its events are compiled: sets
 * each consumer's mapping properties, adds the table and its outputs, and adds the statements to
 * the framework's role (leaving out what the role already grants). Returns warnings to print.
 */
export function patchTemplate(
  template: CloudFormationTemplate,
  plan: ServicePlan,
  lambdaLogicalId: (functionName: string) => string,
): string[] {
  for (const consumer of plan.consumers) {
    const functionId = lambdaLogicalId(consumer.name);
    const mappings = Object.entries(template.Resources).filter(
      ([, resource]) =>
        resource.Type === 'AWS::Lambda::EventSourceMapping' &&
        JSON.stringify(resource.Properties?.FunctionName ?? null).includes(`"${functionId}"`) &&
        Array.isArray(resource.Properties?.Topics) &&
        resource.Properties.Topics.includes(consumer.topic),
    );
    if (mappings.length !== 1) {
      throw new ServerlessTemplateError(
        `Expected one event-source mapping for consumer ${consumer.name} (function ${functionId}, topic ${consumer.topic}) in the compiled template, found ${mappings.length}; Did another plugin remove or add events of function ${consumer.name}?`,
      );
    }
    const [, mapping] = mappings[0]!;
    mapping.Properties = { FunctionName: mapping.Properties?.FunctionName, ...consumer.mapping };
  }

  Object.assign(template.Resources, plan.resources);
  if (Object.keys(plan.outputs).length) template.Outputs = { ...template.Outputs, ...plan.outputs };

  const statements = roleStatements(template);
  if (!statements) {
    return [
      `dogear: the functions use a role of your own (provider.iam.role), so dogear added no IAM statements; give that role these: ${JSON.stringify(plan.statements)}`,
    ];
  }
  statements.push(...newStatements(statements, plan.statements));
  dropDuplicates(statements);
  return [];
}

function roleStatements(template: CloudFormationTemplate): unknown[] | undefined {
  const role = template.Resources[FRAMEWORK_ROLE_LOGICAL_ID];
  const policies = role?.Properties?.Policies;
  if (!Array.isArray(policies)) return undefined;
  for (const policy of policies) {
    const statement = (policy as { PolicyDocument?: { Statement?: unknown } })?.PolicyDocument
      ?.Statement;
    if (Array.isArray(statement)) return statement;
  }
  return undefined;
}

/**
 * `added`, less each action that `existing` already allows on all of the statement's resources
 * (the framework grants kafka:GetBootstrapBrokers and Kafka secrets itself); statements left
 * with no action are dropped.
 */
export function newStatements(
  existing: readonly unknown[],
  added: readonly IamStatement[],
): IamStatement[] {
  const granted = new Set<string>();
  for (const raw of existing) {
    const s = raw as { Effect?: string; Action?: unknown; Resource?: unknown; Condition?: unknown };
    if (s.Effect !== 'Allow' || s.Condition !== undefined) continue;
    for (const action of list(s.Action)) {
      for (const resource of list(s.Resource)) granted.add(grant(action, resource));
    }
  }
  return added.flatMap((statement) => {
    const actions = statement.Action.filter((action) =>
      statement.Resource.some((resource) => !granted.has(grant(action, resource))),
    );
    return actions.length ? [{ ...statement, Action: actions }] : [];
  });
}

/**
 * Drops statements equal to an earlier one: the framework adds its MSK/Kafka statements once per
 * function, and a role's inline policies may hold 10,240 characters in all.
 */
function dropDuplicates(statements: unknown[]): void {
  const seen = new Set<string>();
  for (let i = 0; i < statements.length; ) {
    const key = JSON.stringify(statements[i]);
    if (seen.has(key)) statements.splice(i, 1);
    else {
      seen.add(key);
      i++;
    }
  }
}

function list(value: unknown): unknown[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

function grant(action: unknown, resource: unknown): string {
  return `${String(action)}\u0000${JSON.stringify(resource)}`;
}
