import { type Context, consumer, type KafkaRecord, onRecord } from 'dogear';
import type { TemperatureAlert } from './thermometer.ts';

/** One sensor's alerts so far. */
export interface SensorAlerts {
  readonly count: number;
  readonly last: TemperatureAlert;
}

/**
 * The alerts `thermometer` emits, per sensor: how many, and the latest. It reads an output
 * topic of another dogear consumer, so an alert the relay delivered twice (same
 * `dogear-origin` header) is skipped before this method runs: `count` is exact, not at least.
 */
@consumer({ topic: 'temperature-alerts' })
export class AlertLog {
  @onRecord()
  async log(alert: KafkaRecord<TemperatureAlert | null>, ctx: Context) {
    if (alert.value === null) return;
    const last = alert.value;
    await ctx.state.update((current) => ({
      count: ((current as SensorAlerts | undefined)?.count ?? 0) + 1,
      last,
    }));
  }
}
