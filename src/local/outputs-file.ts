/**
 * The relay of `dogear invoke --outputs out.ndjson`: outputs become lines of the recorded-events
 * format, so `dogear invoke --events out.ndjson` feeds them to the next consumer of the pipeline
 * without a broker.
 */
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  deadLetterDocument,
  destinationOf,
  headersSent,
  type OutboxRelay,
  partitionOfMessage,
} from '../output/index.ts';
import type { OutboxMessage } from '../state/index.ts';
import { LocalInputError } from './errors.ts';
import { ndjsonRecordOf } from './record.ts';

export interface NdjsonFileRelayOptions {
  /**
   * Partitions per output topic, to spread messages as the broker's topic would.
   * @default 1 for every topic
   */
  partitions?: Readonly<Record<string, number>>;
  /**
   * Where dead letters to an SQS queue or S3 bucket go: one JSON line each, `{ to, ...document }`
   * (the document SQS or S3 would receive). They cannot share the outputs file, whose every line
   * is a record. @default the outputs file's name with `.dead-letters.ndjson` for `.ndjson`
   */
  deadLetters?: string;
}

/**
 * An `OutboxRelay` that appends each message to a topic (an output, or a dead letter to a Kafka
 * topic) as one NDJSON record: in the partition the Kafka relay would pick, at the offset after
 * the last one the file holds for that topic-partition, stamped now, with its headers and
 * `dogear-origin`.
 */
export function ndjsonFileRelay(path: string, options: NdjsonFileRelayOptions = {}): OutboxRelay {
  const deadLettersPath =
    options.deadLetters ?? `${path.replace(/\.ndjson$/, '')}.dead-letters.ndjson`;
  /** The next offset per `<topic>\0<partition>`: read from the file once, then counted. */
  let next: Promise<Map<string, number>> | undefined;
  /** Sends one at a time: partitions relay at once, and each must append after the last. */
  let turn: Promise<unknown> = Promise.resolve();

  return {
    send(messages) {
      const mine = turn.catch(() => {}).then(() => append(messages));
      turn = mine;
      return mine;
    },
    async close() {},
  };

  async function append(messages: readonly OutboxMessage[]): Promise<void> {
    next ??= mkdir(dirname(path), { recursive: true }).then(() => nextOffsets(path));
    const offsets = await next;
    const records: string[] = [];
    const deadLetters: string[] = [];
    const now = Date.now();
    for (const message of messages) {
      if (destinationOf(message) !== 'kafka') {
        deadLetters.push(`${JSON.stringify({ to: message.to, ...deadLetterDocument(message) })}\n`);
        continue;
      }
      records.push(`${JSON.stringify(recordLine(message, options, offsets, now))}\n`);
    }
    if (records.length > 0) await appendFile(path, records.join(''));
    if (deadLetters.length > 0) await appendFile(deadLettersPath, deadLetters.join(''));
  }
}

function recordLine(
  message: OutboxMessage,
  options: NdjsonFileRelayOptions,
  offsets: Map<string, number>,
  now: number,
) {
  const partition = partitionOfMessage(message, options.partitions?.[message.to] ?? 1);
  const id = `${message.to}\u0000${partition}`;
  const offset = offsets.get(id) ?? 0;
  offsets.set(id, offset + 1);
  const bytes = (b64: string | null) => (b64 === null ? null : Buffer.from(b64, 'base64'));
  return ndjsonRecordOf({
    topic: message.to,
    partition,
    offset,
    timestamp: now,
    timestampType: 'CREATE_TIME',
    key: bytes(message.key),
    value: bytes(message.value),
    headers: headersSent(message).map(([name, value]) => [Buffer.from(name), value]),
  });
}

/** The offset after the last line of each topic-partition already in the file. */
async function nextOffsets(path: string): Promise<Map<string, number>> {
  const next = new Map<string, number>();
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return next;
    throw new LocalInputError(
      `Cannot read outputs file ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      { cause: error },
    );
  }
  for (const [index, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    let record: { topic?: unknown; partition?: unknown; offset?: unknown };
    try {
      record = JSON.parse(line) as typeof record;
    } catch {
      throw new LocalInputError(
        `${path}:${index + 1} is not JSON, so the outputs cannot be appended after it; write the outputs to a new file, or fix that line`,
      );
    }
    const { topic, partition, offset } = record;
    if (typeof topic !== 'string' || typeof partition !== 'number' || typeof offset !== 'number') {
      throw new LocalInputError(
        `${path}:${index + 1} is not a record (topic, partition, offset), so the outputs cannot be appended after it; write the outputs to a new file`,
      );
    }
    const id = `${topic}\u0000${partition}`;
    next.set(id, Math.max(next.get(id) ?? 0, offset + 1));
  }
  return next;
}
