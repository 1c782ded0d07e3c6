/**
 * The example service's five consumers on their recorded events, each against an oracle
 * computed here from the same file with plain loops, then once more on the same records.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { DuplicateWords } from '../functions/duplicate-words.ts';
import { PaymentTotals } from '../functions/payment-totals.ts';
import { PictureFinder } from '../functions/picture-finder.ts';
import { Thermometer } from '../functions/thermometer.ts';
import { WordCount } from '../functions/word-count.ts';
import type { EventRecord, KafkaEvent, NdjsonRecord } from '../src/event/index.ts';
import { MemoryStateStore } from '../src/state/index.ts';
import { invoke } from '../src/testing/index.ts';

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

describe('temperature-readings', () => {
  test('thermometer keeps the last reading of each sensor, and a tombstone removes it', async () => {
    // Log order per sensor: a key stays on one partition, in offset order there.
    const inLogOrder = [...readings].sort(
      (a, b) => a.partition - b.partition || a.offset - b.offset,
    );
    const current: Record<string, number> = {};
    const tombstoned = new Set<string>();
    for (const r of inLogOrder) {
      if (r.value === null || r.value === undefined) {
        delete current[r.key!];
        tombstoned.add(r.key!);
      } else {
        current[r.key!] = (JSON.parse(r.value as string) as { celsius: number }).celsius;
        tombstoned.delete(r.key!);
      }
    }
    // The file has a sensor whose last record is a tombstone, or this test proves less.
    expect(tombstoned.size).toBeGreaterThan(0);

    const state = await twice(Thermometer, readings, ['state']);
    expect(state.state).toEqual(current);
    for (const sensor of tombstoned) expect(state.state).not.toHaveProperty(sensor);
  });
});

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
