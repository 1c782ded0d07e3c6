import { describe, expect, test } from 'vitest';
import { eventOf, eventRecordOf } from '../event/index.ts';
import { MemoryStateStore } from '../state/index.ts';
import { defineConsumer } from './consumer.ts';
import { createHandler, type InvocationReport } from './handler.ts';
import { lambdaContext } from './lambda-context.ts';
import { createLogger } from './logger.ts';
import { metricsLine } from './metrics.ts';

const NOW = Date.UTC(2026, 11, 1, 12, 0, 0);

function reportOf(fields: Partial<InvocationReport> = {}): InvocationReport {
  return {
    consumer: 'thermometer',
    records: 10,
    processed: 7,
    duplicates: 2,
    failed: 1,
    recreated: 0,
    commits: 3,
    reruns: 4,
    fences: 1,
    deadLettered: 0,
    outputsRelayed: 0,
    outputsPending: 0,
    partitions: [],
    ...fields,
  };
}

/** The values CloudWatch would extract: each metric the directive names, read from the root. */
function extracted(line: string): Record<string, { value: unknown; unit: string }> {
  const doc = JSON.parse(line);
  const [directive] = doc._aws.CloudWatchMetrics;
  return Object.fromEntries(
    directive.Metrics.map((m: { Name: string; Unit: string }) => [
      m.Name,
      { value: doc[m.Name], unit: m.Unit },
    ]),
  );
}

describe('metricsLine', () => {
  test('is one EMF document: namespace dogear, the consumer as dimension, the timestamp now', () => {
    const line = metricsLine(reportOf(), NOW);
    expect(line).not.toContain('\n');
    const doc = JSON.parse(line);
    expect(doc._aws.Timestamp).toBe(NOW);
    expect(doc._aws.CloudWatchMetrics).toHaveLength(1);
    expect(doc._aws.CloudWatchMetrics[0].Namespace).toBe('dogear');
    expect(doc._aws.CloudWatchMetrics[0].Dimensions).toEqual([['consumer']]);
    expect(doc.consumer).toBe('thermometer');
  });

  test("carries the report's counts, each referenced by the directive", () => {
    expect(extracted(metricsLine(reportOf(), NOW))).toEqual({
      Records: { value: 10, unit: 'Count' },
      Processed: { value: 7, unit: 'Count' },
      Duplicates: { value: 2, unit: 'Count' },
      Reruns: { value: 4, unit: 'Count' },
      Fences: { value: 1, unit: 'Count' },
      Failed: { value: 1, unit: 'Count' },
      Commits: { value: 3, unit: 'Count' },
      DeadLettered: { value: 0, unit: 'Count' },
      OutputsRelayed: { value: 0, unit: 'Count' },
      OutputsPending: { value: 0, unit: 'Count' },
    });
  });

  test('dead letters and outputs are what the invocation reported: one report for the line, onReport and the CLI', async () => {
    const lines: string[] = [];
    const reports: InvocationReport[] = [];
    const sent: string[] = [];
    const consumer = defineConsumer(
      {
        name: 'thermometer',
        topic: 'temperature-readings',
        emits: ['alerts'],
        deadLetter: { after: 1, to: 'dead' },
      },
      (record, ctx) => {
        ctx.emit('alerts', record.value);
      },
    );
    const handler = createHandler(consumer, {
      store: new MemoryStateStore(),
      log: createLogger((line) => lines.push(line)),
      metrics: true,
      onReport: (r) => reports.push(r),
      relay: () => ({
        send: async (messages) => {
          sent.push(...messages.map((m) => m.to));
        },
        close: async () => {},
      }),
    });
    const records = ['1', '{bad', '3'].map((value, offset) =>
      eventRecordOf({ topic: 'temperature-readings', partition: offset % 2, offset, value }, 'r'),
    );
    await handler(eventOf(records), lambdaContext(consumer));
    const metrics = extracted(lines.find((l) => l.includes('_aws'))!);
    expect(sent.sort()).toEqual(['alerts', 'alerts', 'dead']);
    expect(reports[0]).toMatchObject({ deadLettered: 1, outputsRelayed: 3, outputsPending: 0 });
    expect(metrics.DeadLettered).toEqual({ value: 1, unit: 'Count' });
    expect(metrics.OutputsRelayed).toEqual({ value: 3, unit: 'Count' });
    expect(metrics.OutputsPending).toEqual({ value: 0, unit: 'Count' });
  });

  test('event-time lag is now minus the newest timestamp; commit latency is the slowest commit', () => {
    const metrics = extracted(
      metricsLine(reportOf({ newestTimestamp: NOW - 1500, slowestCommitMs: 12.3456 }), NOW),
    );
    expect(metrics.EventTimeLag).toEqual({ value: 1500, unit: 'Milliseconds' });
    expect(metrics.CommitLatency).toEqual({ value: 12.35, unit: 'Milliseconds' });
  });

  test('a producer clock ahead of ours gives lag 0, not negative', () => {
    const metrics = extracted(metricsLine(reportOf({ newestTimestamp: NOW + 99 }), NOW));
    expect(metrics.EventTimeLag?.value).toBe(0);
  });

  test('without timestamps or commits, lag and latency are left out rather than written as 0', () => {
    const metrics = extracted(metricsLine(reportOf(), NOW));
    expect(metrics).not.toHaveProperty('EventTimeLag');
    expect(metrics).not.toHaveProperty('CommitLatency');
  });
});

describe('the handler writes one metrics line per invocation', () => {
  const at = (partition: number, offset: number, timestamp: number) =>
    eventRecordOf(
      { topic: 't', partition, offset, key: 'k', value: String(offset), timestamp },
      'test',
    );

  function run(options: { metrics?: boolean; failAt?: number }) {
    const lines: string[] = [];
    const definition = defineConsumer(
      { name: 'counter', topic: 't', value: 'string' },
      (r, ctx) => {
        if (r.offset === options.failAt) throw new Error('boom');
        ctx.table<number>('n').add(String(r.partition), 1);
      },
    );
    const handler = createHandler(definition, {
      store: new MemoryStateStore(),
      log: createLogger((line) => lines.push(line)),
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    });
    return { lines, handler, definition };
  }
  const metricLines = (lines: string[]) => lines.filter((l) => '_aws' in JSON.parse(l));

  test('with metrics on: counts over all partitions, lag from the newest timestamp, -1 ignored', async () => {
    const { lines, handler, definition } = run({ metrics: true });
    const before = Date.now();
    const newest = before - 60_000;
    await handler(
      eventOf([at(0, 0, newest - 5000), at(0, 1, -1), at(1, 0, newest), at(1, 1, -1)]),
      lambdaContext(definition),
    );
    const after = Date.now();
    const [line, ...more] = metricLines(lines);
    expect(more).toEqual([]);
    const metrics = extracted(line!);
    expect(metrics.Records?.value).toBe(4);
    expect(metrics.Processed?.value).toBe(4);
    expect(metrics.Failed?.value).toBe(0);
    expect(metrics.Commits?.value).toBe(2);
    const lag = metrics.EventTimeLag?.value as number;
    expect(lag).toBeGreaterThanOrEqual(before - newest);
    expect(lag).toBeLessThanOrEqual(after - newest);
    expect(metrics.CommitLatency?.value).toBeGreaterThanOrEqual(0);
  });

  test('also when the invocation fails', async () => {
    const { lines, handler, definition } = run({ metrics: true, failAt: 1 });
    await expect(
      handler(eventOf([at(0, 0, 1), at(0, 1, 1)]), lambdaContext(definition)),
    ).rejects.toThrow();
    const metrics = extracted(metricLines(lines)[0]!);
    expect(metrics.Failed?.value).toBe(1);
    expect(metrics.Processed?.value).toBe(1);
  });

  test('off by default outside Lambda, so local output does not change', async () => {
    const saved = process.env.AWS_LAMBDA_FUNCTION_NAME;
    delete process.env.AWS_LAMBDA_FUNCTION_NAME;
    try {
      const { lines, handler, definition } = run({});
      await handler(eventOf([at(0, 0, 1)]), lambdaContext(definition));
      expect(metricLines(lines)).toEqual([]);
    } finally {
      if (saved !== undefined) process.env.AWS_LAMBDA_FUNCTION_NAME = saved;
    }
  });

  test('on by default in Lambda (AWS_LAMBDA_FUNCTION_NAME set)', async () => {
    const saved = process.env.AWS_LAMBDA_FUNCTION_NAME;
    process.env.AWS_LAMBDA_FUNCTION_NAME = 'counter-fn';
    try {
      const { lines, handler, definition } = run({});
      await handler(eventOf([at(0, 0, 1)]), lambdaContext(definition));
      expect(metricLines(lines)).toHaveLength(1);
    } finally {
      if (saved === undefined) delete process.env.AWS_LAMBDA_FUNCTION_NAME;
      else process.env.AWS_LAMBDA_FUNCTION_NAME = saved;
    }
  });
});
