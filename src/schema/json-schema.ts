/**
 * JSON Schema keys and values: the payload is JSON text, checked against the consumer's schema
 * with ajv (compiled once). A writer's schema only has to exist in the registry: JSON Schema
 * has no resolution step, so what a reader can read is what its own schema accepts.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import type { SchemaCodec, SchemaDecoded, SchemaRef, SchemaSource } from '../event/index.ts';
import { SchemaDecodeError, SchemaEncodeError } from './errors.ts';
import {
  onceOrRetry,
  registryRef,
  type SchemaRegistry,
  schemaRef,
  writerSchema,
} from './registry.ts';
import { frameConfluent, frameGlue, unframeConfluent, unframeGlue } from './wire.ts';

export interface JsonSchemaOptions {
  /** The reader's JSON Schema: every value must satisfy it. */
  schema: object;
  /** Where writer schemas come from; without one, values are bare JSON. */
  registry?: SchemaRegistry;
}

/** Decodes keys or values written as JSON under a JSON Schema; `T` is what the schema admits. */
export function jsonSchema<T = unknown>(options: JsonSchemaOptions): SchemaCodec<T> {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(options.schema);
  const { registry } = options;
  /** Per writer schema id, for encoding: the writer's schema, compiled. */
  const writers = new Map<string, Promise<ValidateFunction>>();
  const writerFor = (id: number | string) =>
    onceOrRetry(writers, id, async () => {
      const writer = await writerSchema(registry!, id, 'json-schema');
      return ajv.compile(JSON.parse(writer.definition) as object);
    });

  const codec: SchemaCodec = {
    format: 'json-schema',
    ...(registry ? { registry: registryRef(registry) } : {}),
    async decode(bytes: Uint8Array, source: SchemaSource): Promise<SchemaDecoded<unknown>> {
      let payload = bytes;
      let schema: SchemaRef = schemaRef('json-schema', 'bare', undefined, undefined);
      if (source.metadata) {
        schema = schemaRef('json-schema', 'lambda-source', source.metadata.schemaId, registry);
      } else if (registry) {
        const framed = registry.wire === 'confluent' ? unframeConfluent(bytes) : unframeGlue(bytes);
        // The writer's schema only has to exist (the registry's answer is cached per id).
        await writerSchema(registry, framed.id, 'json-schema');
        payload = framed.payload;
        schema = schemaRef('json-schema', framed.wire, framed.id, registry);
      }
      let value: unknown;
      try {
        value = JSON.parse(
          Buffer.from(payload.buffer, payload.byteOffset, payload.length).toString('utf8'),
        );
      } catch (error) {
        throw new SchemaDecodeError(
          `the payload is not JSON (${(error as Error).message})`,
          'permanent',
          {
            cause: error,
          },
        );
      }
      if (!validate(value)) {
        throw new SchemaDecodeError(
          `the value does not match the reader's JSON Schema: ${issuesOf(validate)}`,
          'permanent',
        );
      }
      return { value, schema };
    },
    async encode(value: unknown, id?: number | string): Promise<Uint8Array> {
      const payload = new Uint8Array(Buffer.from(JSON.stringify(value)));
      if (!registry) {
        check(validate, value, 'the schema');
        return payload;
      }
      if (id === undefined) {
        throw new SchemaEncodeError(
          `values are framed for ${registry.name}: which writer schema id? Pass the id the producer writes with`,
        );
      }
      check(await writerFor(id), value, `writer schema ${id}`);
      return registry.wire === 'confluent'
        ? frameConfluent(Number(id), payload)
        : frameGlue(String(id), payload);
    },
  };
  return codec as SchemaCodec<T>;
}

/** Throws, listing each issue, when `value` does not satisfy the compiled schema. */
function check(validate: ValidateFunction, value: unknown, schema: string): void {
  if (validate(value)) return;
  throw new SchemaEncodeError(`${issuesOf(validate)}, in ${schema}`);
}

function issuesOf(validate: ValidateFunction): string {
  return (validate.errors ?? [])
    .map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`)
    .join('; ');
}
