import { describe, expect, test } from 'vitest';
import type { KafkaRecord } from '../event/index.ts';
import { invoke } from '../testing/index.ts';
import { consumer, consumerOf, defineConsumer, kebabCase, onBatch, onRecord } from './consumer.ts';
import { ConsumerDefinitionError } from './errors.ts';
import type { ConsumerOptions, Context } from './types.ts';

/** Declares a decorated class with `options` inside a function, so its errors can be caught. */
function declare(options: ConsumerOptions) {
  @consumer(options)
  class SomeConsumer {
    @onRecord()
    handle() {}
  }
  return consumerOf(SomeConsumer)!;
}

describe('@consumer', () => {
  test('the name defaults to the class name in kebab-case, the group to the name', () => {
    @consumer({ topic: 'book-pages' })
    class WordCount {
      @onRecord()
      count() {}
    }
    const definition = consumerOf(WordCount);
    expect(definition).toMatchObject({
      name: 'word-count',
      group: 'word-count',
      topic: 'book-pages',
      batchSize: 100,
      value: 'json',
      key: 'string',
      mode: 'record',
    });
  });

  test('given names and groups win', () => {
    expect(declare({ topic: 't', name: 'reader' })).toMatchObject({
      name: 'reader',
      group: 'reader',
    });
    expect(declare({ topic: 't', name: 'reader', group: 'readers-v2' })).toMatchObject({
      name: 'reader',
      group: 'readers-v2',
    });
  });

  test.each([
    ['WordCount', 'word-count'],
    ['PictureFinder', 'picture-finder'],
    ['HTTPSource', 'http-source'],
    ['Sensor2Reader', 'sensor2-reader'],
    ['plain', 'plain'],
  ])('kebabCase(%s) is %s', (name, kebab) => {
    expect(kebabCase(name)).toBe(kebab);
  });

  test.each([
    ['an unknown option', { topic: 't', batchsize: 10 }, /unknown option 'batchsize'/],
    ['no topic', {}, /has no topic/],
    ['an empty topic', { topic: '' }, /has no topic/],
    ['batchSize 0', { topic: 't', batchSize: 0 }, /batchSize 0 is outside/],
    ['batchSize 10001', { topic: 't', batchSize: 10_001 }, /batchSize 10001 is outside/],
    ['a fractional batchSize', { topic: 't', batchSize: 2.5 }, /batchSize/],
    ['an unknown value format', { topic: 't', value: 'avro' }, /value format 'avro'/],
    ['an unknown deploy option', { topic: 't', deploy: { memory: 512 } }, /deploy\.memory/],
    [
      'a record age under 60 s',
      { topic: 't', deploy: { maximumRecordAgeInSeconds: 30 } },
      /deploy\.maximumRecordAgeInSeconds 30 is outside Lambda's 60 to 604,800/,
    ],
    ['a name Lambda cannot take', { topic: 't', name: 'Word Count' }, /lower-case/],
    ['reads that is a function', { topic: 't', reads: () => ['k'] }, /reads must map table names/],
    [
      'reads of a key, not a function',
      { topic: 't', reads: { seen: 'id' } },
      /reads\.seen must be a function/,
    ],
    [
      'reads of a table name ctx.table refuses',
      { topic: 't', reads: { 'a|b': () => 'k' } },
      /reads\.a\|b: a table name/,
    ],
  ])('%s is a ConsumerDefinitionError', (_, options, message) => {
    const define = () => declare(options as ConsumerOptions);
    expect(define).toThrow(ConsumerDefinitionError);
    expect(define).toThrow(message);
  });

  test('batchSize 1 and 10000 are fine', () => {
    expect(declare({ topic: 't', batchSize: 1 }).batchSize).toBe(1);
    expect(declare({ topic: 't', batchSize: 10_000 }).batchSize).toBe(10_000);
  });

  test('a class with two handler methods is a ConsumerDefinitionError', () => {
    const twoRecords = () => {
      @consumer({ topic: 't' })
      class Twice {
        @onRecord()
        first() {}
        @onRecord()
        second() {}
      }
      return Twice;
    };
    expect(twoRecords).toThrow(ConsumerDefinitionError);
    expect(twoRecords).toThrow(/already handles records in first/);
    const recordAndBatch = () => {
      @consumer({ topic: 't' })
      class Both {
        @onRecord()
        one() {}
        @onBatch()
        all() {}
      }
      return Both;
    };
    expect(recordAndBatch).toThrow(ConsumerDefinitionError);
  });

  test('a class with no handler method is a ConsumerDefinitionError', () => {
    const none = () => {
      @consumer({ topic: 't' })
      class Idle {
        handle() {}
      }
      return Idle;
    };
    expect(none).toThrow(ConsumerDefinitionError);
    expect(none).toThrow(/Idle has no @onRecord\(\) or @onBatch\(\)/);
  });

  test('@onBatch makes a batch consumer', () => {
    @consumer({ topic: 't' })
    class Bulk {
      @onBatch()
      all() {}
    }
    expect(consumerOf(Bulk)?.mode).toBe('batch');
  });
});

describe('defineConsumer', () => {
  test('defines the same consumer as the decorator', () => {
    const options = { topic: 'book-pages', name: 'word-count', batchSize: 500, value: 'string' };
    @consumer(options as ConsumerOptions)
    class WordCount {
      @onRecord()
      count() {}
    }
    const decorated = consumerOf(WordCount)!;
    const defined = consumerOf(
      defineConsumer(
        { topic: 'book-pages', name: 'word-count', batchSize: 500, value: 'string' },
        () => {},
      ),
    )!;
    // Everything but the factory (and defineConsumer's marker symbol, which entries() skips).
    const { create: _a, ...a } = decorated;
    const { create: _b, ...b } = defined;
    expect(Object.fromEntries(Object.entries(b))).toEqual(Object.fromEntries(Object.entries(a)));
    expect(b).toMatchObject({ name: 'word-count', group: 'word-count', batchSize: 500 });
  });

  test('checks its options the same way', () => {
    expect(() => defineConsumer({ topic: 't', name: 'n', batchSize: 0 }, () => {})).toThrow(
      ConsumerDefinitionError,
    );
    expect(() =>
      defineConsumer({ topic: 't', name: 'n', colour: 'red' } as never, () => {}),
    ).toThrow(/unknown option 'colour'/);
    expect(() => defineConsumer({ topic: 't', name: 'n' }, 'nope' as never)).toThrow(
      ConsumerDefinitionError,
    );
    // `|` separates the parts of a state item's key; Lambda refuses it in a group id anyway.
    expect(() => defineConsumer({ topic: 't', name: 'n', group: 'a|b' }, () => {})).toThrow(
      "consumer n: group 'a|b' must be 1 to 200 letters, digits or - / : _ + = . @",
    );
    expect(defineConsumer({ topic: 't', name: 'n', group: 'team/orders@v2' }, () => {}).group).toBe(
      'team/orders@v2',
    );
  });

  test('a defined consumer and a decorated one handle the same records the same way', async () => {
    const records = ['a b', 'b c', 'c'].map((value, offset) => ({
      topic: 't',
      partition: 0,
      offset,
      value,
    }));
    const count = (record: KafkaRecord<string>, ctx: Context) => {
      for (const word of record.value?.split(' ') ?? []) ctx.table('words').add(word, 1);
    };
    @consumer({ topic: 't', value: 'string' })
    class Words {
      @onRecord()
      handle(record: KafkaRecord<string>, ctx: Context) {
        count(record, ctx);
      }
    }
    const defined = defineConsumer({ topic: 't', name: 'words', value: 'string' }, count);
    const a = await invoke(Words, records);
    const b = await invoke(defined, records);
    expect(await a.table('words')).toEqual({ a: 1, b: 2, c: 2 });
    expect(await b.table('words')).toEqual(await a.table('words'));
  });
});
