import { type Context, consumer, type KafkaRecord, onRecord } from 'dogear';

/** Counts every word of every page: a stateful aggregation, one counter per word. */
@consumer({ topic: 'book-pages', batchSize: 500, value: 'string' })
export class WordCount {
  @onRecord()
  count(page: KafkaRecord<string>, ctx: Context) {
    if (page.value === null) return; // a tombstone carries no words
    const counts = ctx.table<number>('counts');
    for (const word of page.value.toLowerCase().match(/\p{L}+/gu) ?? []) counts.add(word, 1);
  }
}
