/**
 * dogear's partitioner against Kafka's own Java client: `Utils.murmur2` and the default
 * partitioner's `Utils.toPositive(murmur2) % n`, run from the broker's kafka-clients jar.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { runKafkaTool } from '../infra/kafka.ts';
import { murmur2, partitionOf } from '../src/output/partitioner.ts';

const javaSource = fileURLToPath(new URL('./fixtures/java/KafkaPartitions.java', import.meta.url));

/** Keys of every tail length (0–3 mod 4), text in several scripts, random bytes, and edges. */
function someKeys(): Buffer[] {
  const keys: Buffer[] = [
    Buffer.alloc(0),
    Buffer.from([0]),
    Buffer.from([0xff]),
    Buffer.from([0xff, 0xff, 0xff]),
    Buffer.from([0x80, 0x00, 0x00, 0x00]),
    Buffer.from('sensor-1'),
    Buffer.from('21'),
    Buffer.from('foobar'),
    Buffer.from('Grüße, 世界 🌡️'),
    Buffer.from('ключ'),
    Buffer.from('a-little-bit-long-string'),
  ];
  for (let length = 1; length <= 40; length++) keys.push(randomBytes(length));
  for (let i = 0; i < 300; i++) keys.push(randomBytes(Math.floor(Math.random() * 300)));
  for (let i = 0; i < 60; i++) keys.push(Buffer.from(`user-${i}-${'é'.repeat(i % 7)}`));
  return keys;
}

test('murmur2 and partitionOf agree with Kafka Java client for every key and partition count', async () => {
  const keys = someKeys();
  const counts = [1, 2, 3, 6, 7, 12, 50, 1000, 2 ** 31 - 1];
  const cases = keys.map((key, i) => ({ key, partitions: counts[i % counts.length]! }));
  const dir = await mkdtemp(join(tmpdir(), 'dogear-partitioner-'));
  try {
    const input = join(dir, 'keys.txt');
    await writeFile(input, cases.map((c) => `${c.key.toString('hex')} ${c.partitions}`).join('\n'));
    const out = await runKafkaTool(javaSource, [input]);
    const java = out.trim().split('\n');
    expect(java).toHaveLength(cases.length);
    const ours = cases.map((c) => `${murmur2(c.key)} ${partitionOf(c.key, c.partitions)}`);
    expect(ours).toEqual(java);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
