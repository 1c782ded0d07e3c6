/**
 * The wire formats a registry-backed key or value comes in: the bytes before the payload that
 * say which writer schema wrote it. Pure functions over bytes, so every rule is testable
 * without a registry.
 *
 *   Confluent  0x00, schema id (int32 big-endian), [Protobuf: message indexes], payload
 *   Glue       0x03, compression (0x00 none, 0x05 zlib), schema version UUID (16 bytes), payload
 *
 * Confluent: https://docs.confluent.io/platform/current/schema-registry/fundamentals/serdes-develop/index.html#wire-format
 * Glue: awslabs/aws-glue-schema-registry, AWSSchemaRegistryConstants.java and
 * GlueSchemaRegistryDeserializerDataParser.java.
 */
import { inflateSync } from 'node:zlib';
import { SchemaDecodeError } from './errors.ts';

export const CONFLUENT_MAGIC = 0x00;
export const GLUE_HEADER_VERSION = 0x03;
export const GLUE_NO_COMPRESSION = 0x00;
export const GLUE_ZLIB = 0x05;
const GLUE_HEADER_BYTES = 18;
/**
 * What a compressed Glue payload may inflate to: far past any record Lambda delivers (6 MB an
 * event), and short of running a function out of memory on a record made to inflate.
 */
const MAX_INFLATED_BYTES = 32 * 1024 * 1024;

/** Which registry framed the bytes, and the payload after the frame. */
export type Framed =
  | { readonly wire: 'confluent'; readonly id: number; readonly payload: Uint8Array }
  | { readonly wire: 'glue'; readonly id: string; readonly payload: Uint8Array };

const hex = (bytes: Uint8Array, n = 8) =>
  [...bytes.subarray(0, n)].map((b) => b.toString(16).padStart(2, '0')).join(' ') +
  (bytes.length > n ? ' …' : '');

/** Reads Confluent's frame: magic byte 0 and a 4-byte schema id. */
export function unframeConfluent(bytes: Uint8Array): Framed {
  if (bytes.length < 5 || bytes[0] !== CONFLUENT_MAGIC) {
    const what =
      bytes.length < 5
        ? `${bytes.length} bytes, fewer than the 5 of Confluent's frame`
        : `magic byte ${bytes[0]} where Confluent's frame has 0`;
    const hint =
      bytes[0] === GLUE_HEADER_VERSION
        ? '; it looks like a Glue frame: use glueRegistry()'
        : bytes[0] === 1
          ? "; magic byte 1 is Confluent's newer GUID frame, which dogear does not read yet"
          : '';
    throw new SchemaDecodeError(
      `not Confluent wire format (${what}: ${hex(bytes)})${hint}; check the producer's serializer, or drop the registry for bare payloads`,
      'permanent',
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { wire: 'confluent', id: view.getInt32(1), payload: bytes.subarray(5) };
}

/** Reads Glue's header: version 3, compression 0 or 5, the schema version's UUID. */
export function unframeGlue(bytes: Uint8Array): Framed {
  if (bytes.length < GLUE_HEADER_BYTES || bytes[0] !== GLUE_HEADER_VERSION) {
    const what =
      bytes.length < GLUE_HEADER_BYTES
        ? `${bytes.length} bytes, fewer than the 18 of Glue's header`
        : `header version byte ${bytes[0]} where Glue's has 3`;
    const hint =
      bytes[0] === CONFLUENT_MAGIC
        ? '; it looks like a Confluent frame: use confluentRegistry()'
        : '';
    throw new SchemaDecodeError(
      `not Glue Schema Registry wire format (${what}: ${hex(bytes)})${hint}; check the producer's serializer`,
      'permanent',
    );
  }
  const compression = bytes[1];
  if (compression !== GLUE_NO_COMPRESSION && compression !== GLUE_ZLIB) {
    throw new SchemaDecodeError(
      `Glue header with compression byte ${compression}; Glue writes 0 (none) or 5 (zlib)`,
      'permanent',
    );
  }
  const id = uuidOf(bytes.subarray(2, GLUE_HEADER_BYTES));
  const body = bytes.subarray(GLUE_HEADER_BYTES);
  if (compression === GLUE_NO_COMPRESSION) return { wire: 'glue', id, payload: body };
  try {
    return {
      wire: 'glue',
      id,
      payload: new Uint8Array(inflateSync(body, { maxOutputLength: MAX_INFLATED_BYTES })),
    };
  } catch (error) {
    throw new SchemaDecodeError(
      `Glue header (schema version ${id}) says zlib, but the payload does not inflate (${(error as Error).message})`,
      'permanent',
      { cause: error },
    );
  }
}

/** Confluent's frame around `payload`. */
export function frameConfluent(id: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  out[0] = CONFLUENT_MAGIC;
  new DataView(out.buffer).setInt32(1, id);
  out.set(payload, 5);
  return out;
}

/** Glue's header around `payload` (uncompressed). */
export function frameGlue(id: string, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(GLUE_HEADER_BYTES + payload.length);
  out[0] = GLUE_HEADER_VERSION;
  out[1] = GLUE_NO_COMPRESSION;
  out.set(uuidBytes(id), 2);
  out.set(payload, GLUE_HEADER_BYTES);
  return out;
}

function uuidOf(bytes: Uint8Array): string {
  const h = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function uuidBytes(id: string): Uint8Array {
  const h = id.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(h)) throw new RangeError(`${id} is not a UUID`);
  return Uint8Array.from({ length: 16 }, (_, i) => Number.parseInt(h.slice(2 * i, 2 * i + 2), 16));
}

/**
 * Confluent's Protobuf message indexes: a zigzag varint count, then each index, the path to the
 * message type in its file; a count of 0 stands for [0], the first message.
 * (confluentinc/schema-registry, MessageIndexes.java.)
 */
export function readMessageIndexes(bytes: Uint8Array): { indexes: number[]; rest: Uint8Array } {
  let at = 0;
  const next = () => {
    const { value, length } = readVarint(bytes, at);
    at += length;
    return (value >>> 1) ^ -(value & 1);
  };
  const count = next();
  if (count < 0 || count > 100) {
    throw new SchemaDecodeError(
      `Confluent Protobuf message indexes are malformed (count ${count})`,
      'permanent',
    );
  }
  if (count === 0) return { indexes: [0], rest: bytes.subarray(at) };
  const indexes: number[] = [];
  for (let i = 0; i < count; i++) {
    const index = next();
    if (index < 0) {
      throw new SchemaDecodeError('Confluent Protobuf message index is negative', 'permanent');
    }
    indexes.push(index);
  }
  return { indexes, rest: bytes.subarray(at) };
}

export function writeMessageIndexes(indexes: readonly number[]): Uint8Array {
  if (indexes.length === 1 && indexes[0] === 0) return Uint8Array.of(0);
  return Uint8Array.from([indexes.length, ...indexes].flatMap((n) => varintBytes(n << 1)));
}

/** Glue's Protobuf prefix: one unsigned varint, the message's place among the file's messages. */
export function readGlueMessageIndex(bytes: Uint8Array): { index: number; rest: Uint8Array } {
  const { value, length } = readVarint(bytes, 0);
  return { index: value, rest: bytes.subarray(length) };
}

export function readVarint(bytes: Uint8Array, from: number): { value: number; length: number } {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    const byte = bytes[from + i];
    if (byte === undefined) {
      throw new SchemaDecodeError('the payload ends inside a varint', 'permanent');
    }
    value |= (byte & 0x7f) << (7 * i);
    if ((byte & 0x80) === 0) return { value: value >>> 0, length: i + 1 };
  }
  throw new SchemaDecodeError('a varint longer than 5 bytes', 'permanent');
}

export function varintBytes(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

/**
 * A value Lambda's schema registry integration converted to JSON (`EventRecordFormat: JSON`).
 * A failure says what is wrong without echoing the value, which may be sensitive.
 */
export function parseLambdaJson(bytes: Uint8Array, id: string | undefined): unknown {
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8'));
  } catch {
    throw new SchemaDecodeError(
      `the value of schema ${id ?? '(none given)'} is not the JSON Lambda's integration delivers in EventRecordFormat JSON (${bytes.length} bytes starting ${hex(bytes, 4)}); if the mapping uses SOURCE, give the codec lambdaRecordFormat: 'SOURCE'`,
      'permanent',
    );
  }
}
