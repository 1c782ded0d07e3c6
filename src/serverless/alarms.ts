import { type DeadLetterOptions, METRICS_NAMESPACE } from '../runtime/index.ts';
import type { AlarmOptions, CloudFormationTemplate } from './types.ts';

/** The default thresholds of the alarms every consumer with dead letters or outputs gets. */
const DEFAULT_DEAD_LETTERS_ALARM = 1;
const DEFAULT_OUTPUTS_PENDING_ALARM = 0;

/**
 * One consumer's CloudWatch alarms, keyed by logical id. On Lambda's metrics, one per threshold
 * `custom.dogear.alarms` sets: the function's `OffsetLag` (the consumer falls behind the topic;
 * Lambda reports it among the function's performance metrics, by `FunctionName`, and each
 * dogear function has one mapping) and its `Errors` (invocations that failed: a record that
 * throws, a store that fails, a timeout). On dogear's own EMF metrics, by `consumer`, made
 * whenever the consumer has what they watch: `DeadLettered` for a consumer with a `deadLetter`
 * (someone should look at each dead letter), `OutputsPending` for one that `emits` (outputs
 * committed but not relayed: the relay cannot reach Kafka). Missing data is not breaching: an
 * idle consumer reports nothing.
 */
export function consumerAlarms(
  consumer: {
    readonly name: string;
    readonly emits?: readonly string[];
    readonly deadLetter?: DeadLetterOptions;
  },
  functionLogicalId: string,
  alarms: AlarmOptions,
): CloudFormationTemplate['Resources'] {
  const actions = alarms.actions?.length
    ? { AlarmActions: [...alarms.actions], OKActions: [...alarms.actions] }
    : {};
  const lambda = {
    Namespace: 'AWS/Lambda',
    Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionLogicalId } }],
    Period: 60,
    ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    TreatMissingData: 'notBreaching',
    ...actions,
  };
  const dogear = {
    Namespace: METRICS_NAMESPACE,
    Dimensions: [{ Name: 'consumer', Value: consumer.name }],
    Period: 300,
    EvaluationPeriods: 1,
    TreatMissingData: 'notBreaching',
    ...actions,
  };
  const resources: CloudFormationTemplate['Resources'] = {};
  const alarm = (id: string, Properties: Record<string, unknown>) => {
    resources[`${functionLogicalId}${id}Alarm`] = { Type: 'AWS::CloudWatch::Alarm', Properties };
  };
  if (alarms.offsetLag !== undefined) {
    const minutes = alarms.offsetLagMinutes ?? 5;
    alarm('OffsetLag', {
      AlarmDescription: `dogear consumer ${consumer.name} is ${alarms.offsetLag} or more records behind its topic for ${minutes} minutes (OffsetLag)`,
      MetricName: 'OffsetLag',
      Statistic: 'Maximum',
      EvaluationPeriods: minutes,
      Threshold: alarms.offsetLag,
      ...lambda,
    });
  }
  if (alarms.errors !== undefined) {
    alarm('Errors', {
      AlarmDescription: `dogear consumer ${consumer.name} failed ${alarms.errors} or more invocations in a minute (Errors)`,
      MetricName: 'Errors',
      Statistic: 'Sum',
      EvaluationPeriods: 1,
      Threshold: alarms.errors,
      ...lambda,
    });
  }
  if (consumer.deadLetter) {
    const threshold = alarms.deadLetters ?? DEFAULT_DEAD_LETTERS_ALARM;
    alarm('DeadLetters', {
      AlarmDescription: `dogear consumer ${consumer.name} sent ${threshold} or more records to its dead letters (${consumer.deadLetter.to}) in 5 minutes (DeadLettered)`,
      MetricName: 'DeadLettered',
      Statistic: 'Sum',
      Threshold: threshold,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      ...dogear,
    });
  }
  if (consumer.emits?.length) {
    const threshold = alarms.outputsPending ?? DEFAULT_OUTPUTS_PENDING_ALARM;
    alarm('OutputsPending', {
      AlarmDescription: `dogear consumer ${consumer.name} ended an invocation with more than ${threshold} outputs committed but not relayed in 5 minutes (OutputsPending)`,
      MetricName: 'OutputsPending',
      Statistic: 'Maximum',
      Threshold: threshold,
      ComparisonOperator: 'GreaterThanThreshold',
      ...dogear,
    });
  }
  return resources;
}
