/**
 * What every benchmark module shares: the row it reports, rounds with a median, a table.
 * A benchmark module exports one async function returning a `BenchResult`; `bench/index.ts`
 * runs them in order.
 */
import { strict as assert } from 'node:assert';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { MSKEvent } from '@aws-lambda-powertools/kafka/types';
import type { KafkaEvent } from '../src/event/index.ts';
import type { ConsumerDefinition } from '../src/runtime/index.ts';
import { lambdaContext } from '../src/runtime/lambda-context.ts';

export interface BenchOptions {
  /** Timed rounds per subject; the median is reported. */
  readonly rounds: number;
  /** Untimed rounds per subject before the timed ones. */
  readonly warmups: number;
  /** Progress lines (stderr), so stdout stays the table and the JSON line. */
  readonly progress: (line: string) => void;
}

/** One subject of one benchmark: its throughput over `rounds` timed rounds. */
export interface BenchRow {
  readonly benchmark: string;
  readonly subject: string;
  /** Work items per round (records, for the consumer benchmarks). */
  readonly items: number;
  readonly unit: string;
  readonly rounds: number;
  /** Every timed round, in milliseconds, in the order run. */
  readonly roundsMs: readonly number[];
  readonly medianMs: number;
  /** `items` per second at the median round. */
  readonly perSecond: number;
  /** The row this one is compared with, by subject, and the ratio of throughputs. */
  readonly versus?: { readonly subject: string; readonly ratio: number };
}

export interface BenchResult {
  readonly rows: readonly BenchRow[];
  /** Sentences that say exactly what was measured; printed under the table. */
  readonly notes: readonly string[];
}

export type Benchmark = (options: BenchOptions) => Promise<BenchResult>;

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function rowOf(
  benchmark: string,
  subject: string,
  items: number,
  unit: string,
  roundsMs: readonly number[],
): BenchRow {
  const medianMs = median(roundsMs);
  return {
    benchmark,
    subject,
    items,
    unit,
    rounds: roundsMs.length,
    roundsMs: roundsMs.map((ms) => Math.round(ms * 100) / 100),
    medianMs: Math.round(medianMs * 100) / 100,
    perSecond: Math.round((items / medianMs) * 1000),
  };
}

/** `row` with its throughput as a fraction of `base`'s. */
export function versus(row: BenchRow, base: BenchRow): BenchRow {
  return {
    ...row,
    versus: {
      subject: base.subject,
      ratio: Math.round((row.perSecond / base.perSecond) * 1000) / 1000,
    },
  };
}

let collect: (() => void) | undefined | null = null;

/**
 * A full garbage collection between rounds, so no round pays for the previous round's garbage
 * (each round still pays for its own). Node hides `gc` unless started with `--expose-gc`; the
 * flag set at run time exposes it in a new context. Does nothing where that is not possible.
 */
export function collectGarbage(): void {
  if (collect === null) {
    try {
      setFlagsFromString('--expose-gc');
      collect = runInNewContext('gc') as () => void;
    } catch {
      collect = undefined;
    }
  }
  collect?.();
}

const group = (n: number) => n.toLocaleString('en-US');

/** A small aligned table of rows. */
export function formatTable(rows: readonly BenchRow[]): string {
  const header = [
    'benchmark',
    'subject',
    'items',
    'median ms',
    'rate (median)',
    'min–max rate',
    'vs',
  ];
  const lines = rows.map((row) => {
    const rates = row.roundsMs.map((ms) => (row.items / ms) * 1000);
    return [
      row.benchmark,
      row.subject,
      group(row.items),
      row.medianMs.toFixed(1),
      `${group(row.perSecond)} ${row.unit}`,
      `${group(Math.round(Math.min(...rates)))}–${group(Math.round(Math.max(...rates)))}`,
      row.versus ? `${row.versus.ratio.toFixed(2)}× ${row.versus.subject}` : '',
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const numeric = new Set([2, 3, 4, 5]);
  const render = (cells: string[]) =>
    cells
      .map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [render(header), render(widths.map((w) => '─'.repeat(w))), ...lines.map(render)].join(
    '\n',
  );
}

/** Fails the benchmark when a run's counts differ from the plain count it is compared with. */
export function assertSameCounts(
  actual: ReadonlyMap<string, unknown>,
  expected: ReadonlyMap<string, number>,
  label: string,
): void {
  const wrong: string[] = [];
  for (const [word, n] of expected) {
    if (actual.get(word) !== n) wrong.push(`${word}: expected ${n}, got ${actual.get(word)}`);
  }
  for (const word of actual.keys()) if (!expected.has(word)) wrong.push(`${word}: unexpected`);
  if (wrong.length > 0) {
    throw new assert.AssertionError({
      message: `${label}: counts differ from a plain count in ${wrong.length} of ${expected.size} words, e.g. ${wrong.slice(0, 5).join('; ')}`,
    });
  }
}

/**
 * Each event through `handler` in order, as one warm Lambda would get them. `beforeEach` hears
 * the index of the event about to go in (a meter tags requests with their invocation).
 */
export async function runEvents(
  handler: (event: never, context: never) => Promise<unknown>,
  events: KafkaEvent[],
  definition: ConsumerDefinition,
  beforeEach?: (index: number) => void,
): Promise<void> {
  const call = handler as (event: KafkaEvent | MSKEvent, context: unknown) => Promise<unknown>;
  for (const [index, event] of events.entries()) {
    beforeEach?.(index);
    await call(event, lambdaContext(definition));
  }
}
