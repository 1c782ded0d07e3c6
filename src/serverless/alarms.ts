import type { AlarmOptions, CloudFormationTemplate } from './types.ts';

/**
 * One consumer's CloudWatch alarms, one per threshold `custom.dogear.alarms` sets, keyed by
 * logical id: on the mapping's `OffsetLag` (the consumer falls behind the topic) and on the
 * function's `Errors` (invocations that failed: a record that throws, a store that fails, a
 * timeout). Missing data is not breaching: an idle consumer reports neither.
 */
export function consumerAlarms(
  consumer: string,
  functionLogicalId: string,
  alarms: AlarmOptions,
): CloudFormationTemplate['Resources'] {
  const actions = alarms.actions?.length
    ? { AlarmActions: [...alarms.actions], OKActions: [...alarms.actions] }
    : {};
  const common = {
    Namespace: 'AWS/Lambda',
    Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionLogicalId } }],
    Period: 60,
    ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    TreatMissingData: 'notBreaching',
    ...actions,
  };
  const resources: CloudFormationTemplate['Resources'] = {};
  if (alarms.offsetLag !== undefined) {
    const minutes = alarms.offsetLagMinutes ?? 5;
    resources[`${functionLogicalId}OffsetLagAlarm`] = {
      Type: 'AWS::CloudWatch::Alarm',
      Properties: {
        AlarmDescription: `dogear consumer ${consumer} is ${alarms.offsetLag} or more records behind its topic for ${minutes} minutes (OffsetLag)`,
        MetricName: 'OffsetLag',
        Statistic: 'Maximum',
        EvaluationPeriods: minutes,
        Threshold: alarms.offsetLag,
        ...common,
      },
    };
  }
  if (alarms.errors !== undefined) {
    resources[`${functionLogicalId}ErrorsAlarm`] = {
      Type: 'AWS::CloudWatch::Alarm',
      Properties: {
        AlarmDescription: `dogear consumer ${consumer} failed ${alarms.errors} or more invocations in a minute (Errors)`,
        MetricName: 'Errors',
        Statistic: 'Sum',
        EvaluationPeriods: 1,
        Threshold: alarms.errors,
        ...common,
      },
    };
  }
  return resources;
}
