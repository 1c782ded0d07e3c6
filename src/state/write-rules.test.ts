import { describe, expect, test } from 'vitest';
import { keyProblem, MAX_PARTITION_KEY_BYTES } from './write-rules.ts';

describe('keyProblem', () => {
  // `s|g|t|<key>` holds 6 bytes besides the key.
  const room = MAX_PARTITION_KEY_BYTES - 6;

  test('counts a key in UTF-8 bytes, not characters', () => {
    const euro = '€'; // 3 bytes in UTF-8, 1 UTF-16 unit
    expect(keyProblem('g', 't', euro.repeat(Math.floor(room / 3)))).toBeUndefined();
    const over = euro.repeat(Math.floor(room / 3) + 1);
    expect(over.length).toBeLessThan(room);
    expect(keyProblem('g', 't', over)?.problem).toMatch(/a key of 2043 bytes/);
  });

  test('takes a key that fills the partition key to the byte, and no byte more', () => {
    expect(keyProblem('g', 't', 'x'.repeat(room))).toBeUndefined();
    expect(keyProblem('g', 't', 'x'.repeat(room + 1))?.problem).toMatch(/2,048 bytes/);
    // A character outside the BMP: 2 UTF-16 units, 4 bytes.
    expect(keyProblem('g', 't', `${'x'.repeat(room - 4)}😀`)).toBeUndefined();
    expect(keyProblem('g', 't', `${'x'.repeat(room - 3)}😀`)).toBeDefined();
  });

  test('refuses a key that is not a string', () => {
    expect(keyProblem('g', 't', 42)?.problem).toMatch(/a number key/);
  });
});
