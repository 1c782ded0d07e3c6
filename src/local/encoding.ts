/**
 * NDJSON values written through a consumer's schema codecs, so that recordings and tests of an
 * Avro, Protobuf or JSON Schema topic can be written as readable JSON and produced or replayed
 * as the bytes a Confluent or Glue serializer would have written.
 */
import type { FieldFormat, SchemaCodec } from '../event/index.ts';
import type { ConsumerDefinition } from '../runtime/index.ts';
import { LocalInputError } from './errors.ts';

type Field = 'key' | 'value';
const FIELDS: readonly Field[] = ['key', 'value'];

/** How the NDJSON lines of one consumer's topic are encoded. */
export interface RecordEncoding {
  /** The consumer whose codecs encode, for messages. */
  readonly consumer: string;
  /**
   * Only lines of this topic are encoded (`dogear invoke`: the consumer's own). Unset: every
   * line, since a consumer named with `--consumer` may be asked to write to a test topic.
   */
  readonly topic?: string;
  readonly value: FieldFormat;
  readonly key: FieldFormat;
  /** The writer schema id of lines that name none (`valueSchemaId` on a line wins). */
  readonly valueSchemaId?: number | string;
  readonly keySchemaId?: number | string;
}

/** A writer schema id as typed on the command line: digits are Confluent's integer ids. */
export function schemaIdOf(text: string): number | string {
  return /^\d+$/.test(text) ? Number(text) : text;
}

/**
 * The encoding a consumer's codecs give. `named`: the user named the consumer (`--consumer`),
 * so every line is encoded with its codecs, and a consumer with nothing to encode is a mistake
 * worth saying; otherwise (`dogear invoke`) only lines of the consumer's topic are.
 */
export function encodingOf(
  definition: ConsumerDefinition,
  ids: { valueSchemaId?: number | string; keySchemaId?: number | string } = {},
  named = false,
): RecordEncoding {
  const codecs = FIELDS.filter((f) => typeof definition[f] === 'object');
  if (named && codecs.length === 0) {
    throw new LocalInputError(
      `Consumer ${definition.name} reads its value as '${definition.value}' and its key as '${definition.key}', through no schema, so --consumer has nothing to encode; it encodes for consumers whose value or key is avro(), protobuf() or jsonSchema()`,
    );
  }
  for (const field of FIELDS) {
    const id = ids[`${field}SchemaId`];
    if (id !== undefined && typeof definition[field] !== 'object') {
      throw new LocalInputError(
        `--${field}-schema-id ${id}: consumer ${definition.name} reads its ${field} as '${definition[field]}', not through a schema; drop the flag`,
      );
    }
  }
  return {
    consumer: definition.name,
    ...(named ? {} : { topic: definition.topic }),
    value: definition.value,
    key: definition.key,
    ...ids,
  };
}

/**
 * One parsed NDJSON line with its key and value, where the consumer decodes them through a
 * schema, encoded into `keyBase64`/`valueBase64`. Lines of other topics, and values already
 * given as bytes (`valueBase64`), pass through untouched. `where` is the line (`file:line`).
 */
export async function encodeLine(
  line: unknown,
  encoding: RecordEncoding | undefined,
  where: string,
): Promise<unknown> {
  if (typeof line !== 'object' || line === null || Array.isArray(line)) return line;
  let out = line as Record<string, unknown>;
  for (const field of FIELDS) {
    const idField = `${field}SchemaId`;
    const lineId = out[idField];
    const ofTopic =
      encoding !== undefined && (encoding.topic === undefined || out.topic === encoding.topic);
    const codec = ofTopic ? encoding[field] : undefined;
    if (typeof codec !== 'object') {
      if (lineId !== undefined) throw new LocalInputError(unencoded(where, idField, encoding, out));
      continue;
    }
    if (out[`${field}Base64`] != null) {
      if (lineId !== undefined) {
        throw new LocalInputError(
          `${where} has both "${field}Base64" and "${idField}"; bytes are sent as they are, so drop "${idField}", or give the ${field} as JSON in "${field}" to have it encoded`,
        );
      }
      continue;
    }
    const value = out[field];
    const { [idField]: _, ...rest } = out;
    out = rest;
    if (value === undefined || value === null) continue;
    const id = lineId ?? encoding![idField as 'valueSchemaId' | 'keySchemaId'];
    out[`${field}Base64`] = Buffer.from(
      await encodeField(codec, value, id, field, encoding!, where),
    ).toString('base64');
    delete out[field];
  }
  return out;
}

async function encodeField(
  codec: SchemaCodec,
  value: unknown,
  id: unknown,
  field: Field,
  encoding: RecordEncoding,
  where: string,
): Promise<Uint8Array> {
  const flag = `--${field}-schema-id`;
  if (id !== undefined && typeof id !== 'number' && typeof id !== 'string') {
    throw new LocalInputError(
      `${where}: "${field}SchemaId" is ${JSON.stringify(id)}; write the writer schema's id: Confluent's integer, or Glue's schema version UUID`,
    );
  }
  if (codec.registry && id === undefined) {
    throw new LocalInputError(
      `${where}: consumer ${encoding.consumer} reads ${field}s framed for ${codec.registry.name}, and the line names no writer schema; add "${field}SchemaId" to the line, or pass ${flag}`,
    );
  }
  if (!codec.registry && id !== undefined) {
    throw new LocalInputError(
      `${where}: consumer ${encoding.consumer} reads bare ${codec.format} ${field}s (no registry), which carry no schema id; drop "${field}SchemaId" and ${flag}`,
    );
  }
  try {
    return await codec.encode(value, id);
  } catch (error) {
    throw new LocalInputError(
      `${where}: the ${field} cannot be written as ${codec.format} for consumer ${encoding.consumer}: ${(error as Error).message}; fix the ${field}${codec.registry ? `, or name the schema it was written with in "${field}SchemaId"` : ''}`,
      { cause: error },
    );
  }
}

function unencoded(
  where: string,
  idField: string,
  encoding: RecordEncoding | undefined,
  line: Record<string, unknown>,
): string {
  if (!encoding) {
    return `${where} has "${idField}", but nothing encodes its value; pass --consumer <name> for its codecs to write it`;
  }
  if (encoding.topic !== undefined && line.topic !== encoding.topic) {
    return `${where} has "${idField}" on topic ${String(line.topic)}, but consumer ${encoding.consumer} reads ${encoding.topic}; only its topic's lines are encoded`;
  }
  const field = idField.replace('SchemaId', '') as Field;
  return `${where} has "${idField}", but consumer ${encoding.consumer} reads its ${field} as '${encoding[field]}', not through a schema; drop "${idField}"`;
}
