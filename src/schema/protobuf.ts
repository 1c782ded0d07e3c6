/**
 * Protobuf keys and values, read with the consumer's message type. Protobuf's own rules make a
 * reader survive a writer's evolution: fields match by number, unknown fields are skipped, a
 * missing field reads as its default. What they do not catch is a field whose number stayed and
 * whose type changed on the wire (protobufjs then reads garbage or nothing), so the writer's
 * message is compared with the reader's once per writer schema id.
 */
import protobufjs from 'protobufjs';
import type { SchemaCodec, SchemaDecoded, SchemaSource } from '../event/index.ts';
import { SchemaDecodeError, SchemaEncodeError } from './errors.ts';
import {
  onceOrRetry,
  registryRef,
  type SchemaRegistry,
  schemaRef,
  writerSchema,
} from './registry.ts';
import {
  frameConfluent,
  frameGlue,
  parseLambdaJson,
  readGlueMessageIndex,
  readMessageIndexes,
  unframeConfluent,
  unframeGlue,
  varintBytes,
  writeMessageIndexes,
} from './wire.ts';

export interface ProtobufOptions {
  /** The .proto file's text (or a protobufjs Root) that defines the reader's message type. */
  proto: string | protobufjs.Root;
  /** The reader's message type, by full name: `com.example.Order`. */
  type: string;
  /** Where writer schemas come from; without one, values are bare messages. */
  registry?: SchemaRegistry;
  /** As for `avro()`: what Lambda's integration delivers. @default 'SOURCE' */
  lambdaRecordFormat?: 'SOURCE' | 'JSON';
}

/** How protobufjs turns a message into the handler's object. */
const TO_OBJECT: protobufjs.IConversionOptions = {
  longs: String,
  enums: String,
  defaults: true,
  arrays: true,
  objects: true,
};

/**
 * Decodes keys or values written in Protobuf. `T` is the message's shape as the handler reads
 * it (64-bit integers as numbers, enums as their names, every field present with its default);
 * pass it, or get it from your generated types.
 */
export function protobuf<T = Record<string, unknown>>(options: ProtobufOptions): SchemaCodec<T> {
  const root =
    typeof options.proto === 'string'
      ? parseProto(options.proto, 'the reader .proto')
      : options.proto;
  let reader: protobufjs.Type;
  try {
    reader = root.lookupType(options.type);
  } catch (error) {
    throw new SchemaDecodeError(
      `protobuf(): no message type '${options.type}' in the .proto (${(error as Error).message}); give its full name, package included`,
      'permanent',
    );
  }
  const { registry } = options;
  /** Per writer schema id: its .proto file, fetched and parsed once. */
  const writerRoots = new Map<string, Promise<protobufjs.Root>>();
  /** Per writer schema id and message: the comparison with the reader's type. */
  const checked = new Map<string, Promise<void>>();

  const writerRoot = (id: number | string) =>
    onceOrRetry(writerRoots, id, async () => {
      const writer = await writerSchema(registry!, id, 'protobuf');
      return parseProto(writer.definition, `writer schema ${id}`);
    });

  /** For encoding: the reader's message type in writer schema `id`. */
  const writerFor = async (id: number | string) => {
    const root = await writerRoot(id);
    const type = root.lookup(reader.fullName);
    if (!(type instanceof protobufjs.Type)) {
      throw new SchemaEncodeError(
        `writer schema ${id} has no message ${reader.fullName.slice(1)}, the reader's type`,
      );
    }
    return { root, type };
  };

  /**
   * Compares the writer's message (found by its indexes) with the reader's, once per id and
   * message: one schema file can hold several messages, and a topic can carry more than one.
   */
  const checkWriter = (
    id: number | string,
    message: string,
    pick: (writer: protobufjs.Root) => protobufjs.Type,
  ) =>
    onceOrRetry(checked, `${id}\u0000${message}`, async () => {
      const written = pick(await writerRoot(id));
      if (written.fullName !== reader.fullName) {
        throw new SchemaDecodeError(
          `the record is a ${written.fullName.slice(1)} (writer schema ${id}, message ${message}), and the consumer reads ${reader.fullName.slice(1)}; give the consumer the writer's type, or the topic only that message`,
          'permanent',
        );
      }
      const problem = wireProblem(written, reader);
      if (problem) {
        throw new SchemaDecodeError(
          `the reader type ${reader.fullName.slice(1)} cannot read writer schema ${id}: ${problem}; a field's number must keep its wire type (use a new number for a new type)`,
          'permanent',
        );
      }
    });

  const read = (payload: Uint8Array, from: string): unknown => {
    let object: Record<string, unknown>;
    try {
      object = reader.toObject(reader.decode(payload), TO_OBJECT);
    } catch (error) {
      throw new SchemaDecodeError(
        `the payload does not parse as ${reader.fullName.slice(1)} ${from} (${(error as Error).message})`,
        'permanent',
        { cause: error },
      );
    }
    withNumbers(reader, object);
    return object;
  };

  const codec: SchemaCodec = {
    format: 'protobuf',
    ...(registry ? { registry: registryRef(registry) } : {}),
    async decode(bytes: Uint8Array, source: SchemaSource): Promise<SchemaDecoded<unknown>> {
      const metadata = source.metadata;
      if (metadata && options.lambdaRecordFormat === 'JSON') {
        const value = parseLambdaJson(bytes, metadata.schemaId);
        return { value, schema: schemaRef('protobuf', 'lambda-json', metadata.schemaId, registry) };
      }
      // Lambda strips the registry's frame but not the message index that follows it.
      const wire = metadata
        ? /^\d+$/.test(metadata.schemaId ?? '')
          ? 'confluent'
          : metadata.schemaId
            ? 'glue'
            : undefined
        : registry?.wire;
      let id: number | string | undefined = metadata?.schemaId;
      let payload = bytes;
      if (!metadata && registry) {
        const framed = registry.wire === 'confluent' ? unframeConfluent(bytes) : unframeGlue(bytes);
        id = framed.id;
        payload = framed.payload;
      }
      if (wire === 'confluent') {
        const { indexes, rest } = ofSchema(id, () => readMessageIndexes(payload));
        payload = rest;
        if (registry && id !== undefined)
          await checkWriter(metadata ? Number(id) : id, `[${indexes.join(', ')}]`, (w) =>
            byIndexes(w, indexes, id!),
          );
      } else if (wire === 'glue') {
        const { index, rest } = ofSchema(id, () => readGlueMessageIndex(payload));
        payload = rest;
        if (registry && id !== undefined)
          await checkWriter(id, `#${index}`, (w) => byGlueIndex(w, index, id!));
      }
      const schema = metadata
        ? schemaRef('protobuf', 'lambda-source', id, registry)
        : registry
          ? schemaRef('protobuf', registry.wire, id, registry)
          : ({ format: 'protobuf', wire: 'bare' } as const);
      return { value: read(payload, id === undefined ? '' : `of writer schema ${id}`), schema };
    },
    async encode(value: unknown, id?: number | string): Promise<Uint8Array> {
      if (!registry) return write(reader, value, 'the schema');
      if (id === undefined) {
        throw new SchemaEncodeError(
          `values are framed for ${registry.name}: which writer schema id? Pass the id the producer writes with`,
        );
      }
      const { root: writerRoot, type } = await writerFor(id);
      const payload = write(type, value, `writer schema ${id}`);
      if (registry.wire === 'confluent') {
        const indexes = writeMessageIndexes(indexesOf(writerRoot, type));
        return frameConfluent(Number(id), concat(indexes, payload));
      }
      return frameGlue(
        String(id),
        concat(Uint8Array.from(varintBytes(glueIndexOf(writerRoot, type))), payload),
      );
    },
  };
  return codec as SchemaCodec<T>;
}

function parseProto(text: string, what: string): protobufjs.Root {
  try {
    const { root } = protobufjs.parse(text, { keepCase: true });
    root.resolveAll();
    return root;
  } catch (error) {
    throw new SchemaDecodeError(
      `${what} is not a valid .proto (${(error as Error).message})`,
      'permanent',
      {
        cause: error,
      },
    );
  }
}

/** A file's top-level messages in order (inside its package, if it has one). */
function topLevel(root: protobufjs.Root): protobufjs.Type[] {
  let scope: protobufjs.NamespaceBase = root;
  // A package is a chain of namespaces with one child each until the messages.
  while (
    scope.nestedArray.length === 1 &&
    !(scope.nestedArray[0] instanceof protobufjs.Type) &&
    scope.nestedArray[0] instanceof protobufjs.Namespace
  ) {
    scope = scope.nestedArray[0];
  }
  return scope.nestedArray.filter((n): n is protobufjs.Type => n instanceof protobufjs.Type);
}

const nestedTypes = (type: protobufjs.Type) =>
  type.nestedArray.filter((n): n is protobufjs.Type => n instanceof protobufjs.Type);

/** Confluent's indexes: the path to the message, from the file's top-level messages down. */
function byIndexes(
  root: protobufjs.Root,
  indexes: readonly number[],
  id: number | string,
): protobufjs.Type {
  let candidates = topLevel(root);
  let found: protobufjs.Type | undefined;
  for (const index of indexes) {
    found = candidates[index];
    if (!found) {
      throw new SchemaDecodeError(
        `message indexes [${indexes.join(', ')}] name no message of writer schema ${id}`,
        'permanent',
      );
    }
    candidates = nestedTypes(found);
  }
  return found!;
}

function indexesOf(root: protobufjs.Root, type: protobufjs.Type): number[] {
  const path: number[] = [];
  const walk = (candidates: protobufjs.Type[]): boolean => {
    for (const [i, candidate] of candidates.entries()) {
      path.push(i);
      if (candidate === type || walk(nestedTypes(candidate))) return true;
      path.pop();
    }
    return false;
  };
  walk(topLevel(root));
  return path;
}

/**
 * Glue's index: the message's place among every message of the file, nested ones and the entry
 * types protoc makes for map fields included, sorted by full name (aws-glue-schema-registry,
 * MessageIndexFinder.java).
 */
function glueNames(root: protobufjs.Root): string[] {
  const names: string[] = [];
  const visit = (type: protobufjs.Type) => {
    names.push(type.fullName.slice(1));
    for (const field of type.fieldsArray) {
      if (field.map)
        names.push(
          `${type.fullName.slice(1)}.${field.name.charAt(0).toUpperCase()}${field.name.slice(1).replace(/_(\w)/g, (_, c: string) => c.toUpperCase())}Entry`,
        );
    }
    for (const nested of nestedTypes(type)) visit(nested);
  };
  for (const type of topLevel(root)) visit(type);
  return names.sort();
}

function byGlueIndex(root: protobufjs.Root, index: number, id: number | string): protobufjs.Type {
  const name = glueNames(root)[index];
  const type = name === undefined ? undefined : root.lookup(name);
  if (!(type instanceof protobufjs.Type)) {
    throw new SchemaDecodeError(
      `Glue message index ${index} names no message of writer schema ${id}`,
      'permanent',
    );
  }
  return type;
}

function glueIndexOf(root: protobufjs.Root, type: protobufjs.Type): number {
  return glueNames(root).indexOf(type.fullName.slice(1));
}

/**
 * The types whose values read the same from each other's bytes: Protobuf's compatible changes
 * (int32, uint32, int64, uint64 and bool; sint32 and sint64; fixed32 and sfixed32; fixed64
 * and sfixed64; string and bytes; an enum and int32). Any other change of a field's type reads
 * something else, or nothing, without an error.
 * (https://protobuf.dev/programming-guides/proto3/#updating)
 */
function valueClass(field: protobufjs.Field): string {
  if (field.map) return 'map';
  if (field.resolvedType instanceof protobufjs.Type) return 'message';
  if (field.resolvedType instanceof protobufjs.Enum) return 'varint';
  switch (field.type) {
    case 'int32':
    case 'int64':
    case 'uint32':
    case 'uint64':
    case 'bool':
      return 'varint';
    case 'sint32':
    case 'sint64':
      return 'zigzag varint';
    case 'fixed32':
    case 'sfixed32':
      return 'fixed 32-bit';
    case 'fixed64':
    case 'sfixed64':
      return 'fixed 64-bit';
    case 'float':
      return 'float';
    case 'double':
      return 'double';
    default:
      return 'length-delimited';
  }
}

/**
 * The first reader field the writer sends as another kind of value, if any, nested messages
 * and map values included (`path` names it).
 */
function wireProblem(
  writer: protobufjs.Type,
  reader: protobufjs.Type,
  path = '',
  seen = new Set<string>(),
): string | undefined {
  const pair = `${writer.fullName} ${reader.fullName}`;
  if (seen.has(pair)) return undefined;
  seen.add(pair);
  for (const field of reader.fieldsArray) {
    const theirs = writer.fieldsById[field.id];
    if (!theirs) continue;
    const name = `${path}${field.name}`;
    const [mine, written] = [valueClass(field), valueClass(theirs)];
    if (mine !== written) {
      return `field ${name} (${field.id}) is ${field.type} in the reader and ${theirs.type} in the writer`;
    }
    if (field.map && theirs.map) {
      const a = field as unknown as protobufjs.MapField;
      const b = theirs as unknown as protobufjs.MapField;
      if (a.keyType !== b.keyType || mapValueClass(a) !== mapValueClass(b)) {
        return `map field ${name} (${field.id}) holds ${a.keyType}→${a.type} in the reader and ${b.keyType}→${b.type} in the writer`;
      }
    }
    if (
      field.resolvedType instanceof protobufjs.Type &&
      theirs.resolvedType instanceof protobufjs.Type
    ) {
      const nested = wireProblem(theirs.resolvedType, field.resolvedType, `${name}.`, seen);
      if (nested) return nested;
    }
  }
  return undefined;
}

/** A map's value kind: a message, an enum, or a scalar's class. */
function mapValueClass(map: protobufjs.MapField): string {
  if (map.resolvedType instanceof protobufjs.Type) return 'message';
  if (map.resolvedType instanceof protobufjs.Enum) return 'varint';
  return valueClass(new protobufjs.Field('value', 1, map.type));
}

const LONG_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

/**
 * A message as the handler reads it, with its 64-bit integers as numbers: protobufjs gives them
 * as decimal strings (`longs: String`), and one past 2^53 would not survive as a number, so it
 * fails the record rather than arrive rounded.
 */
function withNumbers(type: protobufjs.Type, object: Record<string, unknown>, path = ''): void {
  for (const field of type.fieldsArray) {
    const value = object[field.name];
    if (value === undefined || value === null) continue;
    const name = `${path}${field.name}`;
    const convert = (v: unknown): unknown => {
      if (field.resolvedType instanceof protobufjs.Type) {
        withNumbers(field.resolvedType, v as Record<string, unknown>, `${name}.`);
        return v;
      }
      if (!LONG_TYPES.has(field.type) || typeof v !== 'string') return v;
      const n = Number(v);
      if (!Number.isSafeInteger(n)) {
        throw new SchemaDecodeError(
          `${name} holds ${v}, past what a JavaScript number holds exactly (2^53); a consumer cannot read it as a number without rounding it`,
          'permanent',
        );
      }
      return n;
    };
    if (field.map) {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        (value as Record<string, unknown>)[k] = convert(v);
      }
    } else if (field.repeated && Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) value[i] = convert(value[i]);
    } else object[field.name] = convert(value);
  }
}

/** `value` as a `type` message; a value it refuses names the field (protobufjs' `verify`). */
function write(type: protobufjs.Type, value: unknown, schema: string): Uint8Array {
  const problem = type.verify(value as Record<string, unknown>);
  if (problem) {
    throw new SchemaEncodeError(`${problem}, in ${schema} (${type.fullName.slice(1)})`);
  }
  return type.encode(type.fromObject(value as Record<string, unknown>)).finish();
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Runs `read`, and names the writer schema in the error a malformed prefix throws. */
function ofSchema<T>(id: number | string | undefined, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (!(error instanceof SchemaDecodeError) || id === undefined) throw error;
    throw new SchemaDecodeError(`${error.message} (writer schema ${id})`, error.failure, {
      cause: error,
    });
  }
}
