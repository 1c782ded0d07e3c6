/**
 * Avro keys and values, read in the consumer's reader schema whatever schema the producer wrote
 * with: avsc's schema resolution (defaults for added fields, removed fields skipped, int → long
 * → float → double, string ↔ bytes) turns each writer's records into the reader's shape. The
 * resolver is built once per writer schema id, and building it is the compatibility check: an
 * incompatible writer fails its records with a message, and is never checked again.
 */
import avsc from 'avsc';
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
  unframeConfluent,
  unframeGlue,
} from './wire.ts';

/** An Avro schema as JSON: declare it `as const` for `record.value` to be typed from it. */
export type AvroSchema =
  | string
  | readonly AvroSchema[]
  | { readonly type: string; readonly [field: string]: unknown };

type AvroField = { readonly name: string; readonly type: unknown };

/**
 * The TypeScript type of what an Avro schema decodes to, as avsc decodes it: records are
 * objects, unions the branch's value, `long` a number (avsc refuses longs past 2^53), `bytes`
 * and `fixed` a Buffer, an enum the union of its symbols. A named type used by name is `unknown`.
 */
export type AvroValue<S> = S extends 'null'
  ? null
  : S extends 'boolean'
    ? boolean
    : S extends 'int' | 'long' | 'float' | 'double'
      ? number
      : S extends 'string'
        ? string
        : S extends 'bytes'
          ? Buffer
          : S extends readonly (infer B)[]
            ? AvroUnion<Exclude<B, 'null'>, 'null' extends B ? null : never>
            : S extends { readonly type: 'record' | 'error'; readonly fields: readonly AvroField[] }
              ? {
                  -readonly [F in S['fields'][number] as F['name']]: AvroValue<F['type']>;
                }
              : S extends { readonly type: 'enum'; readonly symbols: readonly (infer E)[] }
                ? E
                : S extends { readonly type: 'array'; readonly items: infer I }
                  ? AvroValue<I>[]
                  : S extends { readonly type: 'map'; readonly values: infer M }
                    ? Record<string, AvroValue<M>>
                    : S extends { readonly type: 'fixed' }
                      ? Buffer
                      : S extends { readonly type: infer P extends string }
                        ? AvroValue<P>
                        : unknown;

/** Whether `T` is a union of two or more types. */
type IsUnion<T, U = T> = T extends unknown ? ([U] extends [T] ? false : true) : never;

/**
 * A union decodes to its branch's value when it has one branch besides `null`; with more, avsc
 * may wrap the value in an object naming the branch (`{ "int": 1 }`), so it is `unknown`.
 */
type AvroUnion<B, N> = [B] extends [never]
  ? N
  : true extends IsUnion<B>
    ? unknown
    : AvroValue<B> | N;

export interface AvroOptions<S extends AvroSchema> {
  /** The reader schema: the shape the handler gets, whatever the writer's. */
  schema: S;
  /**
   * Where writer schemas come from; its wire format (Confluent or Glue) is what the producer
   * framed values in. Without one, values are bare Avro written with `schema` itself.
   */
  registry?: SchemaRegistry;
  /**
   * What Lambda's schema registry integration delivers, for records that carry
   * `valueSchemaMetadata`: `SOURCE` (the payload, unframed) or `JSON` (already converted).
   * Set it as the event-source mapping's `EventRecordFormat`. @default 'SOURCE'
   */
  lambdaRecordFormat?: 'SOURCE' | 'JSON';
}

/** Decodes keys or values written in Avro. */
export function avro<const S extends AvroSchema>(
  options: AvroOptions<S>,
): SchemaCodec<AvroValue<S>> {
  const reader = parseAvro(options.schema, 'the reader schema');
  const { registry } = options;
  /** Per writer schema id: its type, fetched once (a failure that may pass is asked again). */
  const writers = new Map<string, Promise<avsc.Type>>();
  /** Per writer schema id: how to read its bytes in the reader schema. */
  const resolvers = new Map<string, Promise<avsc.Resolver | undefined>>();

  const writerFor = (id: number | string): Promise<avsc.Type> =>
    onceOrRetry(writers, id, async () => {
      const writer = await writerSchema(registry!, id, 'avro');
      return parseAvro(JSON.parse(writer.definition), `writer schema ${id}`);
    });

  const resolverFor = (id: number | string): Promise<avsc.Resolver | undefined> =>
    onceOrRetry(resolvers, id, async () => {
      const writerType = await writerFor(id);
      if (writerType.equals(reader)) return undefined;
      try {
        // By unqualified name, as Avro's specification and Java resolve: a producer's
        // `com.shop.Order` is the reader's `Order`.
        return reader.createResolver(writerType, { ignoreNamespaces: true });
      } catch (error) {
        throw new SchemaDecodeError(
          `the reader schema cannot read writer schema ${id} (${(error as Error).message}); evolve the writer compatibly (add fields with defaults, promote int to long), or update the reader`,
          'permanent',
          { cause: error },
        );
      }
    });

  const read = (payload: Uint8Array, resolver: avsc.Resolver | undefined, from: string) => {
    try {
      return plain(
        reader.fromBuffer(
          Buffer.from(payload.buffer, payload.byteOffset, payload.length),
          resolver,
        ),
      );
    } catch (error) {
      throw new SchemaDecodeError(
        `the payload does not parse as Avro ${from} (${(error as Error).message})`,
        'permanent',
        { cause: error },
      );
    }
  };

  const codec: SchemaCodec = {
    format: 'avro',
    ...(registry ? { registry: registryRef(registry) } : {}),
    async decode(bytes: Uint8Array, source: SchemaSource): Promise<SchemaDecoded<unknown>> {
      const metadata = source.metadata;
      if (metadata) {
        const id = metadata.schemaId;
        if (options.lambdaRecordFormat === 'JSON') {
          const value = parseLambdaJson(bytes, id);
          return { value, schema: schemaRef('avro', 'lambda-json', id, registry) };
        }
        const resolver = id !== undefined && registry ? await resolverFor(id) : undefined;
        return {
          value: read(bytes, resolver, `of schema ${id ?? '(none given)'}`),
          schema: schemaRef('avro', 'lambda-source', id, registry),
        };
      }
      if (!registry) {
        return {
          value: read(bytes, undefined, 'in the reader schema'),
          schema: schemaRef('avro', 'bare', undefined, undefined),
        };
      }
      const framed = registry.wire === 'confluent' ? unframeConfluent(bytes) : unframeGlue(bytes);
      const resolver = await resolverFor(framed.id);
      return {
        value: read(framed.payload, resolver, `of writer schema ${framed.id}`),
        schema: schemaRef('avro', framed.wire, framed.id, registry),
      };
    },
    async encode(value: unknown, id?: number | string): Promise<Uint8Array> {
      if (!registry) return new Uint8Array(write(reader, value, 'the schema'));
      if (id === undefined) {
        throw new SchemaEncodeError(
          `values are framed for ${registry.name}: which writer schema id? Pass the id the producer writes with`,
        );
      }
      const payload = new Uint8Array(write(await writerFor(id), value, `writer schema ${id}`));
      return registry.wire === 'confluent'
        ? frameConfluent(Number(id), payload)
        : frameGlue(String(id), payload);
    },
  };
  // The decoded type comes from the schema's literal type, which the runtime cannot check.
  return codec as SchemaCodec<AvroValue<S>>;
}

function parseAvro(schema: unknown, what: string): avsc.Type {
  try {
    return avsc.Type.forSchema(schema as avsc.Schema);
  } catch (error) {
    throw new SchemaDecodeError(
      `${what} is not a valid Avro schema (${(error as Error).message})`,
      'permanent',
      {
        cause: error,
      },
    );
  }
}

/** `value` in Avro binary under `type`; a value it refuses names the first field at fault. */
function write(type: avsc.Type, value: unknown, schema: string): Buffer {
  let problem: string | undefined;
  const valid = type.isValid(value, {
    noUndeclaredFields: true,
    errorHook(path, got, at) {
      problem ??= avroProblem(path, got, at, `${schema} (${typeLabel(type)})`);
    },
  });
  if (!valid) throw new SchemaEncodeError(problem ?? `the value does not fit ${schema}`);
  return type.toBuffer(value);
}

function avroProblem(path: string[], got: unknown, type: avsc.Type, schema: string): string {
  const where = path.length === 0 ? 'the value' : path.join('.');
  if (type.typeName === 'record' && typeof got === 'object' && got !== null) {
    const fields = (type as avsc.types.RecordType).fields.map((f) => f.name);
    const extra = Object.keys(got).filter((k) => !fields.includes(k));
    const prefix = path.length === 0 ? '' : `${where}.`;
    if (extra.length > 0) {
      return `${prefix}${extra[0]} is not a field of ${schema.replace(/\)$/, `: ${fields.join(', ')})`)}`;
    }
  }
  if (got === undefined) return `${where} is missing, and ${schema} gives it no default`;
  return `${where} is ${JSON.stringify(got) ?? String(got)}, not ${article(typeLabel(type))}, in ${schema}`;
}

/** A type as a message names it: a named type by its name, a union by its branches. */
function typeLabel(type: avsc.Type): string {
  if (type.name) return type.name.split('.').pop()!;
  if (type.typeName.startsWith('union')) {
    return (type as avsc.types.UnwrappedUnionType & { types: avsc.Type[] }).types
      .map(typeLabel)
      .join(' or ');
  }
  return type.typeName;
}

function article(label: string): string {
  return /^(null|[A-Z])/.test(label) ? label : `${/^[aeiou]/.test(label) ? 'an' : 'a'} ${label}`;
}

/**
 * A decoded value as plain data: avsc makes each record an instance of a class generated for its
 * schema, which `ctx.state` keys and the write rules (plain JSON) would refuse.
 */
function plain(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map(plain);
  const out: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(value)) out[name] = plain(v);
  return out;
}
