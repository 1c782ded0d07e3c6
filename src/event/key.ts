import type { FieldFormat, Format } from './types.ts';

/**
 * The string a decoded record key becomes as an item key of `ctx.state`, by the consumer's
 * key format:
 *
 * - `string`: the key as it is.
 * - `bytes`: standard, padded base64 (`ff01` is `/wE=`).
 * - `json`, and schema codecs (`avro()`, `protobuf()`, `jsonSchema()`, whose keys decode to
 *   the same kinds of values): canonical JSON, the form of RFC 8785 (JCS). Object keys are sorted
 *   by UTF-16 code units at every depth, arrays keep their order, there is no whitespace, and
 *   numbers and strings print as `JSON.stringify` prints them; a bigint prints its digits. So
 *   `{"b":1,"a":2}` and `{"a":2,"b":1}` are one item, `{"a":2,"b":1}`. A JSON string keeps its
 *   quotes (`"abc"`), so the string `"1"` and the number `1` stay two items.
 *
 * Throws a `TypeError` for a key its format cannot hold (a JSON key with `undefined`, a
 * non-finite number, a `Map`, a `Date` or bytes in it), rather than guess a form for it.
 */
export function stateKeyOf(key: unknown, format: FieldFormat): string {
  if (format === 'string') {
    if (typeof key !== 'string') throw keyError(key, 'a string', format);
    return key;
  }
  if (format === 'bytes') {
    if (!(key instanceof Uint8Array)) throw keyError(key, 'a Uint8Array', format);
    return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('base64');
  }
  return canonicalJson(key, '');
}

function canonicalJson(value: unknown, path: string): string {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw keyError(value, 'a finite number', 'json', path);
      return JSON.stringify(value);
    case 'bigint':
      return value.toString();
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ',';
          out += canonicalJson(value[i], `${path}[${i}]`);
        }
        return `${out}]`;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw keyError(
          value,
          'JSON (an object, array, string, number, boolean or null)',
          'json',
          path,
        );
      }
      // The default sort compares strings by UTF-16 code units, as RFC 8785 asks.
      const names = Object.keys(value).sort();
      let out = '{';
      for (let i = 0; i < names.length; i++) {
        const name = names[i]!;
        if (i > 0) out += ',';
        out += `${JSON.stringify(name)}:${canonicalJson((value as Record<string, unknown>)[name], `${path}.${name}`)}`;
      }
      return `${out}}`;
    }
    default:
      throw keyError(
        value,
        'JSON (an object, array, string, number, boolean or null)',
        'json',
        path,
      );
  }
}

function keyError(value: unknown, expected: string, format: Format, path = ''): TypeError {
  const what =
    value === null || value === undefined
      ? String(value)
      : typeof value === 'object'
        ? `a ${(value as object).constructor?.name ?? 'object'}`
        : `a ${typeof value} (${String(value)})`;
  const at = path ? ` at ${path.replace(/^\./, '')}` : '';
  return new TypeError(`a ${format} key must be ${expected}${at}, and it is ${what}`);
}
