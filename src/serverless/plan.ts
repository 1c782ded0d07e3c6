import { join, posix, sep } from 'node:path';
import type { BuildManifest, BuiltConsumer } from '../build/index.ts';
import {
  checkConsumerNames,
  DEFAULT_LOG_RETENTION_DAYS,
  isIntrinsic,
  resolveAlarms,
  resolveDeploy,
} from './config.ts';
import { ServerlessConfigError } from './errors.ts';
import {
  consumerRole,
  consumerStatements,
  deadLetterKind,
  providerRoleOf,
  relayTopics,
  roleLogicalId,
} from './iam.ts';
import { planTable } from './table.ts';
import type {
  CfnValue,
  CloudFormationTemplate,
  ConsumerPlan,
  DogearServerlessOptions,
  FunctionDefinition,
  KafkaOptions,
  ProviderRole,
  ResolvedDeploy,
  ResolvedSchemaRegistry,
  ResolvedSource,
  ServiceContext,
  ServicePlan,
} from './types.ts';

export interface PlanInput {
  readonly manifest: Pick<BuildManifest, 'consumers' | 'runtime'>;
  readonly options: DogearServerlessOptions;
  /**
   * The cluster, with a name already resolved to its ARN and auth. Without it the functions have
   * no events: enough for commands that only need their names (`logs`, `invoke`, `info`).
   */
  readonly source?: ResolvedSource;
  readonly service: ServiceContext;
  /** Functions serverless.yml declares itself: a consumer may not take one's name. */
  readonly existingFunctions?: readonly string[];
  /**
   * What serverless.yml's provider section asks of the functions' role (`providerRoleOf`). By
   * default, and unless it names an existing role (which the functions are then left to), each
   * consumer gets a role of its own, carrying over the provider's statements, managed policies,
   * boundary, path and tags, and what a VPC or tracing needs.
   */
  readonly providerRole?: ProviderRole;
}

/**
 * Turns the build's manifest and `custom.dogear` into what the service gains: one function per
 * consumer with its event, the mapping properties to set after the framework compiles the event,
 * the state table, and the IAM statements. Pure: no framework, no AWS.
 */
export function planService(input: PlanInput): ServicePlan {
  const { manifest, options, source, service } = input;
  const consumers = manifest.consumers;
  for (const key of ['name', 'group'] as const) {
    const seen = new Map<string, BuiltConsumer>();
    for (const c of consumers) {
      const other = seen.get(c[key]);
      if (other) {
        throw new ServerlessConfigError(
          `Consumers ${other.name} (${other.source}) and ${c.name} (${c.source}) share the ${key} '${c[key]}'; give one of them its own ${key}`,
          { option: key, consumer: c.name },
        );
      }
      seen.set(c[key], c);
    }
  }
  for (const c of consumers) {
    if (input.existingFunctions?.includes(c.name)) {
      throw new ServerlessConfigError(
        `Consumer ${c.name} (${c.source}) has the name of a function serverless.yml declares; rename one of them`,
        { option: `functions.${c.name}`, consumer: c.name },
      );
    }
  }
  checkConsumerNames(
    options,
    consumers.map((c) => c.name),
  );

  const table = planTable(options.table, service);
  const provider = input.providerRole ?? providerRoleOf({});
  const resources: CloudFormationTemplate['Resources'] = { ...table.resources };
  const logRetentionInDays = options.logRetentionInDays ?? DEFAULT_LOG_RETENTION_DAYS;
  const plans = consumers.map((consumer): ConsumerPlan => {
    const deploy = resolveDeploy(consumer, options);
    const fn = functionDefinition(consumer, deploy, {
      runtime: manifest.runtime,
      tableName: table.name,
      source,
      service,
      logRetentionInDays,
    });
    const statements = consumerStatements(
      {
        name: consumer.name,
        functionName: fn.name,
        topic: consumer.topic,
        group: consumer.group,
        ...(deploy.onFailure !== undefined ? { onFailure: deploy.onFailure } : {}),
        vpc: provider.vpc,
        tracing: provider.tracing,
        ...(deploy.schemaRegistry ? { schemaRegistry: deploy.schemaRegistry } : {}),
        ...(consumer.schemaRegistries ? { codecRegistries: consumer.schemaRegistries } : {}),
        ...(consumer.emits ? { emits: consumer.emits } : {}),
        ...(consumer.deadLetter ? { deadLetter: consumer.deadLetter } : {}),
      },
      source,
      table.arn,
    );
    const roleId = roleLogicalId(consumer.name);
    if (!provider.existing) {
      resources[roleId] = consumerRole(consumer, statements, provider);
      fn.role = roleId;
    }
    return {
      name: consumer.name,
      group: consumer.group,
      topic: consumer.topic,
      deploy,
      function: fn,
      mapping: source ? mappingProperties(consumer, deploy, source) : {},
      roleLogicalId: roleId,
      statements,
      alarms: resolveAlarms(consumer.name, options),
      emits: consumer.emits ?? [],
      ...(consumer.deadLetter ? { deadLetter: consumer.deadLetter } : {}),
    };
  });
  const warnings = plans.flatMap((plan) =>
    plan.deploy.schemaRegistry && !plan.deploy.onFailure
      ? [
          `dogear: consumer ${plan.name}: Lambda decodes its records (schemaRegistry) and has no onFailure, so a record Lambda cannot decode or whose schema it cannot find is dropped before the function sees it; add onFailure (an SQS, SNS or S3 ARN, or kafka://<topic>) to keep them`,
        ]
      : [],
  );
  for (const plan of plans) {
    const after = plan.deadLetter?.after;
    const deliveries = deliveriesBeforeDiscard(plan.deploy);
    if (after === undefined || after <= deliveries) continue;
    warnings.push(
      `dogear: consumer ${plan.name}: deadLetter.after ${after} is more than the ${deliveries} deliveries Lambda makes of a failing batch before it discards the whole batch, good records with it${plan.deploy.onFailure ? ' (to onFailure)' : ''}, so a record that keeps failing would never reach the dead letters; set deadLetter.after to ${deliveries} or less, or raise maximumRetryAttempts (see docs/operations.md)`,
    );
  }
  if (source && !provider.vpc && (source.kind === 'msk' || source.kafka.vpc)) {
    for (const consumer of consumers) {
      if (relayTopics(consumer).length === 0) continue;
      const where =
        source.kind === 'msk'
          ? "MSK's brokers are reachable only inside the cluster's VPC (unless the cluster has public access turned on)"
          : 'the brokers are reachable only inside custom.dogear.kafka.vpc';
      warnings.push(
        `dogear: consumer ${consumer.name} writes Kafka (${kafkaWrites(consumer)}) from its function, which is not in a VPC (provider.vpc): ${where}, so its relay cannot deliver and each invocation with outputs fails and is retried; put the functions in that VPC (provider.vpc with subnetIds and securityGroupIds), with routes to DynamoDB and Secrets Manager (see docs/deploy.md)`,
      );
    }
  }
  return {
    consumers: plans,
    resources,
    outputs: table.outputs,
    ...(warnings.length ? { warnings } : {}),
  };
}

/**
 * How many times Lambda delivers a batch that keeps failing before it discards it: the first
 * delivery and `maximumRetryAttempts` retries; with unlimited retries and an on-failure
 * destination Lambda applies 10 retries
 * (https://docs.aws.amazon.com/lambda/latest/dg/kafka-retry-configurations.html); with neither,
 * it retries until the records expire.
 */
function deliveriesBeforeDiscard(deploy: ResolvedDeploy): number {
  const retries = deploy.maximumRetryAttempts ?? -1;
  if (retries >= 0) return retries + 1;
  return deploy.onFailure ? 11 : Number.POSITIVE_INFINITY;
}

/** What a consumer writes to Kafka itself, for messages: `emits a, b; dead letters to c`. */
function kafkaWrites(consumer: Pick<BuiltConsumer, 'emits' | 'deadLetter'>): string {
  const parts = consumer.emits?.length ? [`emits ${consumer.emits.join(', ')}`] : [];
  const to = consumer.deadLetter?.to;
  if (to !== undefined && deadLetterKind(to) === 'kafka') parts.push(`dead letters to ${to}`);
  return parts.join('; ');
}

/**
 * How the function's relay connects to the cluster, for a consumer that writes Kafka (outputs, or
 * dead letters to a topic): as the mapping authenticates, read from the same settings. The
 * brokers come from each event's `bootstrapServers`, and the region from Lambda's `AWS_REGION`.
 */
function relayEnvironment(
  consumer: BuiltConsumer,
  source: ResolvedSource | undefined,
): Record<string, CfnValue> {
  if (!source || relayTopics(consumer).length === 0) return {};
  if (source.kind === 'msk') {
    return {
      DOGEAR_KAFKA_AUTH: source.auth,
      ...(source.secretArn !== undefined ? { DOGEAR_KAFKA_SECRET_ARN: source.secretArn } : {}),
      // MSK's SASL/SCRAM is SCRAM-SHA-512 only.
      ...(source.auth === 'SASL_SCRAM' ? { DOGEAR_KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512' } : {}),
    };
  }
  const k = source.kafka;
  if (k.saslPlainSecretArn !== undefined) {
    throw new ServerlessConfigError(
      `Consumer ${consumer.name} writes Kafka (${kafkaWrites(consumer)}), and custom.dogear.kafka authenticates with SASL/PLAIN (saslPlainSecretArn), which dogear's relay does not sign in with; use SASL/SCRAM (saslScram512SecretArn or saslScram256SecretArn) or mutual TLS (clientCertificateSecretArn), or send dead letters to SQS or S3`,
      { option: 'custom.dogear.kafka.saslPlainSecretArn', consumer: consumer.name },
    );
  }
  const scram = k.saslScram512SecretArn ?? k.saslScram256SecretArn;
  const auth: Record<string, CfnValue> =
    scram !== undefined
      ? {
          DOGEAR_KAFKA_AUTH: 'SASL_SCRAM',
          DOGEAR_KAFKA_SECRET_ARN: scram,
          DOGEAR_KAFKA_SASL_MECHANISM:
            k.saslScram512SecretArn !== undefined ? 'SCRAM-SHA-512' : 'SCRAM-SHA-256',
        }
      : k.clientCertificateSecretArn !== undefined
        ? { DOGEAR_KAFKA_AUTH: 'TLS', DOGEAR_KAFKA_SECRET_ARN: k.clientCertificateSecretArn }
        : { DOGEAR_KAFKA_AUTH: 'UNAUTHENTICATED' };
  return {
    ...auth,
    ...(k.serverRootCaSecretArn !== undefined
      ? { DOGEAR_KAFKA_ROOT_CA_SECRET_ARN: k.serverRootCaSecretArn }
      : {}),
  };
}

/** What every consumer's function shares. */
interface FunctionContext {
  readonly runtime: string;
  readonly tableName: CfnValue;
  readonly source: ResolvedSource | undefined;
  readonly service: ServiceContext;
  readonly logRetentionInDays: number;
}

function functionDefinition(
  consumer: BuiltConsumer,
  deploy: ResolvedDeploy,
  { runtime, tableName, source, service, logRetentionInDays }: FunctionContext,
): FunctionDefinition {
  const dir = consumer.dir.split(sep).join(posix.sep);
  return {
    name: `${service.service}-${service.stage}-${consumer.name}`,
    description: `dogear consumer ${consumer.name}: topic ${consumer.topic}, group ${consumer.group}`,
    handler: posix.join(dir, consumer.handler),
    runtime,
    memorySize: deploy.memorySize,
    timeout: deploy.timeout,
    environment: {
      DOGEAR_DYNAMODB_TABLE: tableName,
      // The mapping and the handler must agree: a partial response the mapping does not
      // expect reads as success, and the failed records would be skipped.
      DOGEAR_REPORT_BATCH_ITEM_FAILURES: String(deploy.reportBatchItemFailures),
      NODE_OPTIONS: '--enable-source-maps',
      ...relayEnvironment(consumer, source),
    },
    // The zip holds this consumer's bundle only; the plugin writes it (zip.ts).
    package: { individually: true, artifact: join(service.artifactDir, `${consumer.name}.zip`) },
    logRetentionInDays,
    events: source ? [frameworkEvent(consumer, deploy, source)] : [],
  };
}

/**
 * The `msk` or `kafka` event, with only the options every framework's event schema has (v3, v4,
 * osls): enough for the framework to compile the mapping, name it, and grant its own IAM
 * statements. `mappingProperties` then sets the rest on the compiled resource.
 */
function frameworkEvent(
  consumer: BuiltConsumer,
  deploy: ResolvedDeploy,
  source: ResolvedSource,
): FunctionDefinition['events'][number] {
  const common = {
    topic: consumer.topic,
    batchSize: consumer.batchSize,
    ...(deploy.batchingWindow > 0 ? { maximumBatchingWindow: deploy.batchingWindow } : {}),
    startingPosition: deploy.startingPosition,
    ...(deploy.startingPositionTimestamp !== undefined
      ? { startingPositionTimestamp: deploy.startingPositionTimestamp }
      : {}),
    consumerGroupId: consumer.group,
    enabled: deploy.enabled,
  };
  if (source.kind === 'msk') {
    return { msk: { arn: source.arn, ...common } };
  }
  const k = source.kafka;
  // The framework's names for each access configuration (its schema wants lists).
  const access: Record<string, CfnValue[]> = {};
  if (k.vpc) {
    access.vpcSubnet = [...k.vpc.subnetIds];
    access.vpcSecurityGroup = [...k.vpc.securityGroupIds];
  }
  const secrets = {
    saslScram512Auth: k.saslScram512SecretArn,
    saslScram256Auth: k.saslScram256SecretArn,
    saslPlainAuth: k.saslPlainSecretArn,
    clientCertificateTlsAuth: k.clientCertificateSecretArn,
    serverRootCaCertificate: k.serverRootCaSecretArn,
  };
  for (const [key, secret] of Object.entries(secrets))
    if (secret !== undefined) access[key] = [secret];
  return {
    kafka: { bootstrapServers: [...k.bootstrapServers], accessConfigurations: access, ...common },
  };
}

/**
 * The event-source mapping's own metrics dogear turns on: all three `MetricsConfig` takes, the
 * last two for Kafka sources only (MSK and self-managed), which every dogear mapping is.
 * https://docs.aws.amazon.com/lambda/latest/api/API_EventSourceMappingMetricsConfig.html
 */
export const MAPPING_METRICS = ['EventCount', 'ErrorCount', 'KafkaMetrics'] as const;

/**
 * The `AWS::Lambda::EventSourceMapping` properties dogear wants, all but `FunctionName`, which
 * stays as the framework compiled it (it knows aliases). These replace the compiled properties.
 */
export function mappingProperties(
  consumer: Pick<BuiltConsumer, 'topic' | 'group' | 'batchSize'>,
  deploy: ResolvedDeploy,
  source: ResolvedSource,
): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  const kafkaConfig = {
    ConsumerGroupId: consumer.group,
    ...(deploy.schemaRegistry
      ? { SchemaRegistryConfig: schemaRegistryConfig(deploy.schemaRegistry) }
      : {}),
  };
  if (source.kind === 'msk') {
    properties.EventSourceArn = source.arn;
    properties.AmazonManagedKafkaEventSourceConfig = kafkaConfig;
  } else {
    properties.SelfManagedEventSource = {
      Endpoints: { KafkaBootstrapServers: [...source.kafka.bootstrapServers] },
    };
    properties.SelfManagedKafkaEventSourceConfig = kafkaConfig;
  }
  Object.assign(properties, {
    Topics: [consumer.topic],
    StartingPosition: deploy.startingPosition,
    ...(deploy.startingPositionTimestamp !== undefined
      ? { StartingPositionTimestamp: deploy.startingPositionTimestamp }
      : {}),
    BatchSize: consumer.batchSize,
    // Set even when 0: left out, Lambda waits 500 ms for Kafka sources.
    MaximumBatchingWindowInSeconds: deploy.batchingWindow,
    Enabled: deploy.enabled,
    // Off unless asked for; every value Lambda takes for Kafka: EventCount, ErrorCount and
    // KafkaMetrics (OffsetLag per mapping among them).
    MetricsConfig: { Metrics: [...MAPPING_METRICS] },
  });
  const access = sourceAccessConfigurations(source);
  if (access.length) properties.SourceAccessConfigurations = access;
  if (deploy.filterPatterns.length) {
    properties.FilterCriteria = { Filters: deploy.filterPatterns.map((Pattern) => ({ Pattern })) };
  }
  const pollers = deploy.provisionedPollers;
  if (pollers) {
    properties.ProvisionedPollerConfig = {
      ...(pollers.minimum !== undefined ? { MinimumPollers: pollers.minimum } : {}),
      ...(pollers.maximum !== undefined ? { MaximumPollers: pollers.maximum } : {}),
    };
  }
  if (deploy.onFailure) {
    properties.DestinationConfig = { OnFailure: { Destination: deploy.onFailure } };
  }
  if (deploy.reportBatchItemFailures)
    properties.FunctionResponseTypes = ['ReportBatchItemFailures'];
  // Lambda takes these for Kafka in provisioned mode only. Without pollers, config lets through
  // only the values that ask for nothing (-1, false), which are Lambda's defaults: leave them out.
  if (pollers) {
    if (deploy.bisectBatchOnError !== undefined) {
      properties.BisectBatchOnFunctionError = deploy.bisectBatchOnError;
    }
    if (deploy.maximumRetryAttempts !== undefined) {
      properties.MaximumRetryAttempts = deploy.maximumRetryAttempts;
    }
    if (deploy.maximumRecordAgeInSeconds !== undefined) {
      properties.MaximumRecordAgeInSeconds = deploy.maximumRecordAgeInSeconds;
    }
  }
  return properties;
}

/** CloudFormation's `SchemaRegistryConfig`, inside either Kafka source's config. */
function schemaRegistryConfig(registry: ResolvedSchemaRegistry): Record<string, unknown> {
  return {
    SchemaRegistryURI: registry.uri,
    EventRecordFormat: registry.eventRecordFormat,
    ...(registry.accessConfigs?.length
      ? { AccessConfigs: registry.accessConfigs.map((a) => ({ Type: a.type, URI: a.uri })) }
      : {}),
    SchemaValidationConfigs: registry.validate.map((Attribute) => ({ Attribute })),
  };
}

function sourceAccessConfigurations(
  source: ResolvedSource,
): Array<{ Type: string; URI: CfnValue }> {
  if (source.kind === 'msk') {
    if (source.secretArn === undefined) return [];
    const type = source.auth === 'TLS' ? 'CLIENT_CERTIFICATE_TLS_AUTH' : 'SASL_SCRAM_512_AUTH';
    return [{ Type: type, URI: source.secretArn }];
  }
  const k: KafkaOptions = source.kafka;
  const prefixed = (prefix: string, id: CfnValue): CfnValue =>
    isIntrinsic(id) ? { 'Fn::Join': ['', [prefix, id]] } : `${prefix}${id}`;
  const out: Array<{ Type: string; URI: CfnValue }> = [];
  for (const id of k.vpc?.subnetIds ?? [])
    out.push({ Type: 'VPC_SUBNET', URI: prefixed('subnet:', id) });
  for (const id of k.vpc?.securityGroupIds ?? []) {
    out.push({ Type: 'VPC_SECURITY_GROUP', URI: prefixed('security_group:', id) });
  }
  const secrets: Array<[string, CfnValue | undefined]> = [
    ['SASL_SCRAM_512_AUTH', k.saslScram512SecretArn],
    ['SASL_SCRAM_256_AUTH', k.saslScram256SecretArn],
    ['BASIC_AUTH', k.saslPlainSecretArn],
    ['CLIENT_CERTIFICATE_TLS_AUTH', k.clientCertificateSecretArn],
    ['SERVER_ROOT_CA_CERTIFICATE', k.serverRootCaSecretArn],
  ];
  for (const [Type, URI] of secrets) if (URI !== undefined) out.push({ Type, URI });
  return out;
}
