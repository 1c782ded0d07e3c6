import { type Context, consumer, type KafkaRecord, onRecord } from 'dogear';
import { z } from 'zod';

const Reading = z.object({ celsius: z.number(), at: z.string().optional() });

/**
 * The current temperature per sensor: the table view of the stream. Each record is keyed by
 * sensor; a tombstone removes the sensor.
 */
@consumer({ topic: 'temperature-readings', schema: Reading })
export class Thermometer {
  @onRecord()
  read(reading: KafkaRecord<z.infer<typeof Reading> | null>, ctx: Context) {
    if (reading.value === null) ctx.state.delete();
    else ctx.state.set(reading.value.celsius);
  }
}
