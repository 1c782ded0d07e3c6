import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { stateKeyOf } from './key.ts';

const bytes = (hex: string) => new Uint8Array(Buffer.from(hex, 'hex'));

describe('stateKeyOf', () => {
  test('a string key is the item key as it is', () => {
    expect(stateKeyOf('order-7', 'string')).toBe('order-7');
    expect(stateKeyOf('{"b":1,"a":2}', 'string')).toBe('{"b":1,"a":2}');
    expect(stateKeyOf('', 'string')).toBe('');
  });

  test('a bytes key is its standard, padded base64: ff01 and fe01 are two items', () => {
    expect(stateKeyOf(bytes('ff01'), 'bytes')).toBe('/wE=');
    expect(stateKeyOf(bytes('fe01'), 'bytes')).toBe('/gE=');
    expect(stateKeyOf(bytes('fbff'), 'bytes')).toBe('+/8='); // not base64url's "-_8"
    expect(stateKeyOf(bytes(''), 'bytes')).toBe('');
    // A view into a larger buffer encodes only its own bytes.
    const whole = bytes('00ff0100');
    expect(stateKeyOf(whole.subarray(1, 3), 'bytes')).toBe('/wE=');
  });

  test('a json key is canonical JSON: object keys sorted, no whitespace', () => {
    expect(stateKeyOf({ b: 1, a: 2 }, 'json')).toBe('{"a":2,"b":1}');
    expect(stateKeyOf({ a: 2, b: 1 }, 'json')).toBe('{"a":2,"b":1}');
    expect(stateKeyOf(JSON.parse('{ "t" : "a", "id" : 1 }'), 'json')).toBe('{"id":1,"t":"a"}');
    // Recursively, in arrays too; arrays keep their order.
    expect(stateKeyOf({ z: { y: [{ d: 1, c: [2, 1] }], x: null }, a: true }, 'json')).toBe(
      '{"a":true,"z":{"x":null,"y":[{"c":[2,1],"d":1}]}}',
    );
    expect(stateKeyOf({}, 'json')).toBe('{}');
    expect(stateKeyOf([], 'json')).toBe('[]');
  });

  test('json keys sort by UTF-16 code units, not code points or locale', () => {
    // U+1F600 is the surrogate pair d83d de00, which sorts before U+FF61; "B" before "a".
    expect(stateKeyOf({ '\uff61': 1, '😀': 2, a: 3, B: 4 }, 'json')).toBe(
      '{"B":4,"a":3,"😀":2,"｡":1}',
    );
  });

  test('json scalars: a JSON string keeps its quotes, so "1" and 1 are two items', () => {
    expect(stateKeyOf('abc', 'json')).toBe('"abc"');
    expect(stateKeyOf('1', 'json')).toBe('"1"');
    expect(stateKeyOf(1, 'json')).toBe('1');
    expect(stateKeyOf('[1]', 'json')).toBe('"[1]"');
    expect(stateKeyOf([1], 'json')).toBe('[1]');
    expect(stateKeyOf(false, 'json')).toBe('false');
    expect(stateKeyOf('line\nbreak "quoted"', 'json')).toBe('"line\\nbreak \\"quoted\\""');
  });

  test('json numbers as JSON.stringify prints them', () => {
    for (const [text, key] of [
      ['1.0', '1'],
      ['1e2', '100'],
      ['1E-7', '1e-7'],
      ['-0', '0'],
      ['0.1', '0.1'],
      ['123456789012345680000', '123456789012345680000'],
    ] as const) {
      expect(stateKeyOf(JSON.parse(text), 'json'), text).toBe(key);
    }
    // Avro and Protobuf longs arrive as bigint: the same digits a JSON number would give.
    expect(stateKeyOf({ id: 5n }, 'json')).toBe('{"id":5}');
  });

  test('a key JSON cannot carry is refused, not guessed', () => {
    for (const key of [
      undefined,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      { a: undefined },
      [() => 1],
      new Map([['a', 1]]),
      new Date(0),
      { raw: new Uint8Array([1]) },
      Symbol('k'),
    ]) {
      expect(() => stateKeyOf(key, 'json'), String(key?.toString?.())).toThrow(TypeError);
    }
    expect(() => stateKeyOf(bytes('ff01'), 'string')).toThrow(TypeError);
    expect(() => stateKeyOf('order-7', 'bytes')).toThrow(TypeError);
  });

  test('property: any JSON value round-trips through its key, whatever its key order', () => {
    const reorder = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(reorder);
      if (typeof value !== 'object' || value === null) return value;
      const entries = Object.entries(value).reverse();
      return Object.fromEntries(entries.map(([k, v]) => [k, reorder(v)]));
    };
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const key = stateKeyOf(value, 'json');
        // Same value, other key order: same item.
        expect(stateKeyOf(reorder(value), 'json')).toBe(key);
        // The key is JSON for the value itself (so distinct values are distinct items)...
        expect(JSON.parse(key)).toEqual(JSON.parse(JSON.stringify(value)));
        // ...and canonical: its own key.
        expect(stateKeyOf(JSON.parse(key), 'json')).toBe(key);
        expect(key).not.toMatch(/^\s|\s$/);
      }),
      { numRuns: 500 },
    );
  });
});
