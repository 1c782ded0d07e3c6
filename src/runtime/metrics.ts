import type { InvocationReport } from './handler.ts';

/** The CloudWatch namespace of dogear's own metrics. */
export const METRICS_NAMESPACE = 'dogear';

type Unit = 'Count' | 'Milliseconds';

/** The counts every line carries, in the order CloudWatch lists them. */
const COUNTS = [
  ['Records', (r) => r.records],
  ['Processed', (r) => r.processed],
  ['Duplicates', (r) => r.duplicates],
  ['Reruns', (r) => r.reruns],
  ['Fences', (r) => r.fences],
  ['Failed', (r) => r.failed],
  ['Commits', (r) => r.commits],
  ['DeadLettered', (r) => r.deadLettered],
  ['OutputsRelayed', (r) => r.outputsRelayed],
  ['OutputsPending', (r) => r.outputsPending],
] as const satisfies ReadonlyArray<readonly [string, (r: InvocationReport) => number]>;

/**
 * One invocation's report as one CloudWatch Embedded Metric Format line (no newline), under the
 * `dogear` namespace with the consumer as the only dimension. `EventTimeLag` (now minus the
 * newest record's timestamp) is left out when no record had a timestamp, and `CommitLatency`
 * (the slowest commit) when nothing was committed: a zero would read as "fast", not "none".
 * Spec: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 */
export function metricsLine(report: InvocationReport, now: number): string {
  const values: Array<[name: string, unit: Unit, value: number]> = COUNTS.map(
    ([name, pick]) => [name, 'Count', pick(report)] as [string, Unit, number],
  );
  if (report.newestTimestamp !== undefined) {
    // A producer's clock ahead of ours is not negative lag.
    values.push(['EventTimeLag', 'Milliseconds', Math.max(0, now - report.newestTimestamp)]);
  }
  if (report.slowestCommitMs !== undefined) {
    values.push(['CommitLatency', 'Milliseconds', Math.round(report.slowestCommitMs * 100) / 100]);
  }
  return JSON.stringify({
    _aws: {
      Timestamp: now,
      CloudWatchMetrics: [
        {
          Namespace: METRICS_NAMESPACE,
          Dimensions: [['consumer']],
          Metrics: values.map(([Name, Unit]) => ({ Name, Unit })),
        },
      ],
    },
    consumer: report.consumer,
    ...Object.fromEntries(values.map(([name, , value]) => [name, value])),
  });
}
