import { type Context, consumer, type KafkaRecord, onRecord } from 'dogear';
import { z } from 'zod';

const Reading = z.object({ celsius: z.number(), at: z.string().optional() });

/** Above this a sensor is too hot. */
export const ALERT_ABOVE_CELSIUS = 30;

/** What `temperature-alerts` carries, keyed by sensor. */
export interface TemperatureAlert {
  readonly sensor: string;
  readonly celsius: number;
  /** The sensor's reading before this one; null for its first (or its first after a tombstone). */
  readonly previous: number | null;
  /** The reading's record timestamp, epoch ms. */
  readonly timestamp: number;
}

/**
 * The current temperature per sensor: the table view of the stream. Each record is keyed by
 * sensor; a tombstone removes the sensor.
 *
 * It alerts on a crossing, not on every hot reading: a reading above 30 °C whose previous
 * reading was not (or that is the sensor's first), so a sensor that stays hot alerts once, and
 * again only after it cooled to 30 °C or below. The previous reading is this table's own item,
 * so the rule needs no other state, and a key stays on one partition, so the order is the log's.
 *
 * A reading that is not JSON or fails the schema fails its record; its second failed delivery
 * sends it to `temperature-readings.dead-letters` and the partition moves on.
 */
@consumer({
  topic: 'temperature-readings',
  schema: Reading,
  emits: ['temperature-alerts'],
  deadLetter: { after: 2, to: 'temperature-readings.dead-letters' },
})
export class Thermometer {
  @onRecord()
  async read(reading: KafkaRecord<z.infer<typeof Reading> | null>, ctx: Context) {
    if (reading.value === null) {
      ctx.state.delete();
      return;
    }
    const { celsius } = reading.value;
    const previous = (await ctx.state.get()) as number | undefined;
    ctx.state.set(celsius);
    const wasHot = previous !== undefined && previous > ALERT_ABOVE_CELSIUS;
    if (celsius > ALERT_ABOVE_CELSIUS && !wasHot) {
      const sensor = reading.key as string;
      const alert: TemperatureAlert = {
        sensor,
        celsius,
        previous: previous ?? null,
        timestamp: reading.timestamp,
      };
      ctx.emit('temperature-alerts', alert, { key: sensor });
    }
  }
}
