import { type Context, consumer, type KafkaRecord, onRecord } from 'dogear';

/**
 * Finds the words seen more than once, anywhere in the book. It reads before it writes, so
 * its commits are conditioned on the versions it read.
 */
@consumer({ topic: 'book-pages', value: 'string' })
export class DuplicateWords {
  @onRecord()
  async find(page: KafkaRecord<string>, ctx: Context) {
    const seen = ctx.table<true>('seen');
    const duplicates = ctx.table<true>('duplicates');
    for (const word of page.value?.toLowerCase().match(/\p{L}+/gu) ?? []) {
      if (await duplicates.get(word)) continue;
      if (await seen.get(word)) duplicates.set(word, true);
      else seen.set(word, true);
    }
  }
}
