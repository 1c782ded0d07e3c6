import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DogearServerlessPlugin, type Serverless } from './plugin.ts';

const ARN = 'arn:aws:kafka:us-east-1:123456789012:cluster/events/abc-2';

class FrameworkError extends Error {
  constructor(
    message: string,
    readonly code?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Just enough of the framework's `serverless` object. */
function framework(serviceDir: string, custom: unknown, commands: string[]) {
  const schemas: object[] = [];
  const serverless: Serverless = {
    serviceDir,
    service: {
      service: 'books',
      provider: {
        name: 'aws',
        runtime: 'nodejs24.x',
        compiledCloudFormationTemplate: { Resources: {} },
      },
      custom: { dogear: custom },
      functions: {},
    },
    processedInput: { commands },
    getProvider: () => ({
      getStage: () => 'dev',
      getRegion: () => 'us-east-1',
      naming: { getLambdaLogicalId: (name: string) => `${name}LambdaFunction` },
    }),
    configSchemaHandler: { defineCustomProperties: (schema) => schemas.push(schema) },
    classes: { Error: FrameworkError },
  };
  return { serverless, schemas };
}

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

describe('DogearServerlessPlugin', () => {
  it('hooks in before packaging, before deploying a function, and after compiling events', () => {
    const { serverless, schemas } = framework('/srv', { msk: { arn: ARN } }, ['package']);
    const plugin = new DogearServerlessPlugin(serverless);
    expect(Object.keys(plugin.hooks)).toEqual([
      'initialize',
      'before:package:initialize',
      'before:deploy:function:initialize',
      'after:package:compileEvents',
    ]);
    expect(schemas).toHaveLength(1);
  });

  it("throws the framework's error class, naming the option", async () => {
    const { serverless } = framework('/srv', { msk: { arn: ARN }, tabel: {} }, ['package']);
    const plugin = new DogearServerlessPlugin(serverless);
    const error = await plugin.hooks['before:package:initialize']!().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FrameworkError);
    expect(error).toMatchObject({
      message: "dogear: Unknown option 'custom.dogear.tabel'; Did you mean 'table'?",
      code: 'DOGEAR_SERVERLESS_CONFIG_ERROR',
    });
    expect((error as Error).cause).toMatchObject({ option: 'custom.dogear.tabel' });
  });

  it('gives `logs` and `invoke` the functions of the last build', async () => {
    const dir = await builtService();
    const { serverless } = framework(dir, { msk: { name: 'events' } }, ['logs']);
    await new DogearServerlessPlugin(serverless).hooks.initialize!();
    expect(serverless.service.functions).toMatchObject({
      'word-count': { name: 'books-dev-word-count', events: [] },
    });
    expect(serverless.service.package?.patterns).toEqual(['!.dogear/**']);

    const other = framework(dir, { msk: { name: 'events' } }, ['print']);
    await new DogearServerlessPlugin(other.serverless).hooks.initialize!();
    expect(other.serverless.service.functions).toEqual({});
  });

  it('keeps logs as long as provider.logRetentionInDays says, unless custom.dogear says otherwise', async () => {
    const dir = await builtService();
    const retention = async (custom: object, provider: object) => {
      const { serverless } = framework(dir, { msk: { name: 'events' }, ...custom }, ['logs']);
      Object.assign(serverless.service.provider, provider);
      await new DogearServerlessPlugin(serverless).hooks.initialize!();
      const fn = serverless.service.functions?.['word-count'] as { logRetentionInDays?: number };
      return fn.logRetentionInDays;
    };
    expect(await retention({}, {})).toBe(30);
    expect(await retention({}, { logRetentionInDays: 14 })).toBe(14);
    expect(await retention({ logRetentionInDays: 60 }, { logRetentionInDays: 14 })).toBe(60);
  });
});

/** A service folder holding the manifest of a build of the word-count consumer. */
async function builtService(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dogear-plugin-'));
  dirs.push(dir);
  await mkdir(join(dir, '.dogear/build'), { recursive: true });
  await writeFile(
    join(dir, '.dogear/build/manifest.json'),
    JSON.stringify({
      version: 1,
      runtime: 'nodejs24.x',
      sdk: 'bundle',
      durationMs: 1,
      consumers: [
        {
          name: 'word-count',
          group: 'word-count',
          topic: 'book-pages',
          batchSize: 500,
          deploy: {},
          source: 'functions/word-count.ts',
          dir: '.dogear/build/word-count',
          handler: 'index.handler',
          bytes: 1,
          gzipBytes: 1,
          durationMs: 1,
        },
      ],
    }),
  );
  return dir;
}
