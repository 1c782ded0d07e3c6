import { type Context, consumer, type KafkaRecord, onRecord } from 'dogear';
import { type AvroValue, avro, schemasInCode } from 'dogear/schema';

/** What this consumer reads: its reader schema, the shape every record is turned into. */
const PaymentV1 = {
  type: 'record',
  name: 'Payment',
  namespace: 'example.payments',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'account', type: 'string' },
    { name: 'cents', type: 'long' },
    { name: 'note', type: 'string', default: '' },
  ],
} as const;

/** What the producers moved to: `currency` added (with a default), `note` dropped. */
const PaymentV2 = {
  type: 'record',
  name: 'Payment',
  namespace: 'example.payments',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'account', type: 'string' },
    { name: 'cents', type: 'long' },
    { name: 'currency', type: 'string', default: 'EUR' },
  ],
} as const;

/**
 * Payments are Confluent-framed Avro, each naming its writer schema: 1 or 2. The writer schemas
 * are given in code so the example runs offline; in production they come from the registry the
 * producers use: `registry: confluentRegistry()` (or `glueRegistry()`).
 */
const payments = avro({
  schema: PaymentV1,
  registry: schemasInCode({
    wire: 'confluent',
    schemas: {
      '1': { format: 'avro', definition: PaymentV1 },
      '2': { format: 'avro', definition: PaymentV2 },
    },
  }),
});

/**
 * What each account has paid, whichever schema its payments were written with: a v1 reader
 * that keeps working while writers move to v2. A v2 payment reads with `note` at its default.
 */
@consumer({ topic: 'payments', value: payments })
export class PaymentTotals {
  @onRecord()
  pay(payment: KafkaRecord<AvroValue<typeof PaymentV1>>, ctx: Context) {
    if (payment.value === null) return;
    const { account, cents, note } = payment.value;
    ctx.table<number>('totals').add(account, cents);
    if (note !== '') ctx.table<number>('notes').add(account, 1);
  }
}
