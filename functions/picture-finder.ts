import { type Context, consumer, type KafkaRecord, onRecord } from 'dogear';

const PICTURE = /\[picture:\s*([^\]]+?)\s*\]/g;

/**
 * Finds the pictures a page mentions, as `[picture: name]`. Stateless: each page's findings
 * depend on that page alone; the table is where they land, keyed by picture name.
 */
@consumer({ topic: 'book-pages', value: 'string' })
export class PictureFinder {
  @onRecord()
  find(page: KafkaRecord<string>, ctx: Context) {
    for (const [, name] of page.value?.matchAll(PICTURE) ?? []) {
      ctx
        .table('pictures')
        .set(name!, { page: page.key, partition: page.partition, offset: page.offset });
      ctx.log.info('found a picture', { picture: name, page: page.key });
    }
  }
}
