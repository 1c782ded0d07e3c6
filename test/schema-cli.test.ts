/**
 * The CLI on a topic of Confluent-framed Avro (issue 11, step 8, tools): `dogear events`,
 * `produce` and `invoke` write NDJSON values given as JSON through a consumer's codecs, each in
 * the writer schema its line names; `dogear record --decode` shows them as the handler gets
 * them; `dogear invoke` decodes through the handler's own code. The example service's
 * payment-totals is checked against totals computed here from its NDJSON.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import avsc from 'avsc';
import { afterAll, describe, expect, inject, test } from 'vitest';
import type { EventRecord, KafkaEvent, NdjsonRecord } from '../src/event/index.ts';
import { dogearLocal as dogear, dogearOk as ok } from './fixtures/dogear-process.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PAYMENTS = 'functions/events/payments.ndjson';
const PAYMENT_EVENTS = 'functions/events/payments.json';
const FIXTURE = 'test/fixtures/schema-cli/functions';

const V1 = {
  type: 'record',
  name: 'Payment',
  namespace: 'example.payments',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'account', type: 'string' },
    { name: 'cents', type: 'long' },
    { name: 'note', type: 'string', default: '' },
  ],
};
const V2 = {
  ...V1,
  fields: [...V1.fields.slice(0, 3), { name: 'currency', type: 'string', default: 'EUR' }],
};
/** The writer schemas, by id, read with avsc directly: an oracle independent of dogear's codec. */
const WRITERS: Record<string, avsc.Type> = {
  '1': avsc.Type.forSchema(V1 as avsc.Schema),
  '2': avsc.Type.forSchema(V2 as avsc.Schema),
};

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dogear-schema-cli-'));
  dirs.push(dir);
  return dir;
}

/** The one error line of a failed run. */
async function failure(...args: string[]): Promise<string> {
  const run = await dogear(...args);
  expect(run.code, `dogear ${args.join(' ')} should fail\n${run.stderr}`).toBe(1);
  return run.stderr.trim();
}

function readLines(path: string): NdjsonRecord[] {
  return readFileSync(join(ROOT, path), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as NdjsonRecord);
}
const writeNdjson = (path: string, lines: readonly object[]) =>
  writeFileSync(path, `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);

type Payment = { id: string; account: string; cents: number; note?: string; currency?: string };
const payments = readLines(PAYMENTS);

/** Totals per account, and payments with a note, with plain loops over the writers' values. */
function oracle(lines: readonly NdjsonRecord[]) {
  const totals: Record<string, number> = {};
  const notes: Record<string, number> = {};
  for (const line of lines) {
    const p = line.value as Payment;
    totals[p.account] = (totals[p.account] ?? 0) + p.cents;
    // v2 writers dropped the note: a v1 reader sees its default, ''.
    if (line.valueSchemaId === 1 && p.note) notes[p.account] = (notes[p.account] ?? 0) + 1;
  }
  return { totals, notes };
}

const recordsOf = (events: KafkaEvent[]): EventRecord[] =>
  events.flatMap((e) => Object.values(e.records).flat());

describe('the example: payment-totals, a v1 reader of payments written on v1 and v2', () => {
  test('the NDJSON has writers on both schemas, v2 ones after v1 ones started, and notes', () => {
    const ids = payments.map((l) => l.valueSchemaId);
    expect(new Set(ids)).toEqual(new Set([1, 2]));
    expect(ids.lastIndexOf(1)).toBeGreaterThan(ids.indexOf(2)); // v1 stragglers after v2 starts
    expect(Object.keys(oracle(payments).notes).length).toBeGreaterThan(0);
  });

  test("dogear events --consumer writes each value in its line's writer schema, Confluent-framed; payments.json is its output", async () => {
    const out = join(tempDir(), 'payments.json');
    await ok(
      'events',
      PAYMENTS,
      '--consumer',
      'payment-totals',
      '--batch-size',
      '25',
      '--out',
      out,
    );
    // The committed events are what this command makes from the committed NDJSON.
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(join(ROOT, PAYMENT_EVENTS), 'utf8'));
    const records = recordsOf(JSON.parse(readFileSync(out, 'utf8')) as KafkaEvent[]);
    expect(records).toHaveLength(payments.length);
    const byCoordinates = new Map(records.map((r) => [`${r.partition}@${r.offset}`, r]));
    for (const line of payments) {
      const bytes = Buffer.from(
        byCoordinates.get(`${line.partition}@${line.offset}`)!.value!,
        'base64',
      );
      const id = String(line.valueSchemaId);
      expect([...bytes.subarray(0, 5)]).toEqual([0, 0, 0, 0, Number(id)]);
      expect(bytes.subarray(5).equals(WRITERS[id]!.toBuffer(line.value))).toBe(true);
    }
  });

  test('dogear invoke on the events, then dogear state: totals and notes are exact; a second run changes nothing', async () => {
    const dir = tempDir();
    const expected = oracle(payments);
    const state = async (table: string) =>
      JSON.parse(
        await ok('state', 'payment-totals', '--table', table, '--json', '--state-dir', dir),
      );
    const first = JSON.parse(
      await ok(
        'invoke',
        'payment-totals',
        '--events',
        PAYMENT_EVENTS,
        '--state-dir',
        dir,
        '--json',
      ),
    );
    expect(first).toMatchObject({
      records: payments.length,
      processed: payments.length,
      failed: 0,
    });
    expect(await state('totals')).toEqual(expected.totals);
    expect(await state('notes')).toEqual(expected.notes);
    // The NDJSON itself, encoded by invoke through the consumer's codec: the same records.
    const again = JSON.parse(
      await ok('invoke', 'payment-totals', '--events', PAYMENTS, '--state-dir', dir, '--json'),
    );
    expect(again).toMatchObject({ processed: 0, duplicates: payments.length });
    expect(await state('totals')).toEqual(expected.totals);
  });
});

describe("dogear invoke decodes through the handler's code", () => {
  test('record.valueSchema names each writer schema; a v2 record reads in v1 with the default note', async () => {
    const dir = tempDir();
    const file = join(dir, 'two.ndjson');
    writeNdjson(file, [
      { ...payments[0]!, offset: 0, partition: 0 },
      {
        topic: 'payments',
        partition: 0,
        offset: 1,
        key: 'acct-x',
        value: { id: 'p2', account: 'acct-x', cents: 7, currency: 'USD' },
        valueSchemaId: 2,
      },
    ]);
    await ok(
      'invoke',
      'payment-schemas',
      '--events',
      file,
      '--functions',
      FIXTURE,
      '--state-dir',
      dir,
    );
    const seen = JSON.parse(
      await ok(
        'state',
        'payment-schemas',
        '--table',
        'seen',
        '--json',
        '--functions',
        FIXTURE,
        '--state-dir',
        dir,
      ),
    );
    const registry = 'schemas in code (confluent)';
    expect(seen['0@0']).toEqual({
      value: { ...(payments[0]!.value as object) },
      valueSchema: { format: 'avro', wire: 'confluent', id: 1, registry },
    });
    expect(seen['0@1']).toEqual({
      value: { id: 'p2', account: 'acct-x', cents: 7, note: '' },
      valueSchema: { format: 'avro', wire: 'confluent', id: 2, registry },
    });
  });

  test('a writer schema the reader cannot read fails the record by name, schema id and fix', async () => {
    const dir = tempDir();
    const file = join(dir, 'v3.ndjson');
    writeNdjson(file, [
      { topic: 'payments', partition: 0, offset: 0, value: { id: 5 }, valueSchemaId: 3 },
    ]);
    const line = await failure(
      'invoke',
      'payment-schemas',
      '--events',
      file,
      '--functions',
      FIXTURE,
      '--state-dir',
      dir,
    );
    expect(line).toMatch(
      /payments-0@0.*value \(avro\): the reader schema cannot read writer schema 3 .*evolve the writer compatibly/,
    );
  });
});

describe('bad NDJSON lines name the line, what is wrong and the fix', () => {
  const run = async (lines: object[], ...flags: string[]) => {
    const dir = tempDir();
    const file = join(dir, 'bad.ndjson');
    writeNdjson(file, lines);
    const where = relative(ROOT, file);
    const line = await failure('events', where, ...flags);
    return { line, where };
  };
  const good = { topic: 'payments', partition: 0, offset: 0, key: 'a' };
  const consumer = ['--consumer', 'payment-totals'];

  test('a value the writer schema refuses: the field, what it holds, the schema', async () => {
    const { line, where } = await run(
      [
        { ...good, value: { id: 'p', account: 'a', cents: 1 }, valueSchemaId: 1 },
        { ...good, offset: 1, value: { id: 'p', account: 'a', cents: '12.50' }, valueSchemaId: 2 },
      ],
      ...consumer,
    );
    expect(line).toContain(
      `${where}:2: the value cannot be written as avro for consumer payment-totals: cents is "12.50", not a long, in writer schema 2 (Payment); fix the value, or name the schema it was written with in "valueSchemaId"`,
    );
  });

  test('a field the writer schema does not have (a v2 value said to be v1)', async () => {
    const { line, where } = await run(
      [{ ...good, value: { id: 'p', account: 'a', cents: 1, currency: 'USD' }, valueSchemaId: 1 }],
      ...consumer,
    );
    expect(line).toContain(
      `${where}:1: the value cannot be written as avro for consumer payment-totals: currency is not a field of writer schema 1 (Payment: id, account, cents, note)`,
    );
  });

  test('a schema id the registry does not know', async () => {
    const { line, where } = await run(
      [{ ...good, value: { id: 'p' }, valueSchemaId: 9 }],
      ...consumer,
    );
    expect(line).toContain(
      `${where}:1: the value cannot be written as avro for consumer payment-totals: schema id 9 is not among the schemas given in code (1, 2)`,
    );
  });

  test('no writer schema id, on the line or as --value-schema-id; the flag fills it in', async () => {
    const lines = [{ ...good, value: { id: 'p', account: 'a', cents: 3 } }];
    const { line, where } = await run(lines, ...consumer);
    expect(line).toContain(
      `${where}:1: consumer payment-totals reads values framed for schemas in code (confluent), and the line names no writer schema; add "valueSchemaId" to the line, or pass --value-schema-id`,
    );
    const dir = tempDir();
    const file = join(dir, 'ok.ndjson');
    writeNdjson(file, lines);
    const [event] = JSON.parse(
      await ok('events', file, ...consumer, '--value-schema-id', '2'),
    ) as KafkaEvent[];
    const bytes = Buffer.from(recordsOf([event!])[0]!.value!, 'base64');
    expect([...bytes.subarray(0, 5)]).toEqual([0, 0, 0, 0, 2]);
  });

  test('a valueSchemaId without --consumer, and --consumer of a consumer without a schema', async () => {
    const { line, where } = await run([{ ...good, value: { id: 'p' }, valueSchemaId: 1 }]);
    expect(line).toContain(
      `${where}:1 has "valueSchemaId", but nothing encodes its value; pass --consumer <name> for its codecs to write it`,
    );
    const other = await run(
      [{ ...good, value: { id: 'p' } }],
      '--consumer',
      'payments-json',
      '--functions',
      FIXTURE,
    );
    expect(other.line).toContain(
      "Consumer payments-json reads its value as 'json' and its key as 'string', through no schema, so --consumer has nothing to encode",
    );
  });

  test('lines with valueBase64 pass as they are; with a valueSchemaId too, that is a mistake', async () => {
    const dir = tempDir();
    const file = join(dir, 'bytes.ndjson');
    writeNdjson(file, [{ ...good, valueBase64: 'AAAAAAE=' }]);
    const [event] = JSON.parse(await ok('events', file, ...consumer)) as KafkaEvent[];
    expect(recordsOf([event!])[0]!.value).toBe('AAAAAAE=');
    const { line, where } = await run(
      [{ ...good, valueBase64: 'AAAAAAE=', valueSchemaId: 1 }],
      ...consumer,
    );
    expect(line).toContain(`${where}:1 has both "valueBase64" and "valueSchemaId"`);
  });
});

describe('against a broker: produce --consumer, then record --decode', () => {
  test('the recording shows each value as the v1 handler gets it, with its writer schema, and still replays', async () => {
    const brokers = inject('kafkaBrokers');
    const dir = tempDir();
    const topic = `payments-${Date.now()}`;
    const file = join(dir, 'payments.ndjson');
    const lines = payments.map((l) => ({ ...l, topic }));
    // One line the reader cannot read, to be kept as recorded.
    const lastOf0 = Math.max(...lines.filter((l) => l.partition === 0).map((l) => l.offset));
    writeNdjson(file, [
      ...lines,
      { topic, partition: 0, offset: lastOf0 + 1, value: { id: 5 }, valueSchemaId: 3 },
    ]);
    await ok(
      'produce',
      file,
      '--brokers',
      brokers,
      '--consumer',
      'payment-schemas',
      '--functions',
      FIXTURE,
    );
    const recording = join(dir, 'recorded.ndjson');
    const run = await dogear(
      'record',
      '--topic',
      topic,
      '--brokers',
      brokers,
      '--consumer',
      'payment-schemas',
      '--decode',
      '--functions',
      FIXTURE,
      '--out',
      recording,
      '--idle-ms',
      '3000',
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(
      /1 record could not be decoded, kept as recorded with "decodeError" \(the first: .*cannot read writer schema 3/,
    );
    const recorded = readFileSync(recording, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(recorded).toHaveLength(lines.length + 1);
    const byId = new Map(recorded.filter((r) => !r.decodeError).map((r) => [r.value.id, r]));
    for (const line of lines) {
      const p = line.value as Payment;
      const r = byId.get(p.id);
      expect(r.value).toEqual({ id: p.id, account: p.account, cents: p.cents, note: p.note ?? '' });
      expect(r.valueSchema).toEqual({
        format: 'avro',
        wire: 'confluent',
        id: line.valueSchemaId,
        registry: 'schemas in code (confluent)',
      });
      const bytes = Buffer.from(r.valueBase64, 'base64');
      expect(bytes.subarray(5).equals(WRITERS[String(line.valueSchemaId)]!.toBuffer(p))).toBe(true);
    }
    expect(recorded.find((r) => r.decodeError).decodeError).toMatch(/schema 3/);
    // The decoded recording replays: the bytes are what tools read.
    const replay = join(dir, 'replay.ndjson');
    writeNdjson(
      replay,
      recorded.filter((r) => !r.decodeError).map((r) => ({ ...r, topic: 'payments' })),
    );
    await ok('invoke', 'payment-totals', '--events', replay, '--state-dir', dir);
    const totals = JSON.parse(
      await ok('state', 'payment-totals', '--table', 'totals', '--json', '--state-dir', dir),
    );
    expect(totals).toEqual(oracle(payments).totals);
  });
});
