/**
 * The Avro pair of bench/bundle-avro.ts: one payment schema for both subjects and for the
 * events the benchmark writes. Declared `as const`, so dogear types `record.value` from it;
 * Powertools takes the same schema as a JSON string.
 */
export const Payment = {
  type: 'record',
  name: 'Payment',
  namespace: 'bench',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'account', type: 'string' },
    { name: 'amount', type: 'long' },
  ],
} as const;

/** The Confluent schema id the producer framed dogear's values with. */
export const PAYMENT_SCHEMA_ID = 1;

export const PAYMENTS_TOPIC = 'payments';
