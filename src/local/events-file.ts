import { readFile } from 'node:fs/promises';
import {
  EventFormatError,
  type EventRecord,
  eventRecordOf,
  eventsOf,
  type KafkaEvent,
  MAX_EVENT_BYTES,
  parseEvent,
} from '../event/index.ts';
import { encodeLine, type RecordEncoding } from './encoding.ts';
import { LocalInputError } from './errors.ts';

/** The records of an events file: NDJSON records or MSK event JSON. */
export type EventsFile =
  | { readonly kind: 'ndjson'; readonly records: EventRecord[] }
  | { readonly kind: 'events'; readonly events: KafkaEvent[] };

/**
 * Reads an events file. A file whose JSON is one event or an array of events is event JSON, as
 * Lambda delivers it; otherwise each non-empty line is one record. With an `encoding`, the keys
 * and values of its consumer's lines are written through the consumer's schema codecs.
 */
export async function readEventsFile(path: string, encoding?: RecordEncoding): Promise<EventsFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new LocalInputError(
      code === 'ENOENT'
        ? `Events file ${path} does not exist; record one with 'dogear record' or write NDJSON records by hand`
        : `Cannot read events file ${path} (${code ?? (error as Error).message})`,
      { cause: error },
    );
  }
  const whole = tryJson(text);
  if (whole.ok && (Array.isArray(whole.value) || isEventLike(whole.value))) {
    const list = Array.isArray(whole.value) ? whole.value : [whole.value];
    return {
      kind: 'events',
      events: list.map((event, i) => parseEvent(event, `${path}: event ${i}`)),
    };
  }
  const lines = text.split('\n');
  const first = tryJson(lines.find((line) => line.trim() !== '') ?? '');
  if (
    !whole.ok &&
    !first.ok &&
    /^\s*[[{]/.test(text) &&
    /"(eventSource|records)"\s*:/.test(text.slice(0, 2000))
  ) {
    throw new EventFormatError(`${path} is not valid JSON (${whole.error}); fix the event JSON`);
  }
  const records: EventRecord[] = [];
  for (const [index, line] of lines.entries()) {
    if (line.trim() === '') continue;
    const parsed = tryJson(line);
    const where = `${path}:${index + 1}`;
    if (!parsed.ok) {
      throw new EventFormatError(
        `${where} is not JSON (${parsed.error}); each line of an NDJSON file is one record object`,
      );
    }
    records.push(eventRecordOf(await encodeLine(parsed.value, encoding, where), where));
  }
  if (records.length === 0) throw new LocalInputError(`Events file ${path} holds no records`);
  return { kind: 'ndjson', records };
}

/**
 * The events to deliver to a consumer of `topic`: NDJSON is cut into events of `batchSize` and
 * at most 6 MB, as Lambda cuts them; event JSON is delivered as it is, unless an event is
 * larger than any Lambda delivers.
 */
export function eventsFor(
  file: EventsFile,
  path: string,
  topic: string,
  batchSize: number,
): KafkaEvent[] {
  if (file.kind === 'events') {
    for (const [index, event] of file.events.entries()) {
      const bytes = Buffer.byteLength(JSON.stringify(event));
      if (bytes > MAX_EVENT_BYTES) {
        throw new LocalInputError(
          `${path}: event ${index} is ${(bytes / 1024 / 1024).toFixed(1)} MB of JSON, and Lambda never delivers more than 6 MB in one event; cut it with 'dogear events' from NDJSON records`,
        );
      }
    }
    return file.events;
  }
  const mine = file.records.filter((r) => r.topic === topic);
  if (mine.length === 0) {
    const topics = [...new Set(file.records.map((r) => r.topic))].join(', ');
    throw new LocalInputError(
      `${path} has no records of topic ${topic} (it has ${topics}); did you pick the right file?`,
    );
  }
  return eventsOf(mine, batchSize);
}

function tryJson(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}

function isEventLike(value: unknown): boolean {
  return (
    typeof value === 'object' && value !== null && ('eventSource' in value || 'records' in value)
  );
}
