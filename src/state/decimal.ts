/**
 * Numbers in state are decimals, as DynamoDB holds them (up to 38 significant digits). A JS
 * number stands for the decimal it prints as (`String(n)`), so a number that is set reads back
 * as the same number; `add` is exact decimal addition, as DynamoDB's `ADD` is, in every store,
 * so `0.1 + 0.2` is `0.3` and a counter past 2^53 keeps counting exactly. See docs/state.md.
 */

import { StateTypeError, type WriteCoordinates } from './errors.ts';

/** A decimal: a JS number when that number prints as it, else its decimal text. */
export type Decimal = number | string;

/** value = mantissa × 10^exponent, the mantissa without trailing zeros. */
interface Parts {
  readonly mantissa: bigint;
  readonly exponent: number;
}

const DECIMAL = /^(-?)(\d+)(?:\.(\d*))?(?:e([+-]?\d+))?$/i;

function partsOf(decimal: Decimal): Parts {
  const text = typeof decimal === 'number' ? String(decimal) : decimal;
  const match = DECIMAL.exec(text);
  if (!match) throw new RangeError(`${text} is not a decimal number`);
  const [, sign, whole, fraction = '', exp = '0'] = match;
  return normalized(BigInt(`${sign}${whole}${fraction}`), Number(exp) - fraction.length);
}

function textOf({ mantissa, exponent }: Parts): string {
  if (exponent >= 0 && exponent <= 21) return `${mantissa}${'0'.repeat(exponent)}`;
  const negative = mantissa < 0n;
  const digits = (negative ? -mantissa : mantissa).toString();
  const sign = negative ? '-' : '';
  if (exponent < 0 && -exponent < digits.length + 7) {
    const point = digits.length + exponent;
    return point > 0
      ? `${sign}${digits.slice(0, point)}.${digits.slice(point)}`
      : `${sign}0.${'0'.repeat(-point)}${digits}`;
  }
  return `${sign}${digits}E${exponent}`;
}

/** The decimal `parts` stand for, as a JS number when one prints as exactly that decimal. */
function decimalOf(parts: Parts): Decimal {
  const text = textOf(parts);
  const number = Number(text);
  const back = partsOf(number);
  return back.mantissa === parts.mantissa && back.exponent === parts.exponent ? number : text;
}

/** Exact `a + b`. Safe integers, the common case of counters, never leave JS numbers. */
export function addDecimal(a: Decimal, b: Decimal): Decimal {
  if (typeof a === 'number' && typeof b === 'number') {
    const sum = a + b;
    if (Number.isSafeInteger(sum) && Number.isSafeInteger(a) && Number.isSafeInteger(b)) return sum;
  }
  const x = partsOf(a);
  const y = partsOf(b);
  const exponent = Math.min(x.exponent, y.exponent);
  const mantissa =
    x.mantissa * 10n ** BigInt(x.exponent - exponent) +
    y.mantissa * 10n ** BigInt(y.exponent - exponent);
  return decimalOf(normalized(mantissa, exponent));
}

function normalized(mantissa: bigint, exponent: number): Parts {
  if (mantissa === 0n) return { mantissa, exponent: 0 };
  while (mantissa % 10n === 0n) {
    mantissa /= 10n;
    exponent += 1;
  }
  return { mantissa, exponent };
}

/**
 * A decimal as a stored item holds it: `value` is what a handler reads, `exact` the decimal
 * when no JS number prints as it. Every store, the cache and the buffer build numbers this way.
 */
export function numberFields(decimal: Decimal): { value: number; exact?: string } {
  return typeof decimal === 'number'
    ? { value: decimal }
    : { value: Number(decimal), exact: decimal };
}

/** The decimal an item holds, for `add`: a missing item counts as 0; anything else is refused. */
export function decimalIn(
  item: { value: unknown; exact?: string; exists: boolean },
  at: Partial<WriteCoordinates>,
): Decimal {
  if (!item.exists) return 0;
  if (typeof item.value !== 'number') {
    throw new StateTypeError(
      `Cannot add to ${at.table}/${at.key}: it holds ${item.value === null ? 'null' : `a ${typeof item.value}`}, not a number`,
      at,
    );
  }
  return item.exact ?? item.value;
}

/** What a handler reads: the nearest JS number. */
export function numberOf(decimal: Decimal): number {
  return typeof decimal === 'number' ? decimal : Number(decimal);
}

/** The text DynamoDB is sent for a decimal. */
export function decimalText(decimal: Decimal): string {
  return typeof decimal === 'number' ? String(decimal) : decimal;
}

/** Reads DynamoDB's text of a number back into a decimal. */
export function parseDecimal(text: string): Decimal {
  return decimalOf(partsOf(text));
}

/**
 * Why DynamoDB would refuse this decimal, or undefined: it holds 38 significant digits and
 * magnitudes from 1E-130 to below 1E+126.
 */
export function decimalProblem(decimal: Decimal): string | undefined {
  if (typeof decimal === 'number' && !Number.isFinite(decimal)) {
    return `${decimal} is not a finite number`;
  }
  const { mantissa, exponent } = partsOf(decimal);
  if (mantissa === 0n) return undefined;
  const digits = (mantissa < 0n ? -mantissa : mantissa).toString().length;
  if (digits > 38) return `${decimalText(decimal)} has ${digits} significant digits, over 38`;
  const magnitude = exponent + digits - 1; // the power of ten of the leading digit
  if (magnitude >= 126 || magnitude < -130) {
    return `${decimalText(decimal)} is outside the range DynamoDB holds (1E-130 to 9.99…E+125 in magnitude)`;
  }
  return undefined;
}
