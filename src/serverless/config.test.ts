// biome-ignore-all lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub strings hold ${…} placeholders.
import { describe, expect, it } from 'vitest';
import {
  checkConsumerNames,
  deployOverrides,
  isIntrinsic,
  parseOptions,
  resolveDeploy,
} from './config.ts';
import { ServerlessConfigError } from './errors.ts';

const ARN =
  'arn:aws:kafka:us-east-1:123456789012:cluster/events/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-2';
const SECRET = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:AmazonMSK_events-Ab12Cd';

/** The error `fn` throws, checked to be a ServerlessConfigError. */
function configError(fn: () => unknown): ServerlessConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ServerlessConfigError);
    return error as ServerlessConfigError;
  }
  throw new Error('expected a ServerlessConfigError');
}

describe('parseOptions', () => {
  it('accepts a cluster by ARN, by intrinsic and by name', () => {
    expect(parseOptions({ msk: { arn: ARN } }).msk).toEqual({ arn: ARN });
    expect(parseOptions({ msk: { arn: { Ref: 'Cluster' } } }).msk?.arn).toEqual({ Ref: 'Cluster' });
    expect(parseOptions({ msk: { arn: { 'Fn::ImportValue': 'x-ClusterArn' } } }).msk).toBeDefined();
    expect(parseOptions({ msk: { name: 'events', scramSecretArn: SECRET } }).msk?.name).toBe(
      'events',
    );
  });

  it('names an unknown option, with the likely one', () => {
    expect(configError(() => parseOptions({ msk: { arn: ARN }, tabel: {} })).message).toBe(
      "Unknown option 'custom.dogear.tabel'; Did you mean 'table'?",
    );
    const error = configError(() => parseOptions({ msk: { arn: ARN }, x: 1 }));
    expect(error.message).toMatch(
      /^Unknown option 'custom\.dogear\.x'; known options are functions, sdk/,
    );
    expect(error.option).toBe('custom.dogear.x');
    expect(configError(() => parseOptions({ msk: { arn: ARN, topic: 'a' } })).message).toMatch(
      /^Unknown option 'custom\.dogear\.msk\.topic'/,
    );
    expect(
      configError(() => parseOptions({ msk: { arn: ARN }, defaults: { memory: 512 } })).message,
    ).toMatch(/^Unknown option 'custom\.dogear\.defaults\.memory'/);
  });

  it('names the consumer of a bad override', () => {
    const error = configError(() =>
      parseOptions({ msk: { arn: ARN }, consumers: { tally: { batchingWindow: 400 } } }),
    );
    expect(error.message).toBe(
      "Consumer tally: custom.dogear.consumers.tally.batchingWindow 400 is outside Lambda's 0 to 300 seconds",
    );
    expect(error).toMatchObject({
      consumer: 'tally',
      option: 'custom.dogear.consumers.tally.batchingWindow',
    });
    expect(
      configError(() => parseOptions({ msk: { arn: ARN }, consumers: { tally: { timer: 1 } } }))
        .message,
    ).toMatch(/^Consumer tally: Unknown option 'custom\.dogear\.consumers\.tally\.timer'/);
  });

  it('wants exactly one cluster, given one way', () => {
    expect(configError(() => parseOptions({})).message).toMatch(/names no cluster/);
    expect(configError(() => parseOptions(undefined)).message).toMatch(/^Missing 'custom\.dogear'/);
    expect(
      configError(() => parseOptions({ msk: { arn: ARN }, kafka: { bootstrapServers: ['a:1'] } }))
        .message,
    ).toMatch(/exclusive/);
    expect(configError(() => parseOptions({ msk: { arn: ARN, name: 'x' } })).option).toBe(
      'custom.dogear.msk.arn',
    );
    expect(configError(() => parseOptions({ msk: { arn: 'events' } })).message).toMatch(
      /custom\.dogear\.msk\.arn must be an MSK cluster ARN/,
    );
    // The framework names mappings after an import's name, so it must be a plain string.
    expect(() =>
      parseOptions({ msk: { arn: { 'Fn::ImportValue': { 'Fn::Sub': '${S}-Arn' } } } }),
    ).toThrow(/msk\.arn/);
  });

  it('wants the secret its auth needs when the cluster is given by ARN', () => {
    expect(configError(() => parseOptions({ msk: { arn: ARN, auth: 'SASL_SCRAM' } })).option).toBe(
      'custom.dogear.msk.scramSecretArn',
    );
    expect(configError(() => parseOptions({ msk: { arn: ARN, auth: 'TLS' } })).option).toBe(
      'custom.dogear.msk.clientCertificateSecretArn',
    );
    expect(
      configError(() =>
        parseOptions({ msk: { arn: ARN, auth: 'SASL_SCRAM', scramSecretArn: 'AmazonMSK_x' } }),
      ).message,
    ).toMatch(/Did you give the secret's name instead of its ARN\?/);
  });

  it('checks a self-managed cluster', () => {
    expect(
      configError(() => parseOptions({ kafka: { bootstrapServers: ['broker'] } })).option,
    ).toBe('custom.dogear.kafka.bootstrapServers');
    expect(
      configError(() =>
        parseOptions({
          kafka: {
            bootstrapServers: ['b:9096'],
            saslScram512SecretArn: SECRET,
            saslPlainSecretArn: SECRET,
          },
        }),
      ).message,
    ).toMatch(/exclusive/);
    expect(
      configError(() =>
        parseOptions({
          kafka: {
            bootstrapServers: ['b:9096'],
            vpc: { subnetIds: ['sg-1'], securityGroupIds: ['sg-1'] },
          },
        }),
      ).option,
    ).toBe('custom.dogear.kafka.vpc.subnetIds');
    const ok = parseOptions({
      kafka: {
        bootstrapServers: ['b:9096'],
        vpc: { subnetIds: [{ 'Fn::ImportValue': 'x' }], securityGroupIds: ['sg-1'] },
      },
    });
    expect(ok.kafka?.vpc?.subnetIds).toHaveLength(1);
  });

  it('checks the table', () => {
    expect(
      configError(() => parseOptions({ msk: { arn: ARN }, table: { name: 'a', arn: 'b' } }))
        .message,
    ).toMatch(/exclusive/);
    expect(
      configError(() => parseOptions({ msk: { arn: ARN }, table: { name: 'a b' } })).option,
    ).toBe('custom.dogear.table.name');
    expect(
      configError(() => parseOptions({ msk: { arn: ARN }, table: { arn: 'table/x' } })).option,
    ).toBe('custom.dogear.table.arn');
  });

  it('checks filter patterns and destinations', () => {
    expect(
      configError(() =>
        parseOptions({ msk: { arn: ARN }, defaults: { filterPatterns: ['{not json'] } }),
      ).option,
    ).toBe('custom.dogear.defaults.filterPatterns[0]');
    expect(
      configError(() => parseOptions({ msk: { arn: ARN }, defaults: { onFailure: 'orders-dlq' } }))
        .message,
    ).toMatch(/SQS queue, SNS topic or S3 bucket ARN, or kafka:\/\/<topic>/);
    expect(
      parseOptions({ msk: { arn: ARN }, defaults: { onFailure: 'kafka://dead-letters' } }),
    ).toBeDefined();
  });
});

describe('resolveDeploy', () => {
  const consumer = {
    name: 'tally',
    group: 'tally',
    topic: 'events',
    batchSize: 100,
    deploy: {},
    source: 'functions/tally.ts',
  };
  const options = { msk: { arn: ARN } };

  it("takes dogear's defaults", () => {
    expect(resolveDeploy(consumer, options)).toEqual({
      memorySize: 1024,
      timeout: 60,
      batchingWindow: 0,
      startingPosition: 'TRIM_HORIZON',
      filterPatterns: [],
      enabled: true,
      reportBatchItemFailures: false,
    });
  });

  it('turns on partial batch responses, bisect, a retry limit and a record age in provisioned mode', () => {
    const deploy = resolveDeploy(consumer, {
      ...options,
      defaults: {
        provisionedPollers: { minimum: 1 },
        reportBatchItemFailures: true,
        bisectBatchOnError: true,
        maximumRetryAttempts: 5,
        maximumRecordAgeInSeconds: 3600,
      },
    });
    expect(deploy).toMatchObject({
      reportBatchItemFailures: true,
      bisectBatchOnError: true,
      maximumRetryAttempts: 5,
      maximumRecordAgeInSeconds: 3600,
    });
  });

  it.each([
    ['maximumRetryAttempts', 5],
    ['maximumRecordAgeInSeconds', 3600],
    ['bisectBatchOnError', true],
    ['reportBatchItemFailures', true],
  ] as const)('refuses %s without provisioned pollers', (option, value) => {
    expect(() => resolveDeploy(consumer, { ...options, defaults: { [option]: value } })).toThrow(
      new RegExp(`Consumer tally: ${option} ${value} needs provisioned mode`),
    );
  });

  it('takes the values that ask for nothing, and SQS, SNS or S3 destinations, on demand', () => {
    const deploy = resolveDeploy(consumer, {
      ...options,
      defaults: {
        maximumRetryAttempts: -1,
        maximumRecordAgeInSeconds: -1,
        bisectBatchOnError: false,
        onFailure: 'arn:aws:sns:us-east-1:123456789012:failed',
      },
    });
    expect(deploy.provisionedPollers).toBeUndefined();
    expect(deploy.onFailure).toBe('arn:aws:sns:us-east-1:123456789012:failed');
  });

  it.each([59, 604_801, 0, -2, 1.5])('refuses a maximumRecordAgeInSeconds of %s', (age) => {
    expect(() =>
      resolveDeploy(
        {
          ...consumer,
          deploy: { provisionedPollers: { minimum: 1 }, maximumRecordAgeInSeconds: age },
        },
        options,
      ),
    ).toThrow(
      /maximumRecordAgeInSeconds .* is outside Lambda's 60 to 604,800 seconds \(or -1 for no limit\)/,
    );
  });

  it('layers custom defaults, the code, then the per-consumer overrides', () => {
    const deploy = resolveDeploy(
      { ...consumer, deploy: { memorySize: 2048, timeout: 30, filterPatterns: [{ key: ['a'] }] } },
      {
        ...options,
        defaults: { memorySize: 512, timeout: 10, batchingWindow: 5 },
        consumers: { tally: { timeout: 90 } },
      },
    );
    expect(deploy).toMatchObject({ memorySize: 2048, timeout: 90, batchingWindow: 5 });
    expect(deploy.filterPatterns).toEqual(['{"key":["a"]}']);
  });

  it('names the consumer and the option', () => {
    expect(() => resolveDeploy({ ...consumer, batchSize: 20_000 }, options)).toThrow(
      "Consumer tally: batchSize 20000 is outside Lambda's 1 to 10,000",
    );
    expect(() => resolveDeploy({ ...consumer, topic: '' }, options)).toThrow(
      /^Consumer tally: topic '' is not a Kafka topic name.*Did you forget \{ topic \} in consumer tally \(functions\/tally\.ts\)\?/,
    );
    expect(() => resolveDeploy({ ...consumer, group: 'all*' }, options)).toThrow(
      /Consumer tally: group 'all\*'/,
    );
    expect(() => resolveDeploy({ ...consumer, deploy: { batchingWindow: 301 } }, options)).toThrow(
      "Consumer tally: deploy.batchingWindow 301 is outside Lambda's 0 to 300 seconds",
    );
    expect(() =>
      resolveDeploy(consumer, { ...options, defaults: { startingPosition: 'AT_TIMESTAMP' } }),
    ).toThrow(/Consumer tally: startingPosition AT_TIMESTAMP needs startingPositionTimestamp/);
    expect(() =>
      resolveDeploy(
        { ...consumer, deploy: { provisionedPollers: { minimum: 5, maximum: 2 } } },
        options,
      ),
    ).toThrow(/provisionedPollers.minimum 5 is above provisionedPollers.maximum 2/);
  });
});

describe('resolveDeploy: schemaRegistry, where Lambda decodes', () => {
  const consumer = {
    name: 'readings',
    group: 'readings',
    topic: 'readings',
    batchSize: 100,
    deploy: {},
    source: 'functions/readings.ts',
  };
  const options = { msk: { arn: ARN } };
  const GLUE = 'arn:aws:glue:us-east-1:123456789012:registry/sensors';
  const pollers = { provisionedPollers: { minimum: 1 } };

  it('takes a Glue registry or a Confluent one in provisioned mode, validating the value unless told', () => {
    const glue = resolveDeploy(
      {
        ...consumer,
        deploy: { ...pollers, schemaRegistry: { uri: GLUE, eventRecordFormat: 'SOURCE' } },
      },
      options,
    );
    expect(glue.schemaRegistry).toEqual({
      uri: GLUE,
      eventRecordFormat: 'SOURCE',
      validate: ['VALUE'],
    });
    const confluent = resolveDeploy(consumer, {
      ...options,
      defaults: {
        ...pollers,
        schemaRegistry: {
          uri: 'https://psrc-abc12.us-east-2.aws.confluent.cloud',
          eventRecordFormat: 'JSON',
          accessConfigs: [{ type: 'BASIC_AUTH', uri: SECRET }],
          validate: ['KEY', 'VALUE'],
        },
      },
    });
    expect(confluent.schemaRegistry).toEqual({
      uri: 'https://psrc-abc12.us-east-2.aws.confluent.cloud',
      eventRecordFormat: 'JSON',
      accessConfigs: [{ type: 'BASIC_AUTH', uri: SECRET }],
      validate: ['KEY', 'VALUE'],
    });
  });

  it('leaves decoding to the function by default', () => {
    expect(resolveDeploy(consumer, options)).not.toHaveProperty('schemaRegistry');
  });

  it('refuses schemaRegistry without provisioned pollers, naming the consumer and the way out', () => {
    const error = configError(() =>
      resolveDeploy(
        { ...consumer, deploy: { schemaRegistry: { uri: GLUE, eventRecordFormat: 'JSON' } } },
        options,
      ),
    );
    expect(error.message).toBe(
      "Consumer readings: schemaRegistry needs provisioned mode, in which alone Lambda's event-source mapping takes a schema registry; Did you mean to add provisionedPollers (such as { minimum: 1 }, billed per poller), or to remove schemaRegistry and let the function decode (avro(), protobuf() or jsonSchema() from dogear/schema, which need no provisioned mode)?",
    );
    expect(error.option).toBe('schemaRegistry');
    expect(error.consumer).toBe('readings');
  });

  it.each([
    [
      { uri: 'glue:sensors', eventRecordFormat: 'JSON' },
      "custom.dogear.defaults.schemaRegistry.uri must be a Glue registry ARN (arn:aws:glue:<region>:<account>:registry/<name>) or a Confluent registry's URL (https://…), got 'glue:sensors'",
    ],
    [
      {
        uri: 'arn:aws:glue:us-east-1:123456789012:schema/sensors/readings',
        eventRecordFormat: 'JSON',
      },
      /schemaRegistry\.uri must be a Glue registry ARN .*got 'arn:aws:glue:us-east-1:123456789012:schema\/sensors\/readings'; Did you give a schema's ARN\? Lambda takes the registry's/,
    ],
    [
      { uri: GLUE, eventRecordFormat: 'AVRO' },
      "custom.dogear.defaults.schemaRegistry.eventRecordFormat must be one of JSON, SOURCE, got 'AVRO'",
    ],
    [{ uri: GLUE }, /schemaRegistry\.eventRecordFormat must be one of JSON, SOURCE, got undefined/],
    [
      { uri: GLUE, eventRecordFormat: 'JSON', recordFormat: 'JSON' },
      "Unknown option 'custom.dogear.defaults.schemaRegistry.recordFormat'; known options are uri, eventRecordFormat, accessConfigs, validate",
    ],
    [
      { uri: GLUE, eventRecordFormat: 'JSON', validat: ['KEY'] },
      "Unknown option 'custom.dogear.defaults.schemaRegistry.validat'; Did you mean 'validate'?",
    ],
    [
      {
        uri: GLUE,
        eventRecordFormat: 'JSON',
        accessConfigs: [{ type: 'BASIC_AUTH', uri: SECRET }],
      },
      /schemaRegistry\.accessConfigs are for a Confluent registry; Lambda reads a Glue registry as the function's role/,
    ],
    [
      {
        uri: 'https://registry.internal:8081',
        eventRecordFormat: 'JSON',
        accessConfigs: [{ type: 'SASL_SCRAM_512_AUTH', uri: SECRET }],
      },
      "custom.dogear.defaults.schemaRegistry.accessConfigs[0].type must be one of BASIC_AUTH, CLIENT_CERTIFICATE_TLS_AUTH, SERVER_ROOT_CA_CERTIFICATE, got 'SASL_SCRAM_512_AUTH'",
    ],
    [
      {
        uri: 'https://registry.internal:8081',
        eventRecordFormat: 'JSON',
        accessConfigs: [{ type: 'BASIC_AUTH', uri: 'registry-credentials' }],
      },
      /schemaRegistry\.accessConfigs\[0\]\.uri must be a Secrets Manager secret ARN .*got 'registry-credentials'/,
    ],
    [
      {
        uri: 'https://registry.internal:8081',
        eventRecordFormat: 'JSON',
        accessConfigs: [
          { type: 'BASIC_AUTH', uri: SECRET },
          { type: 'CLIENT_CERTIFICATE_TLS_AUTH', uri: SECRET },
          { type: 'SERVER_ROOT_CA_CERTIFICATE', uri: SECRET },
        ],
      },
      /schemaRegistry\.accessConfigs must be a list of at most 2/,
    ],
    [
      {
        uri: 'https://registry.internal:8081',
        eventRecordFormat: 'JSON',
        accessConfigs: [
          { type: 'BASIC_AUTH', uri: SECRET },
          { type: 'BASIC_AUTH', uri: SECRET },
        ],
      },
      'custom.dogear.defaults.schemaRegistry.accessConfigs[1].type BASIC_AUTH is given twice; a registry authenticates one way, with at most a root CA beside it',
    ],
    [
      { uri: GLUE, eventRecordFormat: 'JSON', validate: [] },
      /schemaRegistry\.validate must be KEY, VALUE or both, got \[\]/,
    ],
    [
      { uri: GLUE, eventRecordFormat: 'JSON', validate: ['VALUE', 'VALUE'] },
      /schemaRegistry\.validate must be KEY, VALUE or both, got \["VALUE","VALUE"\]/,
    ],
    [
      { uri: GLUE, eventRecordFormat: 'JSON', validate: 'VALUE' },
      /schemaRegistry\.validate must be KEY, VALUE or both, got 'VALUE'/,
    ],
  ])('refuses schemaRegistry %j', (schemaRegistry, message) => {
    expect(() => parseOptions({ ...options, defaults: { ...pollers, schemaRegistry } })).toThrow(
      message,
    );
  });

  it("checks a consumer's own schemaRegistry too, naming the consumer", () => {
    expect(() =>
      resolveDeploy(
        {
          ...consumer,
          deploy: { ...pollers, schemaRegistry: { uri: GLUE, eventRecordFormat: 'json' } },
        } as never,
        options,
      ),
    ).toThrow(
      "Consumer readings: deploy.schemaRegistry.eventRecordFormat must be one of JSON, SOURCE, got 'json'",
    );
  });
});

describe('deployOverrides', () => {
  it('sets defaults under the decorator and consumers.<name> over it, as resolveDeploy does', () => {
    const overrides = deployOverrides({
      msk: { arn: '${cf:dogear-msk.ClusterArn}' },
      defaults: { batchingWindow: 2, maximumRetryAttempts: 3, timeout: 30 },
      consumers: { 'word-count': { batchingWindow: 5 } },
    });
    const deploy = { maximumRetryAttempts: 1, bisectBatchOnError: true };
    expect(overrides({ name: 'word-count', deploy })).toEqual({
      batchingWindow: 5,
      maximumRetryAttempts: 1,
      bisectBatchOnError: true,
      timeout: 30,
    });
    expect(overrides({ name: 'thermometer', deploy: {} })).toEqual({
      batchingWindow: 2,
      maximumRetryAttempts: 3,
      timeout: 30,
    });
  });

  it('checks the options it reads, naming the consumer and option', () => {
    const error = configError(() =>
      deployOverrides({ consumers: { 'word-count': { batchingWindow: 301 } } }),
    );
    expect(error.message).toContain('consumers.word-count.batchingWindow 301 is outside Lambda');
  });

  it('keeps consumers.<name>.alarms out of the deploy options, and checks it', () => {
    const overrides = deployOverrides({
      consumers: { 'word-count': { batchingWindow: 5, alarms: { deadLetters: 3 } } },
    });
    expect(overrides({ name: 'word-count', deploy: {} })).toEqual({ batchingWindow: 5 });
    const error = configError(() =>
      deployOverrides({ consumers: { 'word-count': { alarms: { deadLetters: 0 } } } }),
    );
    expect(error.message).toContain(
      'custom.dogear.consumers.word-count.alarms.deadLetters must be a whole number of at least 1, got 0',
    );
  });
});

describe('checkConsumerNames', () => {
  it('names an override that matches no consumer', () => {
    expect(() =>
      checkConsumerNames({ consumers: { 'word-cont': {} } }, ['word-count', 'thermometer']),
    ).toThrow(
      "custom.dogear.consumers.word-cont names no consumer; Did you mean 'word-count'? The consumers are: word-count, thermometer",
    );
  });
});

describe('isIntrinsic', () => {
  it('knows Ref and Fn:: objects', () => {
    expect(isIntrinsic({ Ref: 'X' })).toBe(true);
    expect(isIntrinsic({ 'Fn::GetAtt': ['X', 'Arn'] })).toBe(true);
    expect(isIntrinsic({ Ref: 'X', Other: 1 })).toBe(false);
    expect(isIntrinsic('arn:aws:x')).toBe(false);
    expect(isIntrinsic([{ Ref: 'X' }])).toBe(false);
  });
});
