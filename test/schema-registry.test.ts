/**
 * dogear's registry clients against real registries: Apicurio's Confluent-compatible API and
 * moto's Glue Schema Registry, started by test/setup/registries.ts. Writers on v1 and v2
 * register their schemas; a v1 reader decodes both through `avro()`, fetching each id once.
 */
import { AwsClient } from 'aws4fetch';
import { describe, expect, inject, test } from 'vitest';
import { registerSchema, startConfluentRegistry } from '../infra/confluent-registry.ts';
import { GLUE_CREDENTIALS, registerGlueSchemaVersions } from '../infra/glue-registry.ts';
import {
  avro,
  confluentRegistry,
  glueRegistry,
  jsonSchema,
  protobuf,
  SchemaRegistryError,
} from '../src/schema/index.ts';

const V1 = {
  type: 'record',
  name: 'Payment',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'cents', type: 'long' },
    { name: 'note', type: 'string', default: '' },
  ],
} as const;
const V2 = {
  type: 'record',
  name: 'Payment',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'cents', type: 'long' },
    { name: 'currency', type: 'string', default: 'EUR' },
  ],
} as const;

/** Counts the registry's answers, to see that an id is fetched once. */
function counting(fetchImpl: typeof fetch) {
  const calls: string[] = [];
  const counted: typeof fetch = async (input, init) => {
    calls.push(String(input instanceof Request ? input.url : input));
    return fetchImpl(input, init);
  };
  return { calls, counted };
}

describe('a Confluent-compatible registry (Apicurio)', () => {
  test('a v1 reader reads values framed by v1 and v2 writers; each id is fetched once', async () => {
    const url = inject('confluentRegistryUrl');
    const subject = `payments-${Date.now()}-value`;
    const v1 = await registerSchema(url, subject, JSON.stringify(V1));
    const v2 = await registerSchema(url, subject, JSON.stringify(V2));
    const registry = confluentRegistry({ url });
    const reader = avro({ schema: V1, registry });
    const bytesV1 = await avro({ schema: V1, registry }).encode(
      { id: 'a', cents: 5, note: 'hi' },
      v1,
    );
    const bytesV2 = await avro({ schema: V2, registry }).encode(
      { id: 'b', cents: 7, currency: 'USD' },
      v2,
    );
    const { calls, counted } = counting(globalThis.fetch);
    const real = globalThis.fetch;
    globalThis.fetch = counted;
    try {
      const fresh = avro({ schema: V1, registry: confluentRegistry({ url }) });
      const values = [];
      for (const bytes of [bytesV1, bytesV2, bytesV1, bytesV2]) {
        values.push({ ...(await fresh.decode(bytes, {})).value });
      }
      expect(values).toEqual([
        { id: 'a', cents: 5, note: 'hi' },
        { id: 'b', cents: 7, note: '' },
        { id: 'a', cents: 5, note: 'hi' },
        { id: 'b', cents: 7, note: '' },
      ]);
      expect(calls.filter((c) => c.includes('/schemas/ids/'))).toHaveLength(2);
    } finally {
      globalThis.fetch = real;
    }
    expect((await reader.decode(bytesV2, {})).schema).toEqual({
      format: 'avro',
      wire: 'confluent',
      id: v2,
      registry: url,
    });
  });

  test('an unknown id is a permanent error naming the id; a registry that is down is one to retry', async () => {
    const url = inject('confluentRegistryUrl');
    const reader = avro({ schema: V1, registry: confluentRegistry({ url }) });
    const unknown = await reader
      .decode(new Uint8Array([0, 0, 0, 0x7f, 0x7f, 2]), {})
      .catch((e) => e);
    expect(unknown).toBeInstanceOf(SchemaRegistryError);
    expect(unknown.failure).toBe('permanent');
    expect(unknown.message).toMatch(/schema id 32639 is unknown to the registry at/);
    const down = avro({
      schema: V1,
      registry: confluentRegistry({
        url: 'http://127.0.0.1:9/apis/ccompat/v7',
        retries: 1,
        timeoutMs: 500,
      }),
    });
    const error = await down.decode(new Uint8Array([0, 0, 0, 0, 1, 2]), {}).catch((e) => e);
    expect(error.failure).toBe('retry');
    expect(error.message).toMatch(
      /could not be reached .* after 2 attempts; the record is delivered again/,
    );
  });

  test('a registry that requires credentials refuses wrong ones (retry) and answers right ones', async () => {
    const auth = { username: 'alice', password: 's3cret' };
    const secured = await startConfluentRegistry({ basicAuth: auth });
    try {
      const id = await registerSchema(
        secured.url,
        'secured-value',
        JSON.stringify(V1),
        'AVRO',
        auth,
      );
      const framed = await avro({
        schema: V1,
        registry: confluentRegistry({ url: secured.url, auth }),
      }).encode({ id: 'a', cents: 1, note: '' }, id);
      const wrong = avro({
        schema: V1,
        registry: confluentRegistry({
          url: secured.url,
          auth: { username: 'alice', password: 'nope' },
        }),
      });
      const refused = await wrong.decode(framed, {}).catch((e) => e);
      expect(refused.failure).toBe('retry');
      expect(refused.message).toMatch(/refused the credentials/);
      const right = avro({ schema: V1, registry: confluentRegistry({ url: secured.url, auth }) });
      // The credentials from a Secrets Manager secret (moto's), as a function reads them.
      const endpoint = inject('glueRegistryEndpoint');
      const region = inject('glueRegistryRegion');
      const signer = new AwsClient({ ...GLUE_CREDENTIALS, service: 'secretsmanager', region });
      const created = await signer.fetch(endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-amz-json-1.1',
          'x-amz-target': 'secretsmanager.CreateSecret',
        },
        body: JSON.stringify({
          Name: `registry-${Date.now()}`,
          SecretString: JSON.stringify(auth),
        }),
      });
      expect(created.status).toBe(200);
      const { ARN } = (await created.json()) as { ARN: string };
      const fromSecret = avro({
        schema: V1,
        registry: confluentRegistry({
          url: secured.url,
          auth: { secretArn: ARN },
          secretsEndpoint: endpoint,
          credentials: async () => ({ ...GLUE_CREDENTIALS }),
        }),
      });
      expect({ ...(await fromSecret.decode(framed, {})).value }).toEqual({
        id: 'a',
        cents: 1,
        note: '',
      });
      const missing = avro({
        schema: V1,
        registry: confluentRegistry({
          url: secured.url,
          auth: { secretArn: `${ARN}-gone` },
          secretsEndpoint: endpoint,
          credentials: async () => ({ ...GLUE_CREDENTIALS }),
        }),
      });
      const unread = await missing.decode(framed, {}).catch((e) => e);
      expect(unread.failure).toBe('retry');
      expect(unread.message).toMatch(
        /could not read the registry credentials from secret .*grant the function secretsmanager:GetSecretValue/,
      );
      expect({ ...(await right.decode(framed, {})).value }).toEqual({
        id: 'a',
        cents: 1,
        note: '',
      });
    } finally {
      await secured.stop();
    }
  }, 120_000);
});

describe('the AWS Glue Schema Registry (moto)', () => {
  test('a v1 reader reads values framed by v1 and v2 writers, by schema version UUID', async () => {
    const endpoint = inject('glueRegistryEndpoint');
    const region = inject('glueRegistryRegion');
    const { versionIds } = await registerGlueSchemaVersions(endpoint, {
      registryName: `dogear-${Date.now()}`,
      schemaName: 'payments',
      dataFormat: 'AVRO',
      definitions: [JSON.stringify(V1), JSON.stringify(V2)],
      region,
    });
    const registry = glueRegistry({
      endpoint,
      region,
      credentials: async () => ({ ...GLUE_CREDENTIALS }),
    });
    const reader = avro({ schema: V1, registry });
    const v2Bytes = await avro({ schema: V2, registry }).encode(
      { id: 'b', cents: 7, currency: 'USD' },
      versionIds[1],
    );
    expect([...v2Bytes.subarray(0, 2)]).toEqual([3, 0]);
    const { value, schema } = await reader.decode(v2Bytes, {});
    expect({ ...value }).toEqual({ id: 'b', cents: 7, note: '' });
    expect(schema).toMatchObject({ format: 'avro', wire: 'glue', id: versionIds[1] });
    const unknown = await reader
      .decode(
        await avro({ schema: V1 })
          .encode({ id: 'x', cents: 1, note: '' })
          .then((p) => {
            const framed = new Uint8Array(18 + p.length);
            framed.set([3, 0, ...new Array(16).fill(0xab)]);
            framed.set(p, 18);
            return framed;
          }),
        {},
      )
      .catch((e) => e);
    expect(unknown.failure).toBe('permanent');
    expect(unknown.message).toMatch(
      /schema version abababab-abab-abab-abab-abababababab is not in the Glue Schema Registry/,
    );
  });
});

describe('Protobuf and JSON Schema through the real registries', () => {
  const proto = `syntax = "proto3"; package shop;
    message Order { string id = 1; int64 cents = 2; }`;

  test('Protobuf registered in Apicurio: a Confluent-framed Order decodes, message indexes and all', async () => {
    const url = inject('confluentRegistryUrl');
    const id = await registerSchema(url, `orders-${Date.now()}-value`, proto, 'PROTOBUF');
    const registry = confluentRegistry({ url });
    const bytes = await protobuf({ proto, type: 'shop.Order', registry }).encode(
      { id: 'o1', cents: 1250 },
      id,
    );
    expect([...bytes.subarray(0, 6)]).toEqual([0, ...int32(id), 0]);
    const { value, schema } = await protobuf({ proto, type: 'shop.Order', registry }).decode(
      bytes,
      {},
    );
    expect(value).toEqual({ id: 'o1', cents: 1250 });
    expect(schema).toMatchObject({ format: 'protobuf', wire: 'confluent', id });
  });

  test('JSON Schema registered in Glue (moto): a Glue-framed value decodes and is checked', async () => {
    const endpoint = inject('glueRegistryEndpoint');
    const region = inject('glueRegistryRegion');
    const schema = {
      type: 'object',
      required: ['id'],
      properties: { id: { type: 'string' }, cents: { type: 'integer' } },
    };
    const { versionIds } = await registerGlueSchemaVersions(endpoint, {
      registryName: `dogear-json-${Date.now()}`,
      schemaName: 'orders',
      dataFormat: 'JSON',
      definitions: [JSON.stringify(schema)],
      region,
    });
    const registry = glueRegistry({
      endpoint,
      region,
      credentials: async () => ({ ...GLUE_CREDENTIALS }),
    });
    const codec = jsonSchema({ schema, registry });
    const good = await codec.encode({ id: 'o1', cents: 5 }, versionIds[0]);
    expect((await codec.decode(good, {})).value).toEqual({ id: 'o1', cents: 5 });
    const bad = new Uint8Array([...good.subarray(0, 18), ...Buffer.from('{"cents":"five"}')]);
    await expect(codec.decode(bad, {})).rejects.toThrow(
      /does not match the reader's JSON Schema: \/ must have required property 'id'; \/cents must be integer/,
    );
  });
});

function int32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}
