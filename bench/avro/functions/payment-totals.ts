import { type Context, consumer, type KafkaRecord, onRecord } from 'dogear';
import { type AvroValue, avro, schemasInCode } from 'dogear/schema';
import { PAYMENT_SCHEMA_ID, PAYMENTS_TOPIC, Payment } from '../payment.ts';

/**
 * Confluent-framed Avro with the writer schema pinned in code: the benchmark's cold starts run
 * offline, with no registry to reach (payment-totals-registry.ts is the same consumer with
 * `confluentRegistry()`, built for its size only).
 */
const payments = avro({
  schema: Payment,
  registry: schemasInCode({
    wire: 'confluent',
    schemas: { [PAYMENT_SCHEMA_ID]: { format: 'avro', definition: Payment } },
  }),
});

/** Sums each account's payments. */
@consumer({ topic: PAYMENTS_TOPIC, batchSize: 500, value: payments })
export class PaymentTotals {
  @onRecord()
  add(record: KafkaRecord<AvroValue<typeof Payment>>, ctx: Context) {
    if (record.value === null) return; // a tombstone pays nothing
    ctx.table<number>('totals').add(record.value.account, record.value.amount);
  }
}
