/**
 * JSON Schema keys and values: the payload is JSON text, checked against the consumer's schema
 * with ajv (compiled once). A writer's schema only has to exist in the registry: JSON Schema
 * has no resolution step, so what a reader can read is what its own schema accepts.
 */
import { Ajv } from 'ajv';
import type { SchemaCodec, SchemaDecoded, SchemaRef, SchemaSource } from '../event/index.ts';
import { SchemaDecodeError } from './errors.ts';
import { registryRef, type SchemaRegistry } from './registry.ts';
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
  const known = new Map<string, Promise<void>>();

  const writerExists = (id: number | string) => {
    const key = String(id);
    let check = known.get(key);
    if (!check) {
      check = registry!.schema(id).then((writer) => {
        if (writer.format !== 'json-schema') {
          throw new SchemaDecodeError(
            `schema ${id} is ${writer.format}, not JSON Schema`,
            'permanent',
          );
        }
      });
      known.set(key, check);
      check.catch((error) => {
        if ((error as SchemaDecodeError).failure === 'retry') known.delete(key);
      });
    }
    return check;
  };

  const codec: SchemaCodec = {
    format: 'json-schema',
    ...(registry ? { registry: registryRef(registry) } : {}),
    async decode(bytes: Uint8Array, source: SchemaSource): Promise<SchemaDecoded<unknown>> {
      let payload = bytes;
      let schema: SchemaRef = { format: 'json-schema', wire: 'bare' };
      if (source.metadata) {
        const id = source.metadata.schemaId;
        schema = {
          format: 'json-schema',
          wire: 'lambda-source',
          ...(id === undefined ? {} : { id }),
          ...(registry ? { registry: registry.name } : {}),
        };
      } else if (registry) {
        const framed = registry.wire === 'confluent' ? unframeConfluent(bytes) : unframeGlue(bytes);
        await writerExists(framed.id);
        payload = framed.payload;
        schema = {
          format: 'json-schema',
          wire: framed.wire,
          id: framed.id,
          registry: registry.name,
        };
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
        const issues = (validate.errors ?? [])
          .map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`)
          .join('; ');
        throw new SchemaDecodeError(
          `the value does not match the reader's JSON Schema: ${issues}`,
          'permanent',
        );
      }
      return { value, schema };
    },
    encode(value: unknown, id?: number | string): Uint8Array {
      const payload = new Uint8Array(Buffer.from(JSON.stringify(value)));
      if (!registry) return payload;
      if (id === undefined)
        throw new RangeError(`encoding for ${registry.name} needs the writer schema's id`);
      return registry.wire === 'confluent'
        ? frameConfluent(Number(id), payload)
        : frameGlue(String(id), payload);
    },
  };
  return codec as SchemaCodec<T>;
}
