import { describe, expect, it } from 'vitest';
import { builtConsumer } from '../../test/fixtures/built-consumer.ts';
import type { BuiltConsumer } from '../build/index.ts';
import { parseOptions } from './config.ts';
import { ServerlessConfigError } from './errors.ts';
import { planService } from './plan.ts';
import { patchTemplate } from './template.ts';
import type { CloudFormationTemplate, DogearServerlessOptions, ServiceContext } from './types.ts';

const ARN =
  'arn:aws:kafka:us-east-1:123456789012:cluster/events/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-2';
const TOPIC_ARN = 'arn:aws:sns:us-east-1:123456789012:on-call';
const service: ServiceContext = { service: 'books', stage: 'test', artifactDir: '/tmp/x' };
const lambdaLogicalId = (name: string) =>
  `${name.replace(/-/g, 'Dash').replace(/^./, (c) => c.toUpperCase())}LambdaFunction`;

const built = (name: string) => builtConsumer(name);

/** The template after `package`: the framework's mapping for each consumer, then dogear's patch. */
function packaged(
  custom: unknown,
  names: ReadonlyArray<string | BuiltConsumer> = ['word-count'],
): CloudFormationTemplate {
  const options = parseOptions(custom) as DogearServerlessOptions;
  const consumers = names.map((c) => (typeof c === 'string' ? built(c) : c));
  const plan = planService({
    manifest: { runtime: 'nodejs24.x', consumers },
    options,
    source: { kind: 'msk', arn: ARN, auth: 'IAM' },
    service,
  });
  const template: CloudFormationTemplate = { Resources: {} };
  for (const { name } of consumers) {
    const fn = lambdaLogicalId(name);
    template.Resources[`${fn}Mapping`] = {
      Type: 'AWS::Lambda::EventSourceMapping',
      Properties: { FunctionName: { 'Fn::GetAtt': [fn, 'Arn'] }, Topics: ['book-pages'] },
    };
  }
  patchTemplate(template, plan, lambdaLogicalId);
  return template;
}

const ofType = (template: CloudFormationTemplate, type: string) =>
  Object.entries(template.Resources).filter(([, r]) => r.Type === type);

describe("the event-source mapping's own metrics", () => {
  it('are on for every mapping: event counts, error counts and Kafka metrics (OffsetLag)', () => {
    const mappings = ofType(packaged({ msk: { arn: ARN } }), 'AWS::Lambda::EventSourceMapping');
    expect(mappings).toHaveLength(1);
    expect(mappings[0]![1].Properties?.MetricsConfig).toEqual({
      Metrics: ['EventCount', 'ErrorCount', 'KafkaMetrics'],
    });
  });
});

describe('custom.dogear.alarms', () => {
  it('makes no alarm unless a threshold is set', () => {
    expect(ofType(packaged({ msk: { arn: ARN } }), 'AWS::CloudWatch::Alarm')).toEqual([]);
  });

  it("alarms per consumer on the function's OffsetLag and Errors, telling the actions", () => {
    const template = packaged(
      { msk: { arn: ARN }, alarms: { offsetLag: 10_000, errors: 1, actions: [TOPIC_ARN] } },
      ['word-count', 'audit'],
    );
    const alarms = Object.fromEntries(ofType(template, 'AWS::CloudWatch::Alarm'));
    expect(Object.keys(alarms).sort()).toEqual([
      'AuditLambdaFunctionErrorsAlarm',
      'AuditLambdaFunctionOffsetLagAlarm',
      'WordDashcountLambdaFunctionErrorsAlarm',
      'WordDashcountLambdaFunctionOffsetLagAlarm',
    ]);
    expect(alarms.WordDashcountLambdaFunctionOffsetLagAlarm?.Properties).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'OffsetLag',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: 'WordDashcountLambdaFunction' } }],
      Statistic: 'Maximum',
      Period: 60,
      EvaluationPeriods: 5,
      Threshold: 10_000,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [TOPIC_ARN],
      OKActions: [TOPIC_ARN],
    });
    expect(alarms.AuditLambdaFunctionErrorsAlarm?.Properties).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: 'AuditLambdaFunction' } }],
      Statistic: 'Sum',
      EvaluationPeriods: 1,
      Threshold: 1,
    });
  });

  it('makes only the alarms whose thresholds are set, for as long as asked', () => {
    const template = packaged({
      msk: { arn: ARN },
      alarms: { offsetLag: 500, offsetLagMinutes: 15 },
    });
    const alarms = ofType(template, 'AWS::CloudWatch::Alarm');
    expect(alarms.map(([id]) => id)).toEqual(['WordDashcountLambdaFunctionOffsetLagAlarm']);
    expect(alarms[0]![1].Properties).toMatchObject({ EvaluationPeriods: 15, Threshold: 500 });
    expect(alarms[0]![1].Properties).not.toHaveProperty('AlarmActions');
  });

  it('names a bad threshold, an unknown key and an action that is no ARN', () => {
    const message = (alarms: unknown) => {
      try {
        parseOptions({ msk: { arn: ARN }, alarms });
      } catch (error) {
        expect(error).toBeInstanceOf(ServerlessConfigError);
        return (error as Error).message;
      }
      throw new Error('expected a ServerlessConfigError');
    };
    expect(message({ offsetLag: 0 })).toBe(
      'custom.dogear.alarms.offsetLag must be a whole number of at least 1, got 0',
    );
    expect(message({ errors: '1' })).toMatch(
      /^custom\.dogear\.alarms\.errors must be a whole number of at least 1, got .*1/,
    );
    expect(message({ offsetlag: 5 })).toBe(
      "Unknown option 'custom.dogear.alarms.offsetlag'; Did you mean 'offsetLag'?",
    );
    expect(message({ errors: 1, actions: ['on-call'] })).toMatch(
      /^custom\.dogear\.alarms\.actions must be a list of ARNs/,
    );
    expect(() =>
      parseOptions({ msk: { arn: ARN }, alarms: { actions: [{ Ref: 'T' }] } }),
    ).not.toThrow();
  });
});

describe('alarms on dead letters and the outbox', () => {
  const thermometer = builtConsumer('thermometer', {
    emits: ['temperature-alerts'],
    deadLetter: { after: 3, to: 'temperature-readings.dead-letters' },
  });
  const alarmsOf = (template: CloudFormationTemplate) =>
    Object.fromEntries(ofType(template, 'AWS::CloudWatch::Alarm'));

  it("alarm on dogear's DeadLettered and OutputsPending for a consumer with a deadLetter and emits, by default", () => {
    const alarms = alarmsOf(packaged({ msk: { arn: ARN } }, [thermometer, 'word-count']));
    expect(Object.keys(alarms).sort()).toEqual([
      'ThermometerLambdaFunctionDeadLettersAlarm',
      'ThermometerLambdaFunctionOutputsPendingAlarm',
    ]);
    expect(alarms.ThermometerLambdaFunctionDeadLettersAlarm?.Properties).toEqual({
      AlarmDescription:
        'dogear consumer thermometer sent 1 or more records to its dead letters (temperature-readings.dead-letters) in 5 minutes (DeadLettered)',
      Namespace: 'dogear',
      MetricName: 'DeadLettered',
      Dimensions: [{ Name: 'consumer', Value: 'thermometer' }],
      Statistic: 'Sum',
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    expect(alarms.ThermometerLambdaFunctionOutputsPendingAlarm?.Properties).toEqual({
      AlarmDescription:
        'dogear consumer thermometer ended an invocation with more than 0 outputs committed but not relayed in 5 minutes (OutputsPending)',
      Namespace: 'dogear',
      MetricName: 'OutputsPending',
      Dimensions: [{ Name: 'consumer', Value: 'thermometer' }],
      Statistic: 'Maximum',
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('takes thresholds and actions from custom.dogear.alarms, and per consumer from custom.dogear.consumers.<name>.alarms', () => {
    const alarms = alarmsOf(
      packaged(
        {
          msk: { arn: ARN },
          alarms: { deadLetters: 5, outputsPending: 10, actions: [TOPIC_ARN] },
          consumers: { thermometer: { memorySize: 512, alarms: { deadLetters: 2, errors: 3 } } },
        },
        [thermometer],
      ),
    );
    expect(alarms.ThermometerLambdaFunctionDeadLettersAlarm?.Properties).toMatchObject({
      Threshold: 2,
      AlarmActions: [TOPIC_ARN],
    });
    expect(alarms.ThermometerLambdaFunctionOutputsPendingAlarm?.Properties).toMatchObject({
      Threshold: 10,
      OKActions: [TOPIC_ARN],
    });
    expect(alarms.ThermometerLambdaFunctionErrorsAlarm?.Properties).toMatchObject({
      Threshold: 3,
    });
  });

  it('names a bad dead-letter or outbox threshold, also per consumer', () => {
    expect(() => parseOptions({ msk: { arn: ARN }, alarms: { deadLetters: 0 } })).toThrow(
      'custom.dogear.alarms.deadLetters must be a whole number of at least 1, got 0',
    );
    expect(() => parseOptions({ msk: { arn: ARN }, alarms: { outputsPending: -1 } })).toThrow(
      'custom.dogear.alarms.outputsPending must be a whole number of at least 0, got -1',
    );
    expect(() =>
      parseOptions({
        msk: { arn: ARN },
        consumers: { thermometer: { alarms: { deadLeters: 2 } } },
      }),
    ).toThrow(
      "Unknown option 'custom.dogear.consumers.thermometer.alarms.deadLeters'; Did you mean 'deadLetters'?",
    );
  });
});
