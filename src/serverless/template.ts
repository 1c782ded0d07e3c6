import { consumerAlarms } from './alarms.ts';
import { ServerlessTemplateError } from './errors.ts';
import type { CloudFormationTemplate, ServicePlan } from './types.ts';

/**
 * Applies the plan to the template the framework compiled, after its events are compiled: sets
 * each consumer's mapping properties, and adds the consumers' roles and alarms, the table and its
 * outputs.
 * Returns warnings to print.
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
    // The framework makes a function depend on a role given by logical id, which its
    // `Fn::GetAtt` already does (cfn-lint W3005).
    const fn = template.Resources[functionId];
    if (fn && Array.isArray(fn.DependsOn)) {
      const rest = fn.DependsOn.filter((id) => id !== consumer.roleLogicalId);
      if (rest.length) fn.DependsOn = rest;
      else delete fn.DependsOn;
    }
    Object.assign(template.Resources, consumerAlarms(consumer, functionId, consumer.alarms));
  }

  Object.assign(template.Resources, plan.resources);
  if (Object.keys(plan.outputs).length) template.Outputs = { ...template.Outputs, ...plan.outputs };

  const roleless = plan.consumers.filter((c) => !template.Resources[c.roleLogicalId]);
  if (roleless.length === 0) return [];
  return [
    `dogear: the functions use a role of your own (provider.iam.role names an existing one), so dogear added no roles; give that role these statements: ${JSON.stringify(Object.fromEntries(roleless.map((c) => [c.name, c.statements])))}`,
  ];
}
