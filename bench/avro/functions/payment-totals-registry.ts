import { type Context, consumer, type KafkaRecord, onRecord } from 'dogear';
import { type AvroValue, avro, confluentRegistry } from 'dogear/schema';
import { PAYMENTS_TOPIC, Payment } from '../payment.ts';

/**
 * payment-totals.ts with its writer schemas fetched from a Confluent Schema Registry, as most
 * users would deploy it: bench/bundle-avro.ts builds it to weigh the registry client, and never
 * runs it (nothing listens at the URL).
 */
const payments = avro({
  schema: Payment,
  registry: confluentRegistry({ url: 'http://schema-registry.invalid:8081' }),
});

/** Sums each account's payments. */
@consumer({ topic: PAYMENTS_TOPIC, batchSize: 500, value: payments })
export class PaymentTotalsRegistry {
  @onRecord()
  add(record: KafkaRecord<AvroValue<typeof Payment>>, ctx: Context) {
    if (record.value === null) return;
    ctx.table<number>('totals').add(record.value.account, record.value.amount);
  }
}
