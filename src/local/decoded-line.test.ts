import { describe, expect, test } from 'vitest';
import { avro } from '../schema/index.ts';
import { bytesAsBase64, decodedLine } from './record.ts';

describe('decodedLine: a recorded line as dogear record --decode shows it', () => {
  const Blob = {
    type: 'record',
    name: 'Blob',
    fields: [
      { name: 'name', type: 'string' },
      { name: 'data', type: 'bytes' },
    ],
  } as const;
  const codec = avro({ schema: Blob });

  test('a schema-decoded value beside its bytes; bytes fields as base64 in the JSON', async () => {
    const bytes = await codec.encode({ name: 'b', data: Buffer.from([0xff, 0x00]) });
    const valueBase64 = Buffer.from(bytes).toString('base64');
    const line = { topic: 't', partition: 0, offset: 3, key: 'k', valueBase64 };
    const decoded = await decodedLine(line, { value: codec, key: 'string' });
    expect(decoded.valueSchema).toEqual({ format: 'avro', wire: 'bare' });
    expect(decoded.valueBase64).toBe(valueBase64);
    expect(decoded.key).toBe('k');
    expect(JSON.parse(JSON.stringify(decoded, bytesAsBase64))).toMatchObject({
      value: { name: 'b', data: '/wA=' },
    });
  });

  test('a record that does not decode is kept as recorded, with decodeError naming it', async () => {
    const line = { topic: 't', partition: 1, offset: 9, valueBase64: '/w==' };
    const decoded = await decodedLine(line, { value: codec, key: 'string' });
    expect(decoded).toEqual({
      ...line,
      decodeError: expect.stringMatching(/t-1@9.*value \(avro\)/),
    });
  });
});
