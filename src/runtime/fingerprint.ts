import { createHash } from 'node:crypto';
import type { EventRecord } from '../event/index.ts';

/**
 * A short fingerprint of a record as Kafka stored it: sha256, truncated to 16 hex characters (64
 * bits), over its raw base64 key and value and its timestamp. The key and value are what the
 * producer wrote; the timestamp tells apart a record produced again with the same payload (a
 * counter's `+1`, a heartbeat), and under `LOG_APPEND_TIME` it is the broker's own clock. A
 * timestamp alone is weak (producers set it, and it need not grow), a payload alone repeats;
 * together they rarely do. Headers are left out: the hash runs once per record on the hot path,
 * and the three fields already tell a new log from the old one in all but contrived cases (the
 * same records produced again with their own timestamps, which is the old log's content anyway).
 */
export function recordFingerprint(record: EventRecord): string {
  return createHash('sha256')
    .update(JSON.stringify([record.key ?? null, record.value ?? null, record.timestamp]))
    .digest('hex')
    .slice(0, 16);
}
