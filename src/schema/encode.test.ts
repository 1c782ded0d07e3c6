/**
 * Encoding, as `dogear produce` and `dogear events` use it: a value is written in the writer
 * schema its frame names (the registry's schema for that id), not in the codec's own reader
 * schema, and a value that schema refuses fails with the path to what is wrong.
 */
import { describe, expect, test } from 'vitest';
import { avro, jsonSchema, protobuf, SchemaEncodeError, schemasInCode } from './index.ts';

const V1 = {
  type: 'record',
  name: 'Payment',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'account', type: 'string' },
    { name: 'cents', type: 'long' },
    { name: 'note', type: 'string', default: '' },
  ],
} as const;
const V2 = {
  type: 'record',
  name: 'Payment',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'account', type: 'string' },
    { name: 'cents', type: 'long' },
    { name: 'currency', type: 'string', default: 'EUR' },
  ],
} as const;
const registry = schemasInCode({
  wire: 'confluent',
  schemas: { '1': { format: 'avro', definition: V1 }, '2': { format: 'avro', definition: V2 } },
});

describe('avro().encode', () => {
  test("with a writer schema id, the payload is that schema's, so a v1 reader reads v2's fields right", async () => {
    const reader = avro({ schema: V1, registry });
    const bytes = await reader.encode({ id: 'p1', account: 'a', cents: 5, currency: 'USD' }, 2);
    expect([...bytes.subarray(0, 5)]).toEqual([0, 0, 0, 0, 2]);
    // v2's encoding: "p1", "a", 5, "USD"; v1's would end with its note.
    expect(Buffer.from(bytes.subarray(5)).toString('hex')).toBe(
      Buffer.from([
        4,
        ...Buffer.from('p1'),
        2,
        ...Buffer.from('a'),
        10,
        6,
        ...Buffer.from('USD'),
      ]).toString('hex'),
    );
    const { value } = await reader.decode(bytes, {});
    expect({ ...value }).toEqual({ id: 'p1', account: 'a', cents: 5, note: '' });
  });

  test('a value the writer schema refuses names the field, what it got and the schema', async () => {
    const reader = avro({ schema: V1, registry });
    const error = await reader
      .encode({ id: 'p1', account: 'a', cents: 'five', currency: 'USD' }, 2)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SchemaEncodeError);
    expect((error as Error).message).toBe(
      'cents is "five", not a long, in writer schema 2 (Payment)',
    );
    await expect(reader.encode({ id: 'p1', account: 'a', cents: 5, note: 'x' }, 2)).rejects.toThrow(
      'note is not a field of writer schema 2 (Payment: id, account, cents, currency)',
    );
    await expect(reader.encode({ id: 'p1', account: 'a' }, 2)).rejects.toThrow(
      'cents is missing, and writer schema 2 (Payment) gives it no default',
    );
  });

  test('an id the registry does not know, and a registry codec without an id, say so', async () => {
    const reader = avro({ schema: V1, registry });
    await expect(reader.encode({ id: 'p1' }, 9)).rejects.toThrow(
      /schema id 9 is not among the schemas given in code \(1, 2\)/,
    );
    await expect(reader.encode({ id: 'p1' })).rejects.toThrow(
      /framed for schemas in code \(confluent\): which writer schema id\?/,
    );
  });

  test('without a registry the value is written bare, in the codec schema', async () => {
    const bytes = await avro({ schema: V1 }).encode({ id: 'p', account: 'a', cents: 1, note: '' });
    expect(bytes[0]).toBe(2); // the length of "p", zigzag: no frame
  });
});

describe('protobuf().encode and jsonSchema().encode use the writer schema of the id', () => {
  test('protobuf: a field the writer added is written', async () => {
    const reader = 'syntax = "proto3"; package shop; message Order { string id = 1; }';
    const writer =
      'syntax = "proto3"; package shop; message Order { string id = 1; int64 cents = 2; }';
    const registry = schemasInCode({
      wire: 'confluent',
      schemas: { '3': { format: 'protobuf', definition: writer } },
    });
    const codec = protobuf({ proto: reader, type: 'shop.Order', registry });
    const bytes = await codec.encode({ id: 'o', cents: 7 }, 3);
    // magic, id 3, indexes [0], field 1 "o", field 2 = 7
    expect([...bytes]).toEqual([0, 0, 0, 0, 3, 0, 10, 1, 111, 16, 7]);
    await expect(codec.encode({ id: 'o', cents: 'x' }, 3)).rejects.toThrow(
      /cents: integer\|Long expected, in writer schema 3 \(shop\.Order\)/,
    );
  });

  test('json-schema: the value is checked against the writer schema', async () => {
    const registry = schemasInCode({
      wire: 'confluent',
      schemas: {
        '4': {
          format: 'json-schema',
          definition: { type: 'object', properties: { n: { type: 'integer' } } },
        },
      },
    });
    const codec = jsonSchema({ schema: { type: 'object' }, registry });
    expect(Buffer.from((await codec.encode({ n: 1 }, 4)).subarray(5)).toString()).toBe('{"n":1}');
    await expect(codec.encode({ n: 'one' }, 4)).rejects.toThrow(
      '/n must be integer, in writer schema 4',
    );
  });
});
