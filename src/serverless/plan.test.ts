// biome-ignore-all lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub strings hold ${…} placeholders.
import { describe, expect, it } from 'vitest';
import { builtConsumer } from '../../test/fixtures/built-consumer.ts';
import type { BuiltConsumer } from '../build/index.ts';
import { ServerlessConfigError } from './errors.ts';
import { providerRoleOf } from './iam.ts';
import { planService } from './plan.ts';
import type { ResolvedSource, ServiceContext } from './types.ts';

const ARN =
  'arn:aws:kafka:us-east-1:123456789012:cluster/events/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-2';

const built = builtConsumer;

const service: ServiceContext = {
  service: 'books',
  stage: 'test',
  artifactDir: '/srv/books/.serverless',
};
const msk: ResolvedSource = { kind: 'msk', arn: ARN, auth: 'IAM' };

describe('planService', () => {
  it('gives each consumer a function of its own bundle, and an msk event', () => {
    const plan = planService({
      manifest: {
        runtime: 'nodejs24.x',
        consumers: [
          built('word-count', { batchSize: 500 }),
          built('thermometer', { topic: 'temps' }),
        ],
      },
      options: { msk: { arn: ARN }, defaults: { memorySize: 512 } },
      source: msk,
      service,
    });
    expect(plan.consumers.map((c) => c.name)).toEqual(['word-count', 'thermometer']);
    expect(plan.consumers[0]!.function).toEqual({
      name: 'books-test-word-count',
      description: 'dogear consumer word-count: topic book-pages, group word-count',
      handler: '.dogear/build/word-count/index.handler',
      runtime: 'nodejs24.x',
      memorySize: 512,
      timeout: 60,
      environment: {
        DOGEAR_DYNAMODB_TABLE: 'books-test-state',
        DOGEAR_REPORT_BATCH_ITEM_FAILURES: 'false',
        NODE_OPTIONS: '--enable-source-maps',
      },
      package: { individually: true, artifact: '/srv/books/.serverless/word-count.zip' },
      role: 'DogearWordDashcountRole',
      logRetentionInDays: 30,
      events: [
        {
          msk: {
            arn: ARN,
            topic: 'book-pages',
            batchSize: 500,
            startingPosition: 'TRIM_HORIZON',
            consumerGroupId: 'word-count',
            enabled: true,
          },
        },
      ],
    });
    expect(plan.consumers[1]!.mapping).toEqual({
      EventSourceArn: ARN,
      AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: 'thermometer' },
      Topics: ['temps'],
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 0,
      Enabled: true,
      MetricsConfig: { Metrics: ['EventCount', 'ErrorCount', 'KafkaMetrics'] },
    });
    expect(Object.keys(plan.resources)).toEqual([
      'DogearStateTable',
      'DogearWordDashcountRole',
      'DogearThermometerRole',
    ]);
  });

  it('adds no roles when provider.iam.role names an existing role, and leaves functions to it', () => {
    const plan = planService({
      manifest: { runtime: 'nodejs24.x', consumers: [built('word-count')] },
      options: { msk: { arn: ARN } },
      source: msk,
      service,
      providerRole: providerRoleOf({ iam: { role: { 'Fn::GetAtt': ['Consumers', 'Arn'] } } }),
    });
    expect(Object.keys(plan.resources)).toEqual(['DogearStateTable']);
    expect(plan.consumers[0]!.function.role).toBeUndefined();
    expect(plan.consumers[0]!.statements.length).toBeGreaterThan(0);
  });

  it("carries provider.iam.role's statements, policies, boundary, path and tags to each role", () => {
    const statements = [
      { Effect: 'Allow', Action: ['s3:GetObject'], Resource: 'arn:aws:s3:::inputs/*' },
    ];
    const boundary = { 'Fn::Sub': 'arn:aws:iam::${AWS::AccountId}:policy/boundary' };
    const plan = planService({
      manifest: { runtime: 'nodejs24.x', consumers: [built('word-count'), built('thermometer')] },
      options: { msk: { arn: ARN } },
      source: msk,
      service,
      providerRole: providerRoleOf({
        iam: {
          role: {
            statements,
            managedPolicies: ['arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess'],
            permissionsBoundary: boundary,
            path: '/teams/books/',
            tags: { team: 'books' },
          },
        },
        tracing: { lambda: true },
        vpc: { subnetIds: ['subnet-1'], securityGroupIds: ['sg-1'] },
      }),
    });
    for (const consumer of plan.consumers) {
      const role = plan.resources[consumer.roleLogicalId]!;
      expect(consumer.function.role).toBe(consumer.roleLogicalId);
      expect(role.Properties).toMatchObject({
        ManagedPolicyArns: ['arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess'],
        PermissionsBoundary: boundary,
        Path: '/teams/books/',
        Tags: [{ Key: 'team', Value: 'books' }],
      });
      const policies = role.Properties!.Policies as Array<{
        PolicyName: string;
        PolicyDocument: { Statement: Array<{ Sid?: string }> };
      }>;
      expect(policies.map((p) => p.PolicyName)).toEqual([
        `dogear-${consumer.name}`,
        `dogear-${consumer.name}-provider`,
      ]);
      expect(policies[0]!.PolicyDocument.Statement.map((s) => s.Sid)).toEqual(
        expect.arrayContaining(['DogearStateTable', 'DogearFunctionNetwork', 'DogearXRay']),
      );
      // The user's own, as written: the framework's role would have held them.
      expect(policies[1]!.PolicyDocument.Statement).toEqual(statements);
    }
  });

  it('leaves the provisioned-only properties out of an on-demand mapping', () => {
    const plan = planService({
      manifest: {
        runtime: 'nodejs24.x',
        consumers: [
          built('tally', {
            // The values that ask for nothing pass the config check without pollers.
            deploy: {
              maximumRetryAttempts: -1,
              maximumRecordAgeInSeconds: -1,
              bisectBatchOnError: false,
            },
          }),
        ],
      },
      options: { msk: { arn: ARN } },
      source: msk,
      service,
    });
    const mapping = plan.consumers[0]!.mapping;
    expect(mapping).not.toHaveProperty('ProvisionedPollerConfig');
    expect(mapping).not.toHaveProperty('MaximumRetryAttempts');
    expect(mapping).not.toHaveProperty('MaximumRecordAgeInSeconds');
    expect(mapping).not.toHaveProperty('BisectBatchOnFunctionError');
    expect(mapping).not.toHaveProperty('FunctionResponseTypes');
  });

  it('sets what the framework event lacks on the mapping', () => {
    const plan = planService({
      manifest: {
        runtime: 'nodejs24.x',
        consumers: [
          built('audit', {
            deploy: {
              batchingWindow: 30,
              startingPosition: 'AT_TIMESTAMP',
              startingPositionTimestamp: 1_750_000_000,
              filterPatterns: ['{"value":{"type":["order"]}}'],
              provisionedPollers: { minimum: 2, maximum: 10 },
              onFailure: 'arn:aws:sns:us-east-1:123456789012:audit-failures',
              enabled: false,
              reportBatchItemFailures: true,
              bisectBatchOnError: true,
              maximumRetryAttempts: 3,
            },
          }),
        ],
      },
      options: { msk: { arn: ARN } },
      source: {
        kind: 'msk',
        arn: ARN,
        auth: 'TLS',
        secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:client-cert-AbCd',
      },
      service,
    });
    const [audit] = plan.consumers;
    expect(audit!.function.events[0]).toEqual({
      msk: {
        arn: ARN,
        topic: 'book-pages',
        batchSize: 100,
        maximumBatchingWindow: 30,
        startingPosition: 'AT_TIMESTAMP',
        startingPositionTimestamp: 1_750_000_000,
        consumerGroupId: 'audit',
        enabled: false,
      },
    });
    expect(audit!.mapping).toMatchObject({
      MaximumBatchingWindowInSeconds: 30,
      StartingPositionTimestamp: 1_750_000_000,
      Enabled: false,
      SourceAccessConfigurations: [
        {
          Type: 'CLIENT_CERTIFICATE_TLS_AUTH',
          URI: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:client-cert-AbCd',
        },
      ],
      FilterCriteria: { Filters: [{ Pattern: '{"value":{"type":["order"]}}' }] },
      ProvisionedPollerConfig: { MinimumPollers: 2, MaximumPollers: 10 },
      DestinationConfig: {
        OnFailure: { Destination: 'arn:aws:sns:us-east-1:123456789012:audit-failures' },
      },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 3,
    });
    // The handler must answer in the shape the mapping now reads.
    expect(audit!.function.environment.DOGEAR_REPORT_BATCH_ITEM_FAILURES).toBe('true');
  });

  it('maps a self-managed cluster, prefixing subnets and security groups', () => {
    const kafka = {
      bootstrapServers: ['b-1:9096'],
      saslScram256SecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-Ab12',
      vpc: {
        subnetIds: ['subnet-1', { 'Fn::ImportValue': 'net-SubnetB' }],
        securityGroupIds: ['sg-1'],
      },
    };
    const plan = planService({
      manifest: { runtime: 'nodejs22.x', consumers: [built('audit', { group: 'audit-v2' })] },
      options: { kafka },
      source: { kind: 'kafka', kafka },
      service,
    });
    const [audit] = plan.consumers;
    expect(audit!.function.runtime).toBe('nodejs22.x');
    expect(audit!.function.events[0]).toEqual({
      kafka: {
        bootstrapServers: ['b-1:9096'],
        accessConfigurations: {
          vpcSubnet: ['subnet-1', { 'Fn::ImportValue': 'net-SubnetB' }],
          vpcSecurityGroup: ['sg-1'],
          saslScram256Auth: ['arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-Ab12'],
        },
        topic: 'book-pages',
        batchSize: 100,
        startingPosition: 'TRIM_HORIZON',
        consumerGroupId: 'audit-v2',
        enabled: true,
      },
    });
    expect(audit!.mapping).toMatchObject({
      SelfManagedEventSource: { Endpoints: { KafkaBootstrapServers: ['b-1:9096'] } },
      SelfManagedKafkaEventSourceConfig: { ConsumerGroupId: 'audit-v2' },
      SourceAccessConfigurations: [
        { Type: 'VPC_SUBNET', URI: 'subnet:subnet-1' },
        {
          Type: 'VPC_SUBNET',
          URI: { 'Fn::Join': ['', ['subnet:', { 'Fn::ImportValue': 'net-SubnetB' }]] },
        },
        { Type: 'VPC_SECURITY_GROUP', URI: 'security_group:sg-1' },
        {
          Type: 'SASL_SCRAM_256_AUTH',
          URI: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-Ab12',
        },
      ],
    });
    expect(audit!.mapping).not.toHaveProperty('EventSourceArn');
  });

  it('refuses two consumers with one name or one group, and a name serverless.yml uses', () => {
    const options = { msk: { arn: ARN } };
    const manifest = (consumers: BuiltConsumer[]) => ({ runtime: 'nodejs24.x', consumers });
    expect(() =>
      planService({
        manifest: manifest([built('a'), built('a', { group: 'b' })]),
        options,
        source: msk,
        service,
      }),
    ).toThrow(/Consumers a \(functions\/a\.ts\) and a \(functions\/a\.ts\) share the name 'a'/);
    expect(() =>
      planService({
        manifest: manifest([built('a'), built('b', { group: 'a' })]),
        options,
        source: msk,
        service,
      }),
    ).toThrow(/share the group 'a'/);
    expect(() =>
      planService({
        manifest: manifest([built('a')]),
        options,
        source: msk,
        service,
        existingFunctions: ['a'],
      }),
    ).toThrow(ServerlessConfigError);
  });

  it('plans functions without events when no source is given', () => {
    const plan = planService({
      manifest: { runtime: 'nodejs24.x', consumers: [built('a')] },
      options: { msk: { name: 'events' } },
      service,
    });
    expect(plan.consumers[0]!.function.events).toEqual([]);
    expect(plan.consumers[0]!.statements.map((s) => s.Sid)).toEqual([
      'DogearLogs',
      'DogearStateTable',
    ]);
  });
});

describe('planService: schema registries', () => {
  const GLUE = 'arn:aws:glue:us-east-1:123456789012:registry/sensors';
  const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:registry-AbCdEf';
  const KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
  const plan = (consumer: BuiltConsumer, source: ResolvedSource = msk) =>
    planService({
      manifest: { runtime: 'nodejs24.x', consumers: [consumer] },
      options: source.kind === 'msk' ? { msk: { arn: ARN } } : { kafka: source.kafka },
      source,
      service,
    });
  const sids = (p: ReturnType<typeof plan>) =>
    Object.fromEntries(p.consumers[0]!.statements.map((s) => [s.Sid, s]));

  it("sets a Glue registry in the MSK mapping's SchemaRegistryConfig, and lets the role read it", () => {
    const p = plan(
      built('readings', {
        deploy: {
          provisionedPollers: { minimum: 1 },
          onFailure: 'arn:aws:sqs:us-east-1:123456789012:readings-dlq',
          schemaRegistry: { uri: GLUE, eventRecordFormat: 'SOURCE', validate: ['KEY', 'VALUE'] },
        },
      }),
    );
    expect(p.consumers[0]!.mapping.AmazonManagedKafkaEventSourceConfig).toEqual({
      ConsumerGroupId: 'readings',
      SchemaRegistryConfig: {
        SchemaRegistryURI: GLUE,
        EventRecordFormat: 'SOURCE',
        SchemaValidationConfigs: [{ Attribute: 'KEY' }, { Attribute: 'VALUE' }],
      },
    });
    const sid = sids(p);
    expect(sid.DogearSchemaRegistry).toEqual({
      Sid: 'DogearSchemaRegistry',
      Effect: 'Allow',
      Action: ['glue:GetRegistry'],
      Resource: [GLUE],
    });
    expect(sid.DogearSchemaRegistryVersions).toEqual({
      Sid: 'DogearSchemaRegistryVersions',
      Effect: 'Allow',
      Action: ['glue:GetSchemaVersion'],
      Resource: [GLUE, 'arn:aws:glue:us-east-1:123456789012:schema/sensors/*'],
    });
    expect(sid.DogearSchemaRegistrySecrets).toBeUndefined();
    expect(p.warnings ?? []).toEqual([]);
  });

  it("sets a Confluent registry in the self-managed mapping, with its secrets readable and their key's decrypt", () => {
    const kafka = { bootstrapServers: ['b-1:9092'], secretsKmsKeyArn: KEY };
    const p = plan(
      built('readings', {
        deploy: {
          provisionedPollers: { minimum: 1, maximum: 2 },
          onFailure: 'kafka://readings-dlt',
          schemaRegistry: {
            uri: 'https://registry.kafka.internal:8081',
            eventRecordFormat: 'JSON',
            accessConfigs: [
              { type: 'BASIC_AUTH', uri: SECRET },
              { type: 'SERVER_ROOT_CA_CERTIFICATE', uri: `${SECRET}-ca` },
            ],
          },
        },
      }),
      { kind: 'kafka', kafka },
    );
    expect(p.consumers[0]!.mapping.SelfManagedKafkaEventSourceConfig).toEqual({
      ConsumerGroupId: 'readings',
      SchemaRegistryConfig: {
        SchemaRegistryURI: 'https://registry.kafka.internal:8081',
        EventRecordFormat: 'JSON',
        AccessConfigs: [
          { Type: 'BASIC_AUTH', URI: SECRET },
          { Type: 'SERVER_ROOT_CA_CERTIFICATE', URI: `${SECRET}-ca` },
        ],
        SchemaValidationConfigs: [{ Attribute: 'VALUE' }],
      },
    });
    const sid = sids(p);
    expect(sid.DogearSchemaRegistrySecrets).toEqual({
      Sid: 'DogearSchemaRegistrySecrets',
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue'],
      Resource: [SECRET, `${SECRET}-ca`],
    });
    // The cluster itself needs no secret here: the key is granted for the registry's alone.
    expect(sid.DogearKafkaSecrets).toBeUndefined();
    expect(sid.DogearKafkaSecretsKey?.Resource).toEqual([KEY]);
    expect(sid.DogearSchemaRegistry).toBeUndefined();
    expect(sid.DogearSchemaRegistryVersions).toBeUndefined();
  });

  it('warns that Lambda drops the records it cannot decode when there is no onFailure', () => {
    const p = plan(
      built('readings', {
        deploy: {
          provisionedPollers: { minimum: 1 },
          schemaRegistry: { uri: GLUE, eventRecordFormat: 'JSON' },
        },
      }),
    );
    expect(p.warnings).toEqual([
      'dogear: consumer readings: Lambda decodes its records (schemaRegistry) and has no onFailure, so a record Lambda cannot decode or whose schema it cannot find is dropped before the function sees it; add onFailure (an SQS, SNS or S3 ARN, or kafka://<topic>) to keep them',
    ]);
  });

  it("grants in-function Glue decoding glue:GetSchemaVersion on the codec's registry, else the account's, never *", () => {
    const named = sids(
      plan(
        built('readings', {
          schemaRegistries: [
            {
              field: 'value',
              wire: 'glue',
              name: 'glue us-east-1 registry sensors',
              registryName: 'sensors',
            },
            {
              field: 'key',
              wire: 'glue',
              name: 'glue us-east-1 registry sensors',
              registryName: 'sensors',
            },
          ],
        }),
      ),
    );
    expect(named.DogearGlueSchemas).toEqual({
      Sid: 'DogearGlueSchemas',
      Effect: 'Allow',
      Action: ['glue:GetSchemaVersion'],
      Resource: [
        {
          'Fn::Sub': 'arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:registry/sensors',
        },
        {
          'Fn::Sub': 'arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:schema/sensors/*',
        },
      ],
    });
    const unnamed = sids(
      plan(
        built('readings', {
          schemaRegistries: [
            { field: 'value', wire: 'glue', name: 'glue us-east-1' },
            { field: 'key', wire: 'confluent', name: 'https://registry:8081' },
          ],
        }),
      ),
    );
    expect(unnamed.DogearGlueSchemas?.Resource).toEqual([
      { 'Fn::Sub': 'arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:registry/*' },
      { 'Fn::Sub': 'arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:schema/*/*' },
    ]);
  });

  it("grants a Confluent codec's credentials secret secretsmanager:GetSecretValue on that secret only", () => {
    const secret = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:registry-AbCdEf';
    const named = sids(
      plan(
        built('readings', {
          schemaRegistries: [
            { field: 'value', wire: 'confluent', name: 'https://registry:8081', secretArn: secret },
          ],
        }),
      ),
    );
    expect(named.DogearRegistryCredentials).toEqual({
      Sid: 'DogearRegistryCredentials',
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue'],
      Resource: [secret],
    });
  });

  it('changes nothing for a consumer that decodes without Glue and leaves Lambda out of it', () => {
    const p = plan(
      built('readings', {
        schemaRegistries: [{ field: 'value', wire: 'confluent', name: 'https://registry:8081' }],
      }),
    );
    expect(p.consumers[0]!.mapping.AmazonManagedKafkaEventSourceConfig).toEqual({
      ConsumerGroupId: 'readings',
    });
    const actions = p.consumers[0]!.statements.flatMap((s) => s.Action);
    expect(actions.filter((a) => a.startsWith('glue:') || a.startsWith('secretsmanager:'))).toEqual(
      [],
    );
    expect(p.warnings ?? []).toEqual([]);
  });
});

describe('planService for consumers that emit or dead-letter', () => {
  const SCRAM = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:AmazonMSK_x-AbCdEf';
  const CA = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:kafka-ca-AbCdEf';
  const kafka = (extra: Record<string, unknown> = {}): ResolvedSource => ({
    kind: 'kafka',
    kafka: { bootstrapServers: ['b-1.kafka.internal:9096'], ...extra },
  });
  const planOf = (
    consumer: BuiltConsumer,
    source: ResolvedSource = msk,
    providerRole = providerRoleOf({}),
  ) =>
    planService({
      manifest: { runtime: 'nodejs24.x', consumers: [consumer] },
      options: source.kind === 'msk' ? { msk: { arn: ARN } } : { kafka: source.kafka },
      source,
      service,
      providerRole,
    });
  const env = (p: ReturnType<typeof planOf>) => p.consumers[0]!.function.environment;
  const emitting = built('thermometer', { emits: ['temperature-alerts'] });

  it("tells the relay how the mapping authenticates: MSK's IAM, SCRAM with its secret", () => {
    expect(env(planOf(emitting))).toMatchObject({ DOGEAR_KAFKA_AUTH: 'IAM' });
    expect(env(planOf(emitting))).not.toHaveProperty('DOGEAR_KAFKA_SECRET_ARN');
    expect(
      env(planOf(emitting, { kind: 'msk', arn: ARN, auth: 'SASL_SCRAM', secretArn: SCRAM })),
    ).toMatchObject({
      DOGEAR_KAFKA_AUTH: 'SASL_SCRAM',
      DOGEAR_KAFKA_SECRET_ARN: SCRAM,
      DOGEAR_KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
    });
  });

  it("reads self-managed Kafka's auth from its access configuration", () => {
    expect(
      env(planOf(emitting, kafka({ saslScram256SecretArn: SCRAM, serverRootCaSecretArn: CA }))),
    ).toMatchObject({
      DOGEAR_KAFKA_AUTH: 'SASL_SCRAM',
      DOGEAR_KAFKA_SECRET_ARN: SCRAM,
      DOGEAR_KAFKA_SASL_MECHANISM: 'SCRAM-SHA-256',
      DOGEAR_KAFKA_ROOT_CA_SECRET_ARN: CA,
    });
    expect(env(planOf(emitting, kafka({ clientCertificateSecretArn: SCRAM })))).toMatchObject({
      DOGEAR_KAFKA_AUTH: 'TLS',
      DOGEAR_KAFKA_SECRET_ARN: SCRAM,
    });
    expect(env(planOf(emitting, kafka()))).toMatchObject({ DOGEAR_KAFKA_AUTH: 'UNAUTHENTICATED' });
  });

  it('a Kafka dead-letter topic needs the relay too; SQS and S3 dead letters and plain consumers do not', () => {
    const toTopic = built('thermometer', { deadLetter: { after: 3, to: 'readings.dead-letters' } });
    expect(env(planOf(toTopic))).toMatchObject({ DOGEAR_KAFKA_AUTH: 'IAM' });
    const toQueue = built('thermometer', {
      deadLetter: { after: 3, to: 'arn:aws:sqs:us-east-1:123456789012:readings-dlq' },
    });
    for (const consumer of [toQueue, built('thermometer')]) {
      expect(
        Object.keys(env(planOf(consumer))).filter((k) => k.startsWith('DOGEAR_KAFKA')),
      ).toEqual([]);
    }
    expect(
      planOf(toQueue).consumers[0]!.statements.find((s) => s.Sid === 'DogearDeadLetterSqs')
        ?.Resource,
    ).toEqual(['arn:aws:sqs:us-east-1:123456789012:readings-dlq']);
  });

  it('grants the role what the relay writes', () => {
    const statements = planOf(emitting).consumers[0]!.statements;
    expect(statements.find((s) => s.Sid === 'DogearRelayTopics')?.Resource).toEqual([
      'arn:aws:kafka:us-east-1:123456789012:topic/events/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-2/temperature-alerts',
    ]);
  });

  it('fails, naming the consumer, when the relay would have to sign in with SASL/PLAIN', () => {
    expect(() => planOf(emitting, kafka({ saslPlainSecretArn: SCRAM }))).toThrow(
      /Consumer thermometer writes Kafka \(emits temperature-alerts\), and custom\.dogear\.kafka authenticates with SASL\/PLAIN/,
    );
    // Without outputs, SASL/PLAIN is the mapping's business only.
    expect(() => planOf(built('thermometer'), kafka({ saslPlainSecretArn: SCRAM }))).not.toThrow();
  });

  it('warns that a function outside a VPC cannot reach MSK to relay; not with provider.vpc', () => {
    expect(planOf(emitting).warnings).toEqual([
      expect.stringMatching(
        /^dogear: consumer thermometer writes Kafka \(emits temperature-alerts\) from its function, which is not in a VPC \(provider\.vpc\)/,
      ),
    ]);
    const inVpc = providerRoleOf({ vpc: { subnetIds: ['subnet-1'], securityGroupIds: ['sg-1'] } });
    expect(planOf(emitting, msk, inVpc).warnings ?? []).toEqual([]);
    expect(planOf(built('thermometer')).warnings ?? []).toEqual([]);
  });

  it('warns when Lambda would discard the batch (onFailure) before deadLetter.after counts the record out', () => {
    const consumer = (deploy: BuiltConsumer['deploy'], after: number) =>
      built('thermometer', {
        deploy,
        deadLetter: { after, to: 'arn:aws:sqs:us-east-1:123456789012:readings-dlq' },
      });
    const onFailure = 'arn:aws:sqs:us-east-1:123456789012:batches';
    // With an on-failure destination and unlimited retries, Lambda retries a batch 10 times.
    expect(planOf(consumer({ onFailure }, 12)).warnings).toEqual([
      expect.stringMatching(
        /^dogear: consumer thermometer: deadLetter\.after 12 is more than the 11 deliveries Lambda makes of a failing batch before it discards the whole batch/,
      ),
    ]);
    expect(planOf(consumer({ onFailure }, 11)).warnings ?? []).toEqual([]);
    const retries = { onFailure, provisionedPollers: { minimum: 1 }, maximumRetryAttempts: 2 };
    expect(planOf(consumer(retries, 4)).warnings).toEqual([
      expect.stringContaining('deadLetter.after 4 is more than the 3 deliveries'),
    ]);
    expect(
      planOf(consumer({ provisionedPollers: { minimum: 1 }, maximumRetryAttempts: 0 }, 2)).warnings,
    ).toEqual([expect.stringContaining('deadLetter.after 2 is more than the 1 deliveries')]);
    // Without onFailure or a retry limit Lambda retries until the record expires.
    expect(planOf(consumer({}, 100)).warnings ?? []).toEqual([]);
  });
});
