/**
 * Type tests, checked by `tsc --noEmit` (tsconfig includes src); vitest does not run this file.
 * A wrong inference makes `expectTypeOf` fail to compile, and an `@ts-expect-error` whose line
 * compiles is itself an error.
 */
import { expectTypeOf } from 'vitest';
import { z } from 'zod';
import type { KafkaRecord, PartitionSlice } from '../event/index.ts';
import { consumer, defineConsumer, onRecord } from './consumer.ts';
import type { ConsumerDefinition, Context } from './types.ts';

// value: 'string' gives string values; a tombstone is null.
defineConsumer({ topic: 't', name: 'text', value: 'string' }, (record, ctx) => {
  expectTypeOf(record.value).toEqualTypeOf<string | null>();
  expectTypeOf(record.key).toEqualTypeOf<string | null>();
  expectTypeOf(ctx).toEqualTypeOf<Context>();
});

// value: 'bytes' and key: 'bytes'.
defineConsumer({ topic: 't', name: 'raw', value: 'bytes', key: 'bytes' }, (record) => {
  expectTypeOf(record.value).toEqualTypeOf<Uint8Array | null>();
  expectTypeOf(record.key).toEqualTypeOf<Uint8Array | null>();
});

// JSON by default, with no schema: the value is unknown until checked.
defineConsumer({ topic: 't', name: 'json' }, (record) => {
  expectTypeOf(record.value).toEqualTypeOf<unknown>();
});

// A Standard Schema (zod) gives its output type.
const Reading = z.object({ celsius: z.number(), at: z.string().optional() });
defineConsumer({ topic: 't', name: 'schema', schema: Reading }, (record) => {
  expectTypeOf(record.value).toEqualTypeOf<z.output<typeof Reading> | null>();
  expectTypeOf(record).toEqualTypeOf<KafkaRecord<z.output<typeof Reading>, string>>();
});

// A schema whose output differs from its input: the handler sees the output.
const Parsed = z.object({ when: z.string().transform((s) => new Date(s)) });
defineConsumer({ topic: 't', name: 'transform', schema: Parsed }, (record) => {
  expectTypeOf(record.value).toEqualTypeOf<{ when: Date } | null>();
});

// reads gets the records the handler gets: the schema's output, and the key's type.
defineConsumer(
  {
    topic: 't',
    name: 'reads',
    schema: Reading,
    key: 'bytes',
    reads: {
      seen: (record) => {
        expectTypeOf(record).toEqualTypeOf<KafkaRecord<z.output<typeof Reading>, Uint8Array>>();
        return record.value?.at;
      },
      many: (record) => [String(record.offset), `${record.value?.celsius}`],
    },
  },
  () => {},
);
// @ts-expect-error: reads returns keys (strings), not numbers
defineConsumer({ topic: 't', name: 'n', reads: { t: (record) => record.offset } }, () => {});

// A batch handler gets a slice of the same records.
defineConsumer(
  { topic: 't', name: 'bulk', value: 'string' },
  {
    onBatch(slice) {
      expectTypeOf(slice).toEqualTypeOf<PartitionSlice<KafkaRecord<string, string>>>();
    },
  },
);

expectTypeOf(
  defineConsumer({ topic: 't', name: 'n' }, () => {}),
).toEqualTypeOf<ConsumerDefinition>();

// Options the types reject.
// @ts-expect-error: an unknown option key
defineConsumer({ topic: 't', name: 'n', colour: 'red' }, () => {});
// @ts-expect-error: a format that does not exist
defineConsumer({ topic: 't', name: 'n', value: 'avro' }, () => {});
// @ts-expect-error: defineConsumer needs a name (a function has no class name to default to)
defineConsumer({ topic: 't' }, () => {});
// @ts-expect-error: the topic is required
defineConsumer({ name: 'n' }, () => {});
// @ts-expect-error: batchSize is a number
defineConsumer({ topic: 't', name: 'n', batchSize: '100' }, () => {});
defineConsumer({ topic: 't', name: 'n', value: 'string' }, (record) => {
  // @ts-expect-error: a string value is not a number
  const n: number = record.value;
  return n;
});

// The decorator takes the same options.
// @ts-expect-error: an unknown option key
@consumer({ topic: 't', colour: 'red' })
export class Colourful {
  @onRecord()
  handle() {}
}

// A schema codec types the value from its schema: Avro declared `as const`, Protobuf by generic.
import { avro, protobuf } from '../schema/index.ts';

const OrderV1 = {
  type: 'record',
  name: 'Order',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'cents', type: 'long' },
    { name: 'note', type: ['null', 'string'], default: null },
    { name: 'status', type: { type: 'enum', name: 'Status', symbols: ['NEW', 'PAID'] } },
    { name: 'tags', type: { type: 'array', items: 'string' } },
  ],
} as const;
defineConsumer({ topic: 't', name: 'avro-orders', value: avro({ schema: OrderV1 }) }, (record) => {
  expectTypeOf(record.value).toEqualTypeOf<{
    id: string;
    cents: number;
    note: string | null;
    status: 'NEW' | 'PAID';
    tags: string[];
  } | null>();
});
defineConsumer(
  {
    topic: 't',
    name: 'proto-orders',
    value: protobuf<{ id: string; cents: number }>({ proto: '', type: 'shop.Order' }),
  },
  (record) => {
    expectTypeOf(record.value).toEqualTypeOf<{ id: string; cents: number } | null>();
  },
);

// A union of more than one branch besides null may come wrapped ({ int: 1 }): unknown.
const Either = {
  type: 'record',
  name: 'Either',
  fields: [{ name: 'n', type: ['int', 'long'] }],
} as const;
defineConsumer({ topic: 't', name: 'avro-either', value: avro({ schema: Either }) }, (record) => {
  expectTypeOf(record.value).toEqualTypeOf<{ n: unknown } | null>();
});
