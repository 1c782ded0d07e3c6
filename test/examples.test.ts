/**
 * The example service's consumers on their recorded events, each against an oracle computed
 * here from the same file with plain loops, then once more on the same records; and the
 * thermometer → alert-log pipeline through the outbox, with its poison readings dead-lettered.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { AlertLog } from '../functions/alert-log.ts';
import { DuplicateWords } from '../functions/duplicate-words.ts';
import { PaymentTotals } from '../functions/payment-totals.ts';
import { PictureFinder } from '../functions/picture-finder.ts';
import { Thermometer } from '../functions/thermometer.ts';
import { WordCount } from '../functions/word-count.ts';
import {
  type EventRecord,
  eventRecordOf,
  eventsOf,
  type KafkaEvent,
  type NdjsonRecord,
} from '../src/event/index.ts';
import type { OutboxRelay } from '../src/output/index.ts';
import {
  consumerOf,
  createHandler,
  createLogger,
  type InvocationReport,
  lambdaContext,
} from '../src/runtime/index.ts';
import { MemoryStateStore, type OutboxMessage } from '../src/state/index.ts';
import { invoke } from '../src/testing/index.ts';
import { alertOracle, type ExpectedAlert, readingsOracle } from './fixtures/oracle.ts';

function readRecords(name: string): NdjsonRecord[] {
  const text = readFileSync(new URL(`../functions/events/${name}.ndjson`, import.meta.url), 'utf8');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as NdjsonRecord);
}

const pages = readRecords('book-pages');
const readings = readRecords('temperature-readings');

/** Every word of every page, lower-cased: the letters-only runs that `\p{L}+` matches. */
function wordsOf(records: readonly NdjsonRecord[]): string[] {
  const words: string[] = [];
  for (const r of records) {
    if (typeof r.value !== 'string') continue;
    for (const match of r.value.toLowerCase().matchAll(/\p{L}+/gu)) words.push(match[0]);
  }
  return words;
}

function countWords(records: readonly NdjsonRecord[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const word of wordsOf(records)) counts[word] = (counts[word] ?? 0) + 1;
  return counts;
}

/** Runs a consumer on `records`, then again on the same store: the second run changes nothing. */
async function twice(
  consumer: unknown,
  records: readonly (NdjsonRecord | EventRecord)[],
  tables: string[],
) {
  const store = new MemoryStateStore();
  const first = await invoke(consumer, records, { store });
  expect(first.error).toBeUndefined();
  const snapshot = async (run: typeof first) =>
    Object.fromEntries(await Promise.all(tables.map(async (t) => [t, await run.table(t)])));
  const before = await snapshot(first);
  const second = await invoke(consumer, records, { store });
  expect(second.error).toBeUndefined();
  const sum = (run: typeof first, field: 'processed' | 'duplicates') =>
    run.reports.reduce((n, r) => n + r[field], 0);
  expect(sum(first, 'processed')).toBe(records.length);
  expect(sum(second, 'processed')).toBe(0);
  expect(sum(second, 'duplicates')).toBe(records.length);
  expect(await snapshot(second)).toEqual(before);
  return before;
}

describe('book-pages', () => {
  test('the recorded file is what the oracles assume: several partitions, pictures, letters beyond ASCII', () => {
    expect(new Set(pages.map((r) => r.partition)).size).toBeGreaterThan(1);
    expect(pages.some((r) => String(r.value).includes('[picture:'))).toBe(true);
    expect(wordsOf(pages).some((w) => /[^a-z]/.test(w))).toBe(true);
  });

  test('word-count counts every word', async () => {
    const state = await twice(WordCount, pages, ['counts']);
    expect(state.counts).toEqual(countWords(pages));
  });

  test('duplicate-words finds the words seen at least twice', async () => {
    const counts = countWords(pages);
    const state = await twice(DuplicateWords, pages, ['seen', 'duplicates']);
    const duplicates = Object.keys(counts).filter((w) => counts[w]! >= 2);
    expect(Object.keys(state.duplicates!).sort()).toEqual(duplicates.sort());
    expect(Object.keys(state.seen!).sort()).toEqual(Object.keys(counts).sort());
  });

  test('picture-finder finds every picture, each pointing at a page that shows it', async () => {
    const named = new Map<string, Set<string>>(); // picture → the pages that show it
    for (const r of pages) {
      for (const [, name] of String(r.value).matchAll(/\[picture:\s*([^\]]+?)\s*\]/g)) {
        if (!named.has(name!)) named.set(name!, new Set());
        named.get(name!)!.add(r.key!);
      }
    }
    const state = await twice(PictureFinder, pages, ['pictures']);
    const pictures = state.pictures as Record<string, { page: string }>;
    expect(Object.keys(pictures).sort()).toEqual([...named.keys()].sort());
    // Pages of different partitions race for a picture; any page that shows it is right.
    for (const [name, found] of Object.entries(pictures)) {
      expect(named.get(name)!.has(found.page), `${name} on ${found.page}`).toBe(true);
    }
  });
});

/** A relay that keeps what it is sent: the outputs and dead letters, in order. */
class ListRelay implements OutboxRelay {
  readonly sent: OutboxMessage[] = [];
  async send(messages: readonly OutboxMessage[]): Promise<void> {
    this.sent.push(...messages);
  }
  async close(): Promise<void> {}
}

/**
 * Runs a consumer's Lambda handler over `records` in events of its batch size, each failed
 * event delivered again as Lambda retries it (at most 5 times), with outputs going to `relay`.
 */
async function deliverAll(
  consumerClass: unknown,
  records: readonly NdjsonRecord[],
  store: MemoryStateStore,
  relay: OutboxRelay,
): Promise<InvocationReport[]> {
  const definition = consumerOf(consumerClass)!;
  const reports: InvocationReport[] = [];
  const handler = createHandler(definition, {
    store,
    log: createLogger(() => {}, 'error'),
    onReport: (r) => reports.push(r),
    relay: () => relay,
  });
  const events = eventsOf(
    records.map((r, i) => eventRecordOf(r, `record ${i}`)),
    definition.batchSize,
  );
  for (const event of events) {
    for (let delivery = 1; ; delivery++) {
      try {
        await handler(event, lambdaContext(definition));
        break;
      } catch (error) {
        if (delivery === 5) throw error;
      }
    }
  }
  return reports;
}

/** The first copy of each message, by origin. */
const unique = (messages: readonly OutboxMessage[]) => [
  ...new Map(messages.map((m) => [m.origin, m] as const)).values(),
];
const origins = (alerts: readonly ExpectedAlert[]) => alerts.map((a) => a.origin);

const text = (base64: string | null) =>
  base64 === null ? null : Buffer.from(base64, 'base64').toString();

/** Relayed outputs as alert-log reads them: one partition, in relay order, origin header kept. */
function asAlertRecords(outputs: readonly OutboxMessage[], from = 0): NdjsonRecord[] {
  return outputs.map((m, i) => ({
    topic: 'temperature-alerts',
    partition: 0,
    offset: from + i,
    key: text(m.key),
    value: text(m.value),
    headers: { 'dogear-origin': m.origin },
  }));
}

describe('temperature-readings', () => {
  test('the recorded file is what the oracles assume: crossings, poison readings in several partitions, a tombstone', () => {
    const { alerts, poison, current } = {
      ...readingsOracle(readings),
      alerts: alertOracle(readings),
    };
    expect(alerts.length).toBeGreaterThan(10);
    expect(new Set(poison.map((r) => r.partition)).size).toBeGreaterThan(1);
    expect(readings.some((r) => r.value === null)).toBe(true);
    expect(Object.keys(current).length).toBeGreaterThan(0);
  });

  test('thermometer keeps the last good reading of each sensor, alerts on each crossing of 30 °C, dead-letters each poison reading', async () => {
    const { current, poison } = readingsOracle(readings);
    const expected = alertOracle(readings);
    const store = new MemoryStateStore();
    const relay = new ListRelay();
    const reports = await deliverAll(Thermometer, readings, store, relay);
    expect(Object.fromEntries(await store.scanTable('thermometer', 'state'))).toEqual(current);

    // The relay is at least once: an output may go out twice, never with another origin.
    const alerts = unique(relay.sent.filter((m) => m.to === 'temperature-alerts'));
    expect(alerts.map((m) => m.origin)).toEqual(expect.arrayContaining(origins(expected)));
    expect(alerts).toHaveLength(expected.length);
    for (const m of alerts) {
      const want = expected.find((a) => a.origin === m.origin)!;
      expect({ key: text(m.key), value: JSON.parse(text(m.value)!) }).toEqual({
        key: want.sensor,
        value: want.alert,
      });
    }

    const letters = unique(relay.sent.filter((m) => m.to === 'temperature-readings.dead-letters'));
    expect(
      letters.map((m) => [m.deadLetter!.partition, m.deadLetter!.offset, text(m.value)]),
    ).toEqual(expect.arrayContaining(poison.map((r) => [r.partition, r.offset, r.value])));
    expect(letters).toHaveLength(poison.length);
    for (const letter of letters) expect(letter.deadLetter!.attempts).toBe(2);
    expect(reports.reduce((n, r) => n + r.deadLettered, 0)).toBe(poison.length);

    // Again: every record is a duplicate, nothing is emitted or dead-lettered twice.
    const again = new ListRelay();
    await deliverAll(Thermometer, readings, store, again);
    expect(again.sent).toEqual([]);
  });

  test('alert-log counts each alert once, with the last per sensor, though the relay repeated some', async () => {
    const relay = new ListRelay();
    await deliverAll(Thermometer, readings, new MemoryStateStore(), relay);
    const alerts = unique(relay.sent.filter((m) => m.to === 'temperature-alerts'));
    // A relay that died after sending and before clearing the outbox sends the same again.
    const relayed = [...alerts.slice(0, 8), ...alerts.slice(3, 8), ...alerts.slice(8), ...alerts];
    const store = new MemoryStateStore();
    const reports = await deliverAll(AlertLog, asAlertRecords(relayed), store, new ListRelay());
    expect(reports.reduce((n, r) => n + r.processed, 0)).toBe(alerts.length);
    expect(Object.fromEntries(await store.scanTable('alert-log', 'state'))).toEqual(
      alertLogOracle(alertOracle(readings)),
    );
  });
});

/** alert-log's table from the expected alerts: per sensor, the count and the last in log order. */
function alertLogOracle(alerts: readonly ExpectedAlert[]) {
  const table: Record<string, { count: number; last: ExpectedAlert['alert'] }> = {};
  for (const a of alerts)
    table[a.sensor] = { count: (table[a.sensor]?.count ?? 0) + 1, last: a.alert };
  return table;
}

describe('payments', () => {
  test('payment-totals, a v1 reader, totals what writers on v1 and v2 paid, and counts v1 notes', async () => {
    // What each producer sent, as JSON; payments.json holds the same records as Lambda delivers
    // them, Confluent-framed Avro made by `dogear events --consumer payment-totals`.
    const sent = readRecords('payments');
    const events = JSON.parse(
      readFileSync(new URL('../functions/events/payments.json', import.meta.url), 'utf8'),
    ) as KafkaEvent[];
    const delivered = events.flatMap((e) => Object.values(e.records).flat());
    expect(new Set(sent.map((r) => r.valueSchemaId))).toEqual(new Set([1, 2]));
    expect(delivered).toHaveLength(sent.length);

    const totals: Record<string, number> = {};
    const notes: Record<string, number> = {};
    for (const r of sent) {
      const p = r.value as { account: string; cents: number; note?: string };
      totals[p.account] = (totals[p.account] ?? 0) + p.cents;
      if (p.note) notes[p.account] = (notes[p.account] ?? 0) + 1;
    }
    const state = await twice(PaymentTotals, delivered, ['totals', 'notes']);
    expect(state.totals).toEqual(totals);
    expect(state.notes).toEqual(notes);
  });
});
