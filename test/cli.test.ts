/**
 * The `dogear` command as a user runs it: a separate Node 24 process from bin/dogear.js (which
 * runs dist/), each test with its own `--state-dir`, asserting on exit codes, stdout and stderr.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { COMMANDS } from '../src/cli/options.ts';
import type { NdjsonRecord } from '../src/event/index.ts';
import {
  type DogearRun,
  dogearLocal as dogear,
  dogearOk as ok,
  spawnDogear,
} from './fixtures/dogear-process.ts';

import { alertOracle, readingsOracle } from './fixtures/oracle.ts';

const PARTIAL = 'test/fixtures/invoke-partial/functions';
const SOCKET = 'test/fixtures/invoke-socket/functions';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NODE = join(ROOT, 'node_modules/.bin/node');
const PAGES = 'functions/events/book-pages.ndjson';
const READINGS = 'functions/events/temperature-readings.ndjson';
const CONSUMERS = [
  'alert-log',
  'duplicate-words',
  'payment-totals',
  'picture-finder',
  'thermometer',
  'word-count',
];

/**
 * The CLI runs from dist/. `npm test` builds it first; when src/ is newer (a bare
 * `npx vitest run` after an edit), build here so these tests never run stale code.
 */
beforeAll(() => {
  const newest = (dir: string, pick: (f: string) => boolean) =>
    Math.max(
      0,
      ...readdirSync(join(ROOT, dir), { recursive: true })
        .map(String)
        .filter(pick)
        .map((f) => statSync(join(ROOT, dir, f)).mtimeMs),
    );
  const source = newest('src', (f) => f.endsWith('.ts') && !/\.test(-d)?\.ts$/.test(f));
  let built = 0;
  try {
    built = newest('dist', (f) => f.endsWith('.js'));
  } catch {}
  if (built >= source) return;
  const tsc = spawnSync(
    NODE,
    [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    { cwd: ROOT, encoding: 'utf8' },
  );
  if (tsc.status !== 0) throw new Error(`building dist/ failed:\n${tsc.stdout}${tsc.stderr}`);
}, 60_000);

type Run = DogearRun;

const okJson = async (...args: string[]) => JSON.parse(await ok(...args, '--json'));

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh folder for a test's state and files. */
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dogear-cli-'));
  dirs.push(dir);
  return dir;
}

function readRecords(path: string): NdjsonRecord[] {
  return readFileSync(join(ROOT, path), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as NdjsonRecord);
}

const writeNdjson = (path: string, records: readonly object[]) =>
  writeFileSync(path, `${records.map((r) => JSON.stringify(r)).join('\n')}\n`);

/** word-count's oracle: every `\p{L}+` run, lower-cased, counted with a plain loop. */
function countWords(records: readonly NdjsonRecord[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of records) {
    if (typeof r.value !== 'string') continue;
    for (const [word] of r.value.toLowerCase().matchAll(/\p{L}+/gu))
      counts[word] = (counts[word] ?? 0) + 1;
  }
  return counts;
}

/** thermometer's oracle: the last reading per sensor in log order; a tombstone removes it. */
function lastReadings(records: readonly NdjsonRecord[]): Record<string, number> {
  const current: Record<string, number> = {};
  const inLogOrder = [...records].sort((a, b) => a.partition - b.partition || a.offset - b.offset);
  for (const r of inLogOrder) {
    if (r.value === null || r.value === undefined) delete current[r.key!];
    else current[r.key!] = (JSON.parse(r.value as string) as { celsius: number }).celsius;
  }
  return current;
}

/** A reading thermometer takes and does not alert on: JSON with `celsius` at most 30. */
function calm(value: string): boolean {
  try {
    const { celsius } = JSON.parse(value) as { celsius?: unknown };
    return typeof celsius === 'number' && celsius <= 30;
  } catch {
    return false;
  }
}

/** Sorted by key, as `dogear state` prints tables, so JSON text can be compared too. */
const sorted = (o: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/**
 * A failed command: exit code 1, and the error is one line (`dogear: error when ...`) that
 * says it all, followed at most by its causes; no stack trace.
 */
function errorLine(run: Run): string {
  expect(run.code).toBe(1);
  const lines = run.stderr.trimEnd().split('\n');
  const at = lines.findIndex((line) => line.startsWith('dogear: error'));
  expect(at, run.stderr).toBeGreaterThanOrEqual(0);
  // Its causes, or, when several partitions failed, one line per failure.
  for (const after of lines.slice(at + 1)) expect(after).toMatch(/^ {2}(caused by: |- )/);
  expect(run.stderr).not.toMatch(/^\s+at /m);
  return lines[at]!;
}

describe.concurrent('dogear', () => {
  test('--help lists the commands, and invoke --help documents every flag', async () => {
    const help = await ok('--help');
    for (const command of ['invoke', 'state', 'events']) {
      expect(help).toMatch(new RegExp(`^\\s+${command} \\[options\\] <\\w+>`, 'm'));
    }
    // Commander wraps long lines; compare with whitespace collapsed.
    const invokeHelp = (await ok('invoke', '--help')).replace(/\s+/g, ' ');
    const documented = [
      '--events <file>',
      '--state-dir <dir>',
      '--dynamodb <endpoint>',
      '--dynamodb-table <name>',
      '--reset',
      '--json',
      '--verbose',
      '--functions <dir>',
    ];
    const flags = COMMANDS.invoke.flags.map((f) => f.flags);
    expect(flags).toEqual(expect.arrayContaining(documented));
    for (const flag of COMMANDS.invoke.flags) {
      expect(invokeHelp).toContain(` ${flag.flags} ${flag.description.replace(/\s+/g, ' ')}`);
    }
    expect(invokeHelp).toContain('Example:');
  });

  test('invoke --json prints the summary; a second run is all duplicates and changes nothing; state reads it', async () => {
    const dir = tempDir();
    const records = readRecords(PAGES);
    const counts = countWords(records);
    const first = await okJson('invoke', 'word-count', '--events', PAGES, '--state-dir', dir);
    expect(Object.keys(first)).toEqual([
      'consumer',
      'batches',
      'invocations',
      'records',
      'processed',
      'duplicates',
      'failed',
      'notRun',
      'deadLettered',
      'outputsRelayed',
      'outputsPending',
      'responses',
      'failures',
      'durationMs',
    ]);
    // word-count takes batches of 500.
    const batches = Math.ceil(records.length / 500);
    expect(first).toMatchObject({
      consumer: 'word-count',
      batches,
      invocations: batches,
      records: records.length,
      processed: records.length,
      duplicates: 0,
      failed: 0,
      notRun: 0,
      responses: [],
      failures: [],
    });
    expect(first.durationMs).toBeGreaterThanOrEqual(0);
    const table = () =>
      ok('state', 'word-count', '--table', 'counts', '--json', '--state-dir', dir);
    const before = await table();
    expect(JSON.parse(before)).toEqual(sorted(counts));

    const second = await okJson('invoke', 'word-count', '--events', PAGES, '--state-dir', dir);
    expect(second).toMatchObject({
      batches,
      records: records.length,
      processed: 0,
      duplicates: records.length,
      failed: 0,
    });
    expect(await table()).toBe(before);

    // --key prints one value (null when absent), whatever letters the key has.
    const key = (k: string) =>
      ok('state', 'word-count', '--table', 'counts', '--key', k, '--state-dir', dir);
    const foreign = Object.keys(counts).find((w) => /[^a-z]/.test(w))!;
    const [the, other, none] = await Promise.all([key('the'), key(foreign), key('no-such-word')]);
    expect(JSON.parse(the)).toBe(counts.the);
    expect(JSON.parse(other)).toBe(counts[foreign]);
    expect(JSON.parse(none)).toBeNull();

    // --offsets prints each partition's next offset to read (Kafka's committed offset) and
    // the last processed: the last one in the file.
    const last = new Map<number, number>();
    for (const r of records) last.set(r.partition, Math.max(last.get(r.partition) ?? -1, r.offset));
    const [text, json] = await Promise.all([
      ok('state', 'word-count', '--offsets', '--state-dir', dir),
      okJson('state', 'word-count', '--offsets', '--state-dir', dir),
    ]);
    const printed = text
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.split(/\s+/));
    const byPartition = [...last].sort(([a], [b]) => a - b);
    expect(printed).toEqual(
      byPartition.map(([p, offset]) => [`book-pages-${p}`, String(offset + 1), String(offset)]),
    );
    expect(json).toEqual({
      version: 1,
      consumer: 'word-count',
      group: 'word-count',
      topic: 'book-pages',
      partitions: byPartition.map(([partition, offset]) => ({
        topic: 'book-pages',
        partition,
        nextOffset: offset + 1,
        lastProcessedOffset: offset,
      })),
    });
  }, 180_000); // ten processes one after another, on a loaded machine

  test('events output fed back to invoke gives the same state as the NDJSON', async () => {
    const dir = tempDir();
    const events = join(dir, 'events.json');
    // Through stdout, as a user would redirect it: stdout must hold the JSON and nothing else.
    writeFileSync(events, await ok('events', PAGES, '--batch-size', '37'));
    const parsed = JSON.parse(readFileSync(events, 'utf8')) as Array<{ eventSource: string }>;
    const records = readRecords(PAGES);
    expect(parsed).toHaveLength(Math.ceil(records.length / 37));
    expect(parsed.every((e) => e.eventSource === 'aws:kafka')).toBe(true);

    const summary = await okJson('invoke', 'word-count', '--events', events, '--state-dir', dir);
    // The events file is delivered as it is: one invocation per event.
    expect(summary).toMatchObject({ batches: parsed.length, processed: records.length });
    // The NDJSON run ends with exactly this table (the test above), so they are the same state.
    const state = await okJson('state', 'word-count', '--table', 'counts', '--state-dir', dir);
    expect(state).toEqual(sorted(countWords(records)));
  });

  test('a SelfManagedKafka events file works', async () => {
    const dir = tempDir();
    // The calm readings: a hot or poison one would need a relay for its alert or dead letter.
    const records = readRecords(READINGS).filter((r) => r.value == null || calm(r.value as string));
    // Built by hand as a self-managed Kafka trigger delivers it: no eventSourceArn, base64.
    const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
    const grouped: Record<string, object[]> = {};
    for (const r of records) {
      const id = `${r.topic}-${r.partition}`;
      grouped[id] ??= [];
      grouped[id].push({
        topic: r.topic,
        partition: r.partition,
        offset: r.offset,
        timestamp: r.timestamp,
        timestampType: 'CREATE_TIME',
        key: b64(r.key!),
        ...(r.value === null ? {} : { value: b64(r.value as string) }),
        headers: [{ source: [-1, 104] }],
      });
    }
    const file = join(dir, 'self-managed.json');
    writeFileSync(
      file,
      JSON.stringify({
        eventSource: 'SelfManagedKafka',
        bootstrapServers: 'k:9092',
        records: grouped,
      }),
    );
    const summary = await okJson('invoke', 'thermometer', '--events', file, '--state-dir', dir);
    expect(summary).toMatchObject({ batches: 1, processed: records.length, failed: 0 });
    const state = await okJson('state', 'thermometer', '--table', 'state', '--state-dir', dir);
    expect(state).toEqual(sorted(lastReadings(records)));
  });

  describe('bad input exits 1 with a one-line error naming the file or record and a fix', () => {
    test('malformed event JSON', async () => {
      const dir = tempDir();
      const file = join(dir, 'broken.json');
      writeFileSync(file, '{"eventSource": "aws:kafka", "records": {"book-pages-0": [\n');
      const line = errorLine(
        await dogear('invoke', 'word-count', '--events', file, '--state-dir', dir),
      );
      expect(line).toContain(file);
      expect(line).toMatch(/not valid JSON.*fix the event JSON/);
    });

    test('a value that is not base64', async () => {
      const dir = tempDir();
      const file = join(dir, 'bad64.ndjson');
      writeNdjson(file, [
        { topic: 'book-pages', partition: 0, offset: 0, value: 'fine' },
        { topic: 'book-pages', partition: 0, offset: 1, valueBase64: 'this is *not* base64' },
      ]);
      const line = errorLine(
        await dogear('invoke', 'word-count', '--events', file, '--state-dir', dir),
      );
      expect(line).toContain('book-pages-0@1');
      expect(line).toMatch(/value is not valid base64.*base64-encoded/);
    });

    test('a value that is not JSON for a JSON consumer', async () => {
      const dir = tempDir();
      const file = join(dir, 'text.ndjson');
      writeNdjson(file, [
        { topic: 'temperature-alerts', partition: 1, offset: 0, key: 's', value: 'warm' },
      ]);
      const line = errorLine(
        await dogear('invoke', 'alert-log', '--events', file, '--state-dir', dir),
      );
      expect(line).toContain('temperature-alerts-1@0');
      expect(line).toMatch(/value is not JSON.*declare value: 'string'/);
    });

    test('a record missing its offset names file:line', async () => {
      const dir = tempDir();
      const file = join(dir, 'no-offset.ndjson');
      writeNdjson(file, [
        { topic: 'book-pages', partition: 0, offset: 0, value: 'a' },
        { topic: 'book-pages', partition: 0, value: 'b' },
      ]);
      const line = errorLine(
        await dogear('invoke', 'word-count', '--events', file, '--state-dir', dir),
      );
      expect(line).toContain(`${file}:2`);
      expect(line).toMatch(/no "offset"; add a non-negative integer "offset"/);
    });

    test('an unknown consumer lists the known ones', async () => {
      const line = errorLine(
        await dogear('invoke', 'word-counter', '--events', PAGES, '--state-dir', tempDir()),
      );
      expect(line).toContain("'word-counter'");
      for (const name of CONSUMERS) expect(line).toContain(name);
    });

    test('an events file that does not exist', async () => {
      const dir = tempDir();
      const missing = relative(ROOT, join(dir, 'nope.ndjson'));
      const line = errorLine(
        await dogear('invoke', 'word-count', '--events', missing, '--state-dir', dir),
      );
      expect(line).toContain(`${missing} does not exist`);
      expect(line).toMatch(/record one with 'dogear record' or write NDJSON records/);
    });
  });

  test('no partial state from a failed record; a rerun of the fixed file continues', async () => {
    const dir = tempDir();
    const records = readRecords(PAGES);
    // The 5th record of partition 1 goes bad.
    const bad = records.filter((r) => r.partition === 1)[4]!;
    const file = join(dir, 'pages.ndjson');
    writeNdjson(
      file,
      records.map((r) =>
        r === bad ? { ...r, value: undefined, valueBase64: '%%% not base64 %%%' } : r,
      ),
    );
    const failed = await dogear(
      'invoke',
      'word-count',
      '--events',
      file,
      '--state-dir',
      dir,
      '--json',
    );
    expect(errorLine(failed)).toContain(`book-pages-1@${bad.offset}`);
    expect(JSON.parse(failed.stdout)).toMatchObject({ failed: 1 });

    const before = records.filter((r) => r.partition !== 1 || r.offset < bad.offset);
    const { partitions } = await okJson('state', 'word-count', '--offsets', '--state-dir', dir);
    const at = (p: number) =>
      partitions.find((c: { partition: number }) => c.partition === p)
        ?.lastProcessedOffset as number;
    expect(at(1)).toBe(records.filter((r) => r.partition === 1)[3]!.offset);
    for (const p of [0, 2])
      expect(at(p)).toBe(
        Math.max(...records.filter((r) => r.partition === p).map((r) => r.offset)),
      );
    const table = () => okJson('state', 'word-count', '--table', 'counts', '--state-dir', dir);
    expect(await table()).toEqual(sorted(countWords(before)));

    writeNdjson(file, records); // fixed
    const rerun = await okJson('invoke', 'word-count', '--events', file, '--state-dir', dir);
    expect(rerun).toMatchObject({
      processed: records.length - before.length,
      duplicates: before.length,
      failed: 0,
    });
    expect(await table()).toEqual(sorted(countWords(records)));
  });
});

/** Runs `dogear invoke <consumer>` on records of topic `partial`, in a fresh state folder. */
async function invokePartial(consumer: string, records: readonly object[]) {
  const dir = tempDir();
  const file = join(dir, 'partial.ndjson');
  writeNdjson(file, records);
  const run = await dogear(
    'invoke',
    consumer,
    '--events',
    file,
    '--functions',
    PARTIAL,
    '--state-dir',
    dir,
    '--json',
  );
  const state = (...args: string[]) =>
    okJson('state', consumer, ...args, '--functions', PARTIAL, '--state-dir', dir);
  return { run, summary: JSON.parse(run.stdout || 'null'), state };
}

const partialRecords = (values: Record<number, string>, count = 6) =>
  Array.from({ length: count }, (_, offset) => ({
    topic: 'partial',
    partition: 0,
    offset,
    timestamp: 1_764_000_000_000 + offset,
    value: values[offset] ?? 'fine',
  }));

/** A summary's counts say what happened to every record, once. */
function expectCountsAddUp(summary: {
  records: number;
  processed: number;
  duplicates: number;
  failed: number;
  notRun: number;
}) {
  expect(summary.processed + summary.duplicates + summary.failed + summary.notRun).toBe(
    summary.records,
  );
}

describe.concurrent('dogear invoke, as Lambda delivers', () => {
  test('a partial batch response is retried from the named offset: no record is lost', async () => {
    // Offset 1 fails once; batches of 2: [0, 1], [2, 3], [4, 5].
    const { run, summary, state } = await invokePartial(
      'partial-default',
      partialRecords({ 1: 'fail-once' }),
    );
    expect(run.code, run.stderr).toBe(0);
    expect(await state('--table', 'seen')).toEqual(
      Object.fromEntries([0, 1, 2, 3, 4, 5].map((o) => [`0@${o}`, 1])),
    );
    expect(summary).toMatchObject({
      batches: 3,
      invocations: 4,
      records: 6,
      processed: 6,
      duplicates: 0,
      failed: 0,
      notRun: 0,
    });
    // The response as the handler answered it, with the batch and attempt it answered.
    expect(summary.responses).toEqual([
      {
        batch: 1,
        attempt: 0,
        response: {
          batchItemFailures: [{ itemIdentifier: { partition: 'partial-0', offset: 1 } }],
        },
      },
    ]);
    const {
      partitions: [offsets],
    } = await state('--offsets');
    expect(offsets).toMatchObject({ partition: 0, nextOffset: 6, lastProcessedOffset: 5 });
    // The retry is a line of its own on stderr.
    expect(run.stderr).toMatch(/batch 1\/3, retry 1 from partial-0@1: 1 records, 1 processed/);
  });

  test('a record that keeps failing is retried maximumRetryAttempts times, then the run exits 1 naming it', async () => {
    const { run, summary, state } = await invokePartial(
      'partial-two-retries',
      partialRecords({ 2: 'fail-always' }),
    );
    expect(errorLine(run)).toMatch(
      /Record partial-0@2 failed in consumer partial-two-retries: always fails at 0@2.*still failed after 2 retries/,
    );
    // Batch 1, then batch 2 three times (the first try and two retries); batch 3 never runs.
    expect(summary).toMatchObject({
      batches: 2,
      invocations: 4,
      records: 6,
      processed: 2,
      failed: 1,
      notRun: 3,
    });
    expectCountsAddUp(summary);
    expect(summary.responses.map((r: { attempt: number }) => r.attempt)).toEqual([0, 1, 2]);
    expect(summary.failures).toEqual([
      {
        topic: 'partial',
        partition: 0,
        offset: 2,
        error: 'Record partial-0@2 failed in consumer partial-two-retries: always fails at 0@2',
      },
    ]);
    const {
      partitions: [offsets],
    } = await state('--offsets');
    expect(offsets).toMatchObject({ nextOffset: 2, lastProcessedOffset: 1 });
  });

  test('without maximumRetryAttempts a failing record is retried once', async () => {
    const { run, summary } = await invokePartial(
      'partial-default',
      partialRecords({ 2: 'fail-always' }),
    );
    expect(errorLine(run)).toMatch(/partial-0@2.*still failed after 1 retry/);
    expect(summary.responses.map((r: { attempt: number }) => r.attempt)).toEqual([0, 1]);
    expect(summary).toMatchObject({ invocations: 3, processed: 2, failed: 1, notRun: 3 });
  });

  test('with an on-failure destination and no maximumRetryAttempts, a failing record is retried 10 times, as Lambda caps it', async () => {
    const { run, summary } = await invokePartial(
      'partial-destination',
      partialRecords({ 2: 'fail-always' }),
    );
    expect(errorLine(run)).toMatch(
      /partial-0@2.*still failed after 10 retries \(maximumRetryAttempts is unset or -1 with an on-failure destination, which Lambda caps at 10 retries; Lambda would now send the batch to arn:aws:sqs:us-east-1:123456789012:partial-failed\)/,
    );
    expect(summary).toMatchObject({ invocations: 12, processed: 2, failed: 1, notRun: 3 });
    expectCountsAddUp(summary);
  });

  test('a response naming records the batch does not hold is a failed batch, and the counts still add up', async () => {
    // Offset 2 fails; the response names partial-0@99 and other-7@0 instead.
    const { run, summary } = await invokePartial(
      'partial-stranger',
      partialRecords({ 2: 'fail-always' }),
    );
    expect(errorLine(run)).toMatch(
      /names partial-0@99, other-7@0, which the batch does not hold; Lambda takes such a response for a failed batch/,
    );
    expect(summary).toMatchObject({
      invocations: 1,
      records: 6,
      processed: 2,
      failed: 1,
      notRun: 3,
    });
    expectCountsAddUp(summary);
  });

  test('every failed partition is named with its error, and the counts add up', async () => {
    const dir = tempDir();
    const file = join(dir, 'two-bad.ndjson');
    const at = (partition: number, offset: number, value = 'fine') => ({
      topic: 'partial',
      partition,
      offset,
      timestamp: 1_764_000_000_000,
      value,
    });
    writeNdjson(file, [
      at(0, 0),
      at(0, 1, 'fail-always'),
      at(0, 2),
      at(1, 0, 'fail-always'),
      at(1, 1),
      at(2, 0),
    ]);
    const args = ['invoke', 'whole-batch', '--events', file, '--functions', PARTIAL];
    const text = await dogear(...args, '--state-dir', dir);
    errorLine(text);
    expect(text.stderr).toContain(
      'Record partial-0@1 failed in consumer whole-batch: always fails at 0@1',
    );
    expect(text.stderr).toContain(
      'Record partial-1@0 failed in consumer whole-batch: always fails at 1@0',
    );
    expect(text.stderr).not.toMatch(/more partitions failed/);
    expect(text.stderr).toMatch(
      /whole-batch: 6 records in 1 batch: 2 processed, 0 duplicates, 2 failed, 2 not run/,
    );
    const json = await dogear(...args, '--state-dir', tempDir(), '--json');
    const summary = JSON.parse(json.stdout);
    expect(summary).toMatchObject({ records: 6, processed: 2, failed: 2, notRun: 2 });
    expectCountsAddUp(summary);
    expect(summary.failures.map((f: { partition: number }) => f.partition)).toEqual([0, 1]);
  });

  test('exits when the work is done although the module holds a socket open', async () => {
    const dir = tempDir();
    const file = join(dir, 'held.ndjson');
    const records = (fail: boolean) =>
      [0, 1, 2].map((offset) => ({
        topic: 'held',
        partition: 0,
        offset,
        timestamp: 1_764_000_000_000,
        value: fail && offset === 1 ? 'fail' : 'fine',
      }));
    const run = async (fail: boolean) => {
      writeNdjson(file, records(fail));
      const child = spawnDogear(
        ['invoke', 'held', '--events', file, '--functions', SOCKET, '--state-dir', dir, '--reset'],
        { DOGEAR_DYNAMODB_ENDPOINT: undefined, DOGEAR_DYNAMODB_TABLE: undefined },
      );
      const started = performance.now();
      const killer = setTimeout(() => child.child.kill('SIGKILL'), 45_000);
      const exit = await child.exit();
      clearTimeout(killer);
      return { ...exit, ms: performance.now() - started };
    };
    const good = await run(false);
    expect(good.code, `${good.stderr} (after ${Math.round(good.ms)} ms)`).toBe(0);
    expect(good.stderr).toMatch(/3 records in 1 batch: 3 processed/);
    const bad = await run(true);
    expect(bad.code, `${bad.stderr} (after ${Math.round(bad.ms)} ms)`).toBe(1);
    expect(errorLine(bad)).toContain('held-0@1');
  }, 120_000);
});

describe.concurrent('dogear state --offsets', () => {
  test('says so when there are no checkpoints', async () => {
    const dir = tempDir();
    const run = await dogear('state', 'word-count', '--offsets', '--state-dir', dir);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/word-count: no checkpoints for group word-count/);
    expect(await okJson('state', 'word-count', '--offsets', '--state-dir', dir)).toEqual({
      version: 1,
      consumer: 'word-count',
      group: 'word-count',
      topic: 'book-pages',
      partitions: [],
    });
  });

  test('prints the next offset to read and the last processed, partitions in numeric order', async () => {
    const dir = tempDir();
    const file = join(dir, 'pages.ndjson');
    const page = (partition: number, offset: number) => ({
      topic: 'book-pages',
      partition,
      offset,
      timestamp: 1_764_000_000_000,
      value: 'a page',
    });
    writeNdjson(file, [page(10, 4), page(2, 7), page(1, 0), page(10, 5)]);
    await ok('invoke', 'word-count', '--events', file, '--state-dir', dir);
    const text = await ok('state', 'word-count', '--offsets', '--state-dir', dir);
    expect(
      text
        .trimEnd()
        .split('\n')
        .map((line) => line.split(/\s{2,}/)),
    ).toEqual([
      ['partition', 'next offset', 'last processed'],
      ['book-pages-1', '1', '0'],
      ['book-pages-2', '8', '7'],
      ['book-pages-10', '6', '5'],
    ]);
    expect(await okJson('state', 'word-count', '--offsets', '--state-dir', dir)).toEqual({
      version: 1,
      consumer: 'word-count',
      group: 'word-count',
      topic: 'book-pages',
      partitions: [
        { topic: 'book-pages', partition: 1, nextOffset: 1, lastProcessedOffset: 0 },
        { topic: 'book-pages', partition: 2, nextOffset: 8, lastProcessedOffset: 7 },
        { topic: 'book-pages', partition: 10, nextOffset: 6, lastProcessedOffset: 5 },
      ],
    });
  });
});

describe.concurrent('generated events are what Lambda delivers', () => {
  const SIX_MB = 6 * 1024 * 1024;

  test('no event is over 6 MB: 100 records of 120 KB are cut into several', async () => {
    const dir = tempDir();
    const file = join(dir, 'big.ndjson');
    const records = Array.from({ length: 100 }, (_, offset) => ({
      topic: 'book-pages',
      partition: offset % 2,
      offset: Math.floor(offset / 2),
      timestamp: 1_764_000_000_000,
      // Digits: no words for word-count, so the run is about size only.
      value: '1234567890'.repeat(12_000),
    }));
    writeNdjson(file, records);
    const events = JSON.parse(await ok('events', file)) as Array<{
      records: Record<string, Array<{ offset: number; partition: number }>>;
    }>;
    expect(events.length).toBeGreaterThan(1);
    for (const event of events) {
      expect(Buffer.byteLength(JSON.stringify(event))).toBeLessThanOrEqual(SIX_MB);
    }
    // Every record once; each partition's in offset order.
    const delivered = events.flatMap((e) => Object.values(e.records).flat());
    for (const partition of [0, 1]) {
      expect(delivered.filter((r) => r.partition === partition).map((r) => r.offset)).toEqual(
        records.filter((r) => r.partition === partition).map((r) => r.offset),
      );
    }
    expect(delivered).toHaveLength(records.length);
    // invoke cuts the same NDJSON by the same rule (word-count's batchSize is 500).
    const summary = await okJson('invoke', 'word-count', '--events', file, '--state-dir', dir);
    expect(summary).toMatchObject({ batches: events.length, processed: 100 });
  }, 60_000);

  test('a tombstone and a keyless record leave value and key out, as Lambda does', async () => {
    const dir = tempDir();
    const file = join(dir, 'tombstone.ndjson');
    writeNdjson(file, [
      { topic: 't', partition: 0, offset: 0, timestamp: 1, key: 'k', value: null },
      { topic: 't', partition: 0, offset: 1, timestamp: 2, value: 'v' },
    ]);
    const [event] = JSON.parse(await ok('events', file));
    const [tombstone, keyless] = event.records['t-0'];
    expect(tombstone).not.toHaveProperty('value');
    expect(tombstone.key).toBe(Buffer.from('k').toString('base64'));
    expect(keyless).not.toHaveProperty('key');
  });

  test('timestamps: a missing one is Kafka’s "no timestamp"; a wrong one names the line', async () => {
    const dir = tempDir();
    const file = join(dir, 'times.ndjson');
    writeNdjson(file, [
      { topic: 't', partition: 0, offset: 0, value: 'no timestamp' },
      { topic: 't', partition: 0, offset: 1, timestamp: 5, timestampType: 'LOG_APPEND_TIME' },
    ]);
    const [event] = JSON.parse(await ok('events', file));
    const [missing, appended] = event.records['t-0'];
    expect(missing).toMatchObject({ timestamp: -1, timestampType: 'NO_TIMESTAMP_TYPE' });
    expect(appended).toMatchObject({ timestamp: 5, timestampType: 'LOG_APPEND_TIME' });

    writeNdjson(file, [
      { topic: 't', partition: 0, offset: 0, timestamp: 1 },
      { topic: 't', partition: 0, offset: 1, timestamp: '2025-11-24T16:00:00Z' },
    ]);
    const line = errorLine(await dogear('events', file));
    expect(line).toContain(`${file}:2`);
    expect(line).toMatch(/"timestamp".*milliseconds since the epoch.*1764000000000/);

    writeNdjson(file, [{ topic: 't', partition: 0, offset: 0, timestamp: 1, timestampType: 'x' }]);
    expect(errorLine(await dogear('events', file))).toMatch(
      /:1 .*"timestampType" "x".*CREATE_TIME, LOG_APPEND_TIME or NO_TIMESTAMP_TYPE/,
    );
  });
});

describe('a pipeline on recordings alone: invoke --outputs, then invoke the next consumer on them', () => {
  test('thermometer writes its alerts and dead letters to files; alert-log folds the alerts once, even run twice', async () => {
    const dir = tempDir();
    const readings = readRecords(READINGS);
    const alerts = join(dir, 'alerts.ndjson');
    const first = await okJson(
      'invoke',
      'thermometer',
      '--events',
      READINGS,
      '--outputs',
      alerts,
      '--state-dir',
      dir,
    );
    const expected = alertOracle(readings);
    const { poison } = readingsOracle(readings);
    expect(first).toMatchObject({
      deadLettered: poison.length,
      outputsPending: 0,
      outputsFile: alerts,
    });
    // One line per alert, and one per dead letter to the Kafka topic thermometer names.
    const lines = readFileSync(alerts, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as NdjsonRecord);
    const alertLines = lines.filter((l) => l.topic === 'temperature-alerts');
    // Partitions run at once, so only each partition's alerts keep their order.
    expect(alertLines.map((l) => l.headers?.['dogear-origin']).sort()).toEqual(
      expected.map((a) => a.origin).sort(),
    );
    expect(lines.filter((l) => l.topic === 'temperature-readings.dead-letters')).toHaveLength(
      poison.length,
    );

    await okJson('invoke', 'alert-log', '--events', alerts, '--state-dir', dir);
    // A relay that ran twice: copies of the first alerts, same origins, at later offsets.
    const next = new Map<number, number>();
    for (const l of alertLines)
      next.set(l.partition, Math.max(next.get(l.partition) ?? 0, l.offset + 1));
    const copies = alertLines.slice(0, 5).map((l) => {
      const offset = next.get(l.partition)!;
      next.set(l.partition, offset + 1);
      return JSON.stringify({ ...l, offset });
    });
    writeFileSync(alerts, `${readFileSync(alerts, 'utf8')}${copies.join('\n')}\n`);
    const copied = await okJson('invoke', 'alert-log', '--events', alerts, '--state-dir', dir);
    expect(copied).toMatchObject({ processed: 0, duplicates: alertLines.length + 5 });
    // Run both again: thermometer's records are duplicates and emit nothing; alert-log's too.
    const again = await okJson(
      'invoke',
      'thermometer',
      '--events',
      READINGS,
      '--outputs',
      alerts,
      '--state-dir',
      dir,
    );
    expect(again).toMatchObject({ processed: 0, outputsRelayed: 0 });
    await okJson('invoke', 'alert-log', '--events', alerts, '--state-dir', dir);
    const table = await okJson('state', 'alert-log', '--table', 'state', '--state-dir', dir);
    const counts = Object.fromEntries(
      Object.entries(table as Record<string, { count: number }>).map(([sensor, v]) => [
        sensor,
        v.count,
      ]),
    );
    const oracle: Record<string, number> = {};
    for (const a of expected) oracle[a.sensor] = (oracle[a.sensor] ?? 0) + 1;
    expect(counts).toEqual(oracle);
  });
});
