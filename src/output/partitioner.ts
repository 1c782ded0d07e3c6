import type { OutboxMessage } from '../state/index.ts';

/**
 * Kafka's default partitioner for keyed records, so that a dogear output lands in the partition
 * a Java producer would pick for the same key: `Utils.toPositive(Utils.murmur2(keyBytes)) %
 * numPartitions` (apache/kafka, clients/src/main/java/org/apache/kafka/common/utils/Utils.java
 * `murmur2` and `toPositive`, used by
 * clients/src/main/java/org/apache/kafka/clients/producer/internals/BuiltInPartitioner.java
 * `partitionForKey`). Java's `int` arithmetic wraps at 32 bits: `Math.imul` and `| 0` do the same.
 */

const SEED = 0x9747b28c;
const M = 0x5bd1e995;
const R = 24;

/** Java Kafka's `Utils.murmur2`: a signed 32-bit hash of `bytes`. */
export function murmur2(bytes: Uint8Array): number {
  const length = bytes.length;
  let h = (SEED ^ length) | 0;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> R;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  // The tail, as Java's switch falls through from case 3 to case 1.
  const tail = length & 3;
  if (tail === 3) h ^= bytes[whole + 2]! << 16;
  if (tail >= 2) h ^= bytes[whole + 1]! << 8;
  if (tail >= 1) h = Math.imul(h ^ bytes[whole]!, M);
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** Java Kafka's `Utils.toPositive`: the sign bit cleared (not `Math.abs`: it keeps MIN_VALUE). */
export const toPositive = (n: number): number => n & 0x7fffffff;

/** The partition of `partitions` that Kafka's default partitioner gives a record keyed `bytes`. */
export function partitionOf(bytes: Uint8Array, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1) {
    throw new RangeError(`A topic has at least 1 partition; got ${partitions}`);
  }
  return toPositive(murmur2(bytes)) % partitions;
}

/**
 * The partition a relayed message goes to: its key's, as Kafka's default partitioner picks it;
 * a keyless message by its origin, so a repeated relay puts the copy beside the first one (a
 * reader's high-water mark is per partition).
 */
export function partitionOfMessage(message: OutboxMessage, partitions: number): number {
  const bytes =
    message.key === null ? Buffer.from(message.origin) : Buffer.from(message.key, 'base64');
  return partitionOf(bytes, partitions);
}
