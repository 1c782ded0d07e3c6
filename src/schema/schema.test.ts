/**
 * Schema codecs on the bytes others made: Powertools' public sample events (bare Avro, Protobuf
 * framed for Confluent and Glue and unframed by Lambda, Glue-framed Avro), compared with the
 * values Powertools documents, and Avro evolution between a v1 reader and v1/v2 writers.
 * Registry clients against real registries are in test/schema-registry.test.ts.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { type EventRecord, eventRecordOf, type KafkaEvent } from '../event/index.ts';
import { defineConsumer } from '../runtime/consumer.ts';
import { createHandler } from '../runtime/handler.ts';
import { lambdaContext } from '../runtime/lambda-context.ts';
import { createLogger } from '../runtime/logger.ts';
import { MemoryStateStore, StateCache } from '../state/index.ts';
import { avro, jsonSchema, protobuf, SchemaDecodeError, schemasInCode } from './index.ts';
import { readMessageIndexes, writeMessageIndexes } from './wire.ts';

const fixture = (name: string) =>
  readFileSync(new URL(`../../test/fixtures/powertools/${name}`, import.meta.url), 'utf8');
const event = (name: string) => JSON.parse(fixture(name)) as KafkaEvent;
const recordsOf = (e: KafkaEvent) => Object.values(e.records).flat();
const bytesOf = (r: EventRecord) => new Uint8Array(Buffer.from(r.value!, 'base64'));
const metadataOf = (r: EventRecord) =>
  r.valueSchemaMetadata ? { metadata: r.valueSchemaMetadata } : {};

/** Powertools' Product, from packages/kafka/tests/unit/consumer.test.ts. */
const Product = {
  type: 'record',
  name: 'Product',
  fields: [
    { name: 'id', type: 'int' },
    { name: 'name', type: 'string' },
    { name: 'price', type: 'double' },
  ],
} as const;

describe("Powertools' sample events decode to the values Powertools documents", () => {
  test('bare Avro (avro.json)', async () => {
    const codec = avro({ schema: Product });
    const values = [];
    for (const r of recordsOf(event('avro.json'))) {
      const { value, schema } = await codec.decode(bytesOf(r), {});
      values.push({ ...value });
      expect(schema).toEqual({ format: 'avro', wire: 'bare' });
    }
    expect(values).toEqual([
      { id: 1001, name: 'Laptop', price: 999.99 },
      { id: 1002, name: 'Smartphone', price: 599.99 },
      { id: 1003, name: 'Headphones', price: 149.99 },
    ]);
  });

  const proto = fixture('complex.proto');
  const profile = protobuf({ proto, type: 'com.example.protobuf.UserProfile' });

  test('Protobuf from a Confluent producer, unframed by Lambda (message indexes [1] kept; an unknown field 8 skipped)', async () => {
    const records = recordsOf(event('protobuf-complex.confluent.json'));
    const decoded = [];
    for (const r of records) decoded.push(await profile.decode(bytesOf(r), metadataOf(r)));
    expect(decoded[0]!.value).toEqual({
      userId: 'a8e40971-1552-420d-a7c9-b8982325702d',
      name: 'Bob',
      email: 'bob@example.com',
      age: 28,
      isActive: true,
      signupDate: '2024-02-02',
      tags: ['tag1', 'tag2'],
      preferences: { theme: 'light' },
      address: { street: '123 Ave', city: 'Seattle', zip: '98101' },
    });
    // Each record's userId is its key.
    for (const [i, r] of records.entries()) {
      expect((decoded[i]!.value as { userId: string }).userId).toBe(
        Buffer.from(r.key!, 'base64').toString(),
      );
    }
    expect(decoded[0]!.schema).toEqual({ format: 'protobuf', wire: 'lambda-source', id: '1' });
  });

  test('Protobuf from a Glue producer, unframed by Lambda (Glue message index 1)', async () => {
    const [r] = recordsOf(event('protobuf-complex.glue.json'));
    const { value } = await profile.decode(bytesOf(r!), metadataOf(r!));
    expect(value).toMatchObject({
      userId: '123',
      name: 'Test',
      email: 'test@gmx.com',
      age: 10,
      isActive: false,
      signupDate: '2025-06-20',
      tags: ['tag1', 'tag2'],
      preferences: { theme: 'light' },
      address: { street: 'Mythenquai', city: 'Zurich', zip: '8002' },
    });
  });

  test('Avro framed for the Glue Schema Registry (kafkaEventAvro.json, user.avsc)', async () => {
    const User = {
      type: 'record',
      name: 'User',
      namespace: 'com.example',
      fields: [
        { name: 'name', type: 'string' },
        { name: 'age', type: 'int' },
      ],
    } as const;
    const id = '574f6a9a-9548-4dea-86a3-d82c0479a116';
    const codec = avro({
      schema: User,
      registry: schemasInCode({
        wire: 'glue',
        schemas: { [id]: { format: 'avro', definition: User } },
      }),
    });
    const [r] = recordsOf(event('kafkaEventAvro.json'));
    const { value, schema } = await codec.decode(bytesOf(r!), {});
    expect({ ...value }).toEqual({ name: 'Powertools', age: 5 });
    expect(schema).toMatchObject({ format: 'avro', wire: 'glue', id });
  });
});

describe('Avro evolution: a v1 reader keeps reading while writers move to v2', () => {
  const V1 = {
    type: 'record',
    name: 'Payment',
    fields: [
      { name: 'id', type: 'string' },
      { name: 'account', type: 'string' },
      { name: 'amount', type: 'long' },
      { name: 'note', type: 'string', default: '' },
    ],
  } as const;
  // v2 drops `note`, adds `currency` (with a default), and writes amount as an int, which
  // the v1 reader's long promotes.
  const V2 = {
    type: 'record',
    name: 'Payment',
    fields: [
      { name: 'id', type: 'string' },
      { name: 'account', type: 'string' },
      { name: 'amount', type: 'int' },
      { name: 'currency', type: 'string', default: 'EUR' },
    ],
  } as const;
  const schemas = {
    '1': { format: 'avro' as const, definition: V1 },
    '2': { format: 'avro' as const, definition: V2 },
  };

  test('v2 records read as v1: the removed field gets its default, the added one is skipped', async () => {
    const registry = schemasInCode({ wire: 'confluent', schemas });
    const writerV2 = avro({ schema: V2, registry });
    const readerV1 = avro({ schema: V1, registry });
    const bytes = await writerV2.encode({ id: 'p1', account: 'a', amount: 5, currency: 'USD' }, 2);
    expect([...bytes.subarray(0, 5)]).toEqual([0, 0, 0, 0, 2]);
    const { value, schema } = await readerV1.decode(bytes, {});
    expect({ ...value }).toEqual({ id: 'p1', account: 'a', amount: 5, note: '' });
    expect(schema).toEqual({ format: 'avro', wire: 'confluent', id: 2, registry: registry.name });
  });

  test('a writer the reader cannot read fails with the schema id and the fix, and is checked once', async () => {
    let asked = 0;
    const inner = schemasInCode({
      wire: 'confluent',
      schemas: {
        ...schemas,
        '3': {
          format: 'avro',
          definition: { type: 'record', name: 'Payment', fields: [{ name: 'id', type: 'int' }] },
        },
      },
    });
    const registry = {
      ...inner,
      schema: (id: number | string) => {
        asked++;
        return inner.schema(id);
      },
    };
    const reader = avro({ schema: V1, registry });
    const bytes = new Uint8Array([0, 0, 0, 0, 3, 2]);
    for (let i = 0; i < 3; i++) {
      const error = await reader.decode(bytes, {}).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SchemaDecodeError);
      expect((error as SchemaDecodeError).failure).toBe('permanent');
      expect((error as Error).message).toMatch(/cannot read writer schema 3 .*evolve the writer/);
    }
    expect(asked).toBe(1);
  });

  test('bad framing, an unknown id and a payload that does not parse each say what is wrong', async () => {
    const reader = avro({ schema: V1, registry: schemasInCode({ wire: 'confluent', schemas }) });
    const glueFramed = new Uint8Array([3, 0, ...new Array(16).fill(1), 2]);
    await expect(reader.decode(glueFramed, {})).rejects.toThrow(
      /not Confluent wire format \(magic byte 3.*looks like a Glue frame: use glueRegistry\(\)/,
    );
    await expect(reader.decode(new Uint8Array([0, 0, 0, 0, 9, 1]), {})).rejects.toThrow(
      /schema id 9 is not among the schemas given in code/,
    );
    await expect(reader.decode(new Uint8Array([0, 0, 0, 0, 1, 0xff]), {})).rejects.toThrow(
      /does not parse as Avro of writer schema 1/,
    );
  });
});

describe('Protobuf: the writer is checked against the reader once per schema id', () => {
  const reader =
    'syntax = "proto3"; package shop; message Order { string id = 1; int64 cents = 2; }';
  test('a field whose number kept and whose wire type changed is refused, naming it', async () => {
    const writer =
      'syntax = "proto3"; package shop; message Order { string id = 1; string cents = 2; }';
    const registry = schemasInCode({
      wire: 'confluent',
      schemas: { '7': { format: 'protobuf', definition: writer } },
    });
    const codec = protobuf({ proto: reader, type: 'shop.Order', registry });
    const wrote = await protobuf({ proto: writer, type: 'shop.Order', registry }).encode(
      { id: 'o1', cents: 'ten' },
      7,
    );
    await expect(codec.decode(wrote, {})).rejects.toThrow(
      /field cents \(2\) is int64 in the reader and string in the writer/,
    );
  });

  test('a compatible writer (a new field) decodes, the new field skipped', async () => {
    const writer =
      'syntax = "proto3"; package shop; message Order { string id = 1; int64 cents = 2; bool gift = 3; }';
    const registry = schemasInCode({
      wire: 'glue',
      schemas: {
        '11111111-2222-3333-4444-555555555555': { format: 'protobuf', definition: writer },
      },
    });
    const bytes = await protobuf({ proto: writer, type: 'shop.Order', registry }).encode(
      { id: 'o1', cents: 1250, gift: true },
      '11111111-2222-3333-4444-555555555555',
    );
    const { value } = await protobuf({ proto: reader, type: 'shop.Order', registry }).decode(
      bytes,
      {},
    );
    expect(value).toEqual({ id: 'o1', cents: 1250 });
  });

  test("Confluent's message indexes round-trip, [0] as one byte", () => {
    expect([...writeMessageIndexes([0])]).toEqual([0]);
    expect([...writeMessageIndexes([1])]).toEqual([2, 2]);
    expect([...writeMessageIndexes([0, 2])]).toEqual([4, 0, 4]);
    expect(readMessageIndexes(new Uint8Array([4, 0, 4, 9])).indexes).toEqual([0, 2]);
    expect(readMessageIndexes(new Uint8Array([0, 9])).indexes).toEqual([0]);
  });
});

describe('JSON Schema', () => {
  test('a value the reader schema refuses fails with each issue', async () => {
    const codec = jsonSchema({
      schema: { type: 'object', required: ['id'], properties: { id: { type: 'string' } } },
    });
    expect((await codec.decode(new Uint8Array(Buffer.from('{"id":"a"}')), {})).value).toEqual({
      id: 'a',
    });
    await expect(codec.decode(new Uint8Array(Buffer.from('{"id":1}')), {})).rejects.toThrow(
      /does not match the reader's JSON Schema: \/id must be string/,
    );
  });
});

describe('through the runtime', () => {
  test('an Avro consumer gets typed values and record.valueSchema; a bad record fails naming it and its schema id', async () => {
    const V1 = {
      type: 'record',
      name: 'Reading',
      fields: [
        { name: 'sensor', type: 'string' },
        { name: 'celsius', type: 'double' },
      ],
    } as const;
    const registry = schemasInCode({
      wire: 'confluent',
      schemas: { '4': { format: 'avro', definition: V1 } },
    });
    const codec = avro({ schema: V1, registry });
    const seen: unknown[] = [];
    const definition = defineConsumer(
      { name: 'readings', topic: 'readings', value: codec },
      (record, ctx) => {
        seen.push(record.valueSchema, [ctx.eventSourceArn, ctx.bootstrapServers]);
        ctx.table('latest').set(record.value!.sensor, record.value!.celsius);
      },
    );
    const store = new MemoryStateStore();
    const handler = createHandler(definition, {
      store,
      cache: new StateCache(),
      log: createLogger(() => {}),
    });
    const lines = await Promise.all(
      [
        { sensor: 's1', celsius: 20.5 },
        { sensor: 's2', celsius: 19 },
      ].map(async (v, offset) => ({
        topic: 'readings',
        partition: 0,
        offset,
        valueBase64: Buffer.from(await codec.encode(v, 4)).toString('base64'),
      })),
    );
    lines.push({
      topic: 'readings',
      partition: 0,
      offset: 2,
      valueBase64: Buffer.from([0, 0, 0, 0, 5, 1]).toString('base64'),
    });
    const records = lines.map((l, i) => eventRecordOf(l, `line ${i}`));
    const error = await handler(
      {
        eventSource: 'aws:kafka',
        eventSourceArn: 'arn:x',
        bootstrapServers: 'b-1:9098',
        records: { 'readings-0': records },
      },
      lambdaContext(definition),
    ).catch((e: unknown) => e);
    expect(Object.fromEntries(await store.scanTable('readings', 'latest'))).toEqual({
      s1: 20.5,
      s2: 19,
    });
    expect(seen[0]).toEqual({ format: 'avro', wire: 'confluent', id: 4, registry: registry.name });
    expect(seen[1]).toEqual(['arn:x', 'b-1:9098']);
    expect(String((error as Error).message)).toMatch(
      /readings-0@2.*value \(avro\): schema id 5 is not among/,
    );
  });
});

describe('found in review', () => {
  const shop = `syntax = "proto3"; package shop;
    message Order { string id = 1; int64 cents = 2; Address address = 3; float rate = 4; }
    message Refund { string id = 1; int64 cents = 2; }
    message Address { string zip = 1; }`;
  const registryOf = (definition: string) =>
    schemasInCode({ wire: 'confluent', schemas: { '1': { format: 'protobuf', definition } } });

  test('a record of another message of the same schema is refused, not read as the reader type', async () => {
    const registry = registryOf(shop);
    const refund = await protobuf({ proto: shop, type: 'shop.Refund', registry }).encode(
      { id: 'r1', cents: 500 },
      1,
    );
    const reader = protobuf({ proto: shop, type: 'shop.Order', registry });
    await expect(reader.decode(refund, {})).rejects.toThrow(
      /the record is a shop.Refund \(writer schema 1, message \[1\]\), and the consumer reads shop.Order/,
    );
    const order = await protobuf({ proto: shop, type: 'shop.Order', registry }).encode(
      { id: 'o1', cents: 5 },
      1,
    );
    expect((await reader.decode(order, {})).value).toMatchObject({ id: 'o1', cents: 5 });
  });

  test('float read as fixed32, and a nested field whose type changed, are refused', async () => {
    const fixed = shop.replace('float rate = 4', 'fixed32 rate = 4');
    const registry = registryOf(fixed);
    const bytes = await protobuf({ proto: fixed, type: 'shop.Order', registry }).encode(
      { id: 'o', rate: 7 },
      1,
    );
    await expect(
      protobuf({ proto: shop, type: 'shop.Order', registry }).decode(bytes, {}),
    ).rejects.toThrow(/field rate \(4\) is float in the reader and fixed32 in the writer/);
    const nested = shop.replace('string zip = 1', 'int32 zip = 1');
    const registry2 = registryOf(nested);
    const bytes2 = await protobuf({
      proto: nested,
      type: 'shop.Order',
      registry: registry2,
    }).encode({ id: 'o', address: { zip: 8002 } }, 1);
    await expect(
      protobuf({ proto: shop, type: 'shop.Order', registry: registry2 }).decode(bytes2, {}),
    ).rejects.toThrow(/field address.zip \(1\) is string in the reader and int32 in the writer/);
  });

  test('an int64 past 2^53 fails the record instead of arriving rounded', async () => {
    const codec = protobuf({ proto: shop, type: 'shop.Order' });
    const safe = await codec.encode({ id: 'a', cents: 2 ** 53 - 1 });
    expect((await codec.decode(safe, {})).value).toMatchObject({ cents: 2 ** 53 - 1 });
    const type = (await import('protobufjs')).default.parse(shop).root.lookupType('shop.Order');
    const big = type.encode(type.fromObject({ id: 'b', cents: '9007199254740993' })).finish();
    await expect(codec.decode(big, {})).rejects.toThrow(
      /cents holds 9007199254740993, past what a JavaScript number holds/,
    );
  });
});

describe('Avro, found in review', () => {
  const Key = {
    type: 'record',
    name: 'Key',
    fields: [
      { name: 'tenant', type: 'string' },
      { name: 'n', type: 'int' },
    ],
  } as const;

  test('an Avro record key keys ctx.state by its canonical JSON, and record values store as plain JSON', async () => {
    const keyCodec = avro({ schema: Key });
    const valueCodec = avro({ schema: Key });
    const definition = defineConsumer(
      { name: 'keyed', topic: 'keyed', key: keyCodec, value: valueCodec },
      async (record, ctx) => {
        ctx.state.set(record.value);
      },
    );
    const store = new MemoryStateStore();
    const handler = createHandler(definition, {
      store,
      cache: new StateCache(),
      log: createLogger(() => {}),
    });
    const b64 = async (v: unknown) => Buffer.from(await keyCodec.encode(v)).toString('base64');
    const line = {
      topic: 'keyed',
      partition: 0,
      offset: 0,
      keyBase64: await b64({ tenant: 't', n: 1 }),
      valueBase64: await b64({ tenant: 'v', n: 2 }),
    };
    await handler(
      {
        eventSource: 'aws:kafka',
        eventSourceArn: 'arn:x',
        records: { 'keyed-0': [eventRecordOf(line, 'line 0')] },
      },
      lambdaContext(definition),
    );
    expect(Object.fromEntries(await store.scanTable('keyed', 'state'))).toEqual({
      '{"n":1,"tenant":"t"}': { tenant: 'v', n: 2 },
    });
  });

  test("a writer's namespace does not stop a reader that declares none", async () => {
    const writer = { ...Key, namespace: 'com.shop' };
    const registry = schemasInCode({
      wire: 'confluent',
      schemas: { '1': { format: 'avro', definition: writer } },
    });
    const bytes = await avro({ schema: writer, registry }).encode({ tenant: 'a', n: 3 }, 1);
    expect((await avro({ schema: Key, registry }).decode(bytes, {})).value).toEqual({
      tenant: 'a',
      n: 3,
    });
  });

  test('an id the registry did not know is asked for again by the next record', async () => {
    const schemas: Record<string, { format: 'avro'; definition: object }> = {};
    const registry = schemasInCode({ wire: 'confluent', schemas });
    const reader = avro({ schema: Key, registry });
    const bytes = new Uint8Array([0, 0, 0, 0, 8, 2, 0x61, 4]);
    await expect(reader.decode(bytes, {})).rejects.toThrow(/schema id 8 is not among/);
    schemas['8'] = { format: 'avro', definition: Key };
    expect((await reader.decode(bytes, {})).value).toEqual({ tenant: 'a', n: 2 });
  });

  test('a Glue payload that inflates past 32 MB fails the record instead of the function', async () => {
    const { deflateSync } = await import('node:zlib');
    const bomb = deflateSync(Buffer.alloc(40 * 1024 * 1024));
    const framed = new Uint8Array([3, 5, ...new Array(16).fill(1), ...bomb]);
    const codec = avro({
      schema: Key,
      registry: schemasInCode({ wire: 'glue', schemas: {} }),
    });
    await expect(codec.decode(framed, {})).rejects.toThrow(
      /Glue header \(schema version [0-9a-f-]*\) says zlib, but the payload does not inflate/,
    );
  });

  test("a value that is not the JSON Lambda's JSON mode delivers says so without echoing it", async () => {
    const codec = avro({ schema: Key, lambdaRecordFormat: 'JSON' });
    const secret = new Uint8Array(Buffer.from('card=4111111111111111'));
    const error = await codec
      .decode(secret, { metadata: { dataFormat: 'AVRO', schemaId: '3' } })
      .catch((e) => e);
    expect(error).toBeInstanceOf(SchemaDecodeError);
    expect(error.message).toMatch(
      /not the JSON Lambda's integration delivers .*lambdaRecordFormat: 'SOURCE'/,
    );
    expect(error.message).not.toContain('4111');
  });
});

describe('Glue framing, bad input', () => {
  const Key = { type: 'record', name: 'K', fields: [{ name: 'n', type: 'int' }] } as const;
  const reader = avro({ schema: Key, registry: schemasInCode({ wire: 'glue', schemas: {} }) });
  test('a wrong header version, an unknown compression byte and a short header each say what is wrong', async () => {
    await expect(
      reader.decode(new Uint8Array([2, 0, ...new Array(16).fill(0), 2]), {}),
    ).rejects.toThrow(
      /not Glue Schema Registry wire format \(header version byte 2 where Glue's has 3/,
    );
    await expect(
      reader.decode(new Uint8Array([3, 9, ...new Array(16).fill(0), 2]), {}),
    ).rejects.toThrow(/Glue header with compression byte 9; Glue writes 0 \(none\) or 5 \(zlib\)/);
    await expect(reader.decode(new Uint8Array([3, 0, 1]), {})).rejects.toThrow(
      /3 bytes, fewer than the 18 of Glue's header/,
    );
    await expect(reader.decode(new Uint8Array([0, 0, 0, 0, 1, 2]), {})).rejects.toThrow(
      /looks like a Confluent frame: use confluentRegistry\(\)/,
    );
  });
});

describe('errors name the writer schema', () => {
  test('a malformed Protobuf message index and a Glue payload that does not inflate', async () => {
    const proto = 'syntax = "proto3"; package p; message M { int32 n = 1; }';
    const codec = protobuf({
      proto,
      type: 'p.M',
      registry: schemasInCode({ wire: 'confluent', schemas: {} }),
    });
    await expect(codec.decode(new Uint8Array([0, 0, 0, 0, 7, 0x01]), {})).rejects.toThrow(
      /message indexes are malformed \(count -1\) \(writer schema 7\)/,
    );
    const glue = avro({
      schema: { type: 'record', name: 'K', fields: [{ name: 'n', type: 'int' }] } as const,
      registry: schemasInCode({ wire: 'glue', schemas: {} }),
    });
    await expect(
      glue.decode(new Uint8Array([3, 5, ...new Array(16).fill(0x11), 1, 2, 3]), {}),
    ).rejects.toThrow(
      /Glue header \(schema version 11111111-1111-1111-1111-111111111111\) says zlib/,
    );
  });
});
