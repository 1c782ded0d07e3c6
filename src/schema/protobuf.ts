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
import { onceOrRetry, registryRef, type SchemaRegistry, schemaRef } from './registry.ts';
import {
  frameConfluent,
  frameGlue,
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
  longs: Number,
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
  const checked = new Map<string, Promise<void>>();
  /** Per writer schema id, for encoding: its file and the reader's message type in it. */
  const writers = new Map<string, Promise<{ root: protobufjs.Root; type: protobufjs.Type }>>();

  const writerFor = (id: number | string) =>
    onceOrRetry(writers, id, async () => {
      const writer = await registry!.schema(id);
      if (writer.format !== 'protobuf') {
        throw new SchemaEncodeError(`schema ${id} is ${writer.format}, not Protobuf`);
      }
      const writerRoot = parseProto(writer.definition, `writer schema ${id}`);
      const type = writerRoot.lookup(reader.fullName);
      if (!(type instanceof protobufjs.Type)) {
        throw new SchemaEncodeError(
          `writer schema ${id} has no message ${reader.fullName.slice(1)}, the reader's type`,
        );
      }
      return { root: writerRoot, type };
    });

  /** Compares the writer's message (found by its indexes) with the reader's, once per id. */
  const checkWriter = (id: number | string, pick: (writer: protobufjs.Root) => protobufjs.Type) => {
    const key = String(id);
    let check = checked.get(key);
    if (!check) {
      check = (async () => {
        const writer = await registry!.schema(id);
        if (writer.format !== 'protobuf') {
          throw new SchemaDecodeError(
            `schema ${id} is ${writer.format}, not Protobuf`,
            'permanent',
          );
        }
        const problem = wireProblem(
          pick(parseProto(writer.definition, `writer schema ${id}`)),
          reader,
        );
        if (problem) {
          throw new SchemaDecodeError(
            `the reader type ${reader.fullName.slice(1)} cannot read writer schema ${id}: ${problem}; a field's number must keep its wire type (use a new number for a new type)`,
            'permanent',
          );
        }
      })();
      checked.set(key, check);
      check.catch((error) => {
        if ((error as SchemaDecodeError).failure === 'retry') checked.delete(key);
      });
    }
    return check;
  };

  const read = (payload: Uint8Array, from: string): unknown => {
    try {
      return reader.toObject(reader.decode(payload), TO_OBJECT);
    } catch (error) {
      throw new SchemaDecodeError(
        `the payload does not parse as ${reader.fullName.slice(1)} ${from} (${(error as Error).message})`,
        'permanent',
        { cause: error },
      );
    }
  };

  const codec: SchemaCodec = {
    format: 'protobuf',
    ...(registry ? { registry: registryRef(registry) } : {}),
    async decode(bytes: Uint8Array, source: SchemaSource): Promise<SchemaDecoded<unknown>> {
      const metadata = source.metadata;
      if (metadata && options.lambdaRecordFormat === 'JSON') {
        const value: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
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
        const { indexes, rest } = readMessageIndexes(payload);
        payload = rest;
        if (registry && id !== undefined)
          await checkWriter(metadata ? Number(id) : id, (w) => byIndexes(w, indexes, id!));
      } else if (wire === 'glue') {
        const { index, rest } = readGlueMessageIndex(payload);
        payload = rest;
        if (registry && id !== undefined) await checkWriter(id, (w) => byGlueIndex(w, index, id!));
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

/** How a field travels: fields of one number must keep their class, or the reader misreads them. */
function wireClass(field: protobufjs.Field): string {
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
    case 'fixed64':
    case 'sfixed64':
    case 'double':
      return '64-bit';
    case 'fixed32':
    case 'sfixed32':
    case 'float':
      return '32-bit';
    default:
      return 'length-delimited';
  }
}

/** The first reader field the writer sends with another wire class, if any. */
function wireProblem(writer: protobufjs.Type, reader: protobufjs.Type): string | undefined {
  for (const field of reader.fieldsArray) {
    const theirs = writer.fieldsById[field.id];
    if (!theirs) continue;
    const [mine, written] = [wireClass(field), wireClass(theirs)];
    if (mine !== written) {
      return `field ${field.id} is ${field.type} (${mine}) in the reader and ${theirs.type} (${written}) in the writer`;
    }
  }
  return undefined;
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
