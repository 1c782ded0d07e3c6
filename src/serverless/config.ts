import type { BuiltConsumer } from '../build/index.ts';
import {
  CONSUMER_GROUP_PATTERN,
  DEPLOY_OPTIONS,
  type DeployOptions,
  type SchemaRegistryDeployOptions,
} from '../runtime/index.ts';
import { ServerlessConfigError } from './errors.ts';
import { distance } from './suggest.ts';
import type {
  AlarmOptions,
  CfnValue,
  DogearServerlessOptions,
  Intrinsic,
  KafkaOptions,
  MskAuth,
  MskOptions,
  ResolvedDeploy,
  TableOptions,
} from './types.ts';

const ROOT = 'custom.dogear';

/** Lambda's function defaults as dogear sets them; `custom.dogear.defaults` overrides them. */
export const DEFAULT_DEPLOY = {
  memorySize: 1024,
  timeout: 60,
  batchingWindow: 0,
  startingPosition: 'TRIM_HORIZON',
  enabled: true,
} as const satisfies DeployOptions;

const OPTION_KEYS = [
  'functions',
  'sdk',
  'runtime',
  'msk',
  'kafka',
  'table',
  'defaults',
  'consumers',
  'logRetentionInDays',
  'alarms',
] as const satisfies ReadonlyArray<keyof DogearServerlessOptions>;

const ALARM_KEYS = [
  'offsetLag',
  'offsetLagMinutes',
  'errors',
  'deadLetters',
  'outputsPending',
  'actions',
] as const satisfies ReadonlyArray<keyof AlarmOptions>;

const DEPLOY_KEYS = DEPLOY_OPTIONS;

const MSK_KEYS = [
  'arn',
  'name',
  'auth',
  'scramSecretArn',
  'clientCertificateSecretArn',
  'secretsKmsKeyArn',
] as const;
const KAFKA_KEYS = [
  'bootstrapServers',
  'saslScram512SecretArn',
  'saslScram256SecretArn',
  'saslPlainSecretArn',
  'clientCertificateSecretArn',
  'serverRootCaSecretArn',
  'secretsKmsKeyArn',
  'vpc',
] as const satisfies ReadonlyArray<keyof KafkaOptions>;
const KAFKA_AUTH_KEYS = [
  'saslScram512SecretArn',
  'saslScram256SecretArn',
  'saslPlainSecretArn',
  'clientCertificateSecretArn',
] as const;
const MSK_AUTHS: readonly MskAuth[] = ['IAM', 'SASL_SCRAM', 'TLS', 'UNAUTHENTICATED'];
const POSITIONS = ['LATEST', 'TRIM_HORIZON', 'AT_TIMESTAMP'] as const;

/**
 * What CloudWatch Logs takes as a log group's RetentionInDays (AWS::Logs::LogGroup in the
 * CloudFormation template reference).
 */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288,
  3653,
] as const;

/** dogear's retention for its functions' log groups, where Lambda's own default is forever. */
export const DEFAULT_LOG_RETENTION_DAYS = 30;

/**
 * Deploy options Lambda takes for Kafka only in provisioned mode (AWS Lambda developer guide,
 * "Configuring error handling controls for Kafka event sources"), with the value that asks for
 * nothing. On-failure destinations are not among them: see docs/deploy.md.
 */
const PROVISIONED_ONLY = [
  ['maximumRetryAttempts', -1],
  ['maximumRecordAgeInSeconds', -1],
  ['bisectBatchOnError', false],
  ['reportBatchItemFailures', false],
] as const satisfies ReadonlyArray<readonly [keyof DeployOptions, unknown]>;

/**
 * What Lambda validates when `schemaRegistry.validate` is not given: the value. Without any
 * attribute Lambda would validate and decode nothing (CloudFormation: SchemaValidationConfig).
 */
const DEFAULT_SCHEMA_VALIDATION = ['VALUE'] as const;
const SCHEMA_REGISTRY_KEYS = [
  'uri',
  'eventRecordFormat',
  'accessConfigs',
  'validate',
] as const satisfies ReadonlyArray<keyof SchemaRegistryDeployOptions>;
const SCHEMA_REGISTRY_AUTHS = [
  'BASIC_AUTH',
  'CLIENT_CERTIFICATE_TLS_AUTH',
  'SERVER_ROOT_CA_CERTIFICATE',
] as const;
/** A Glue registry's ARN; its partition, region, account and name give its schemas' ARNs. */
export const GLUE_REGISTRY_ARN =
  /^arn:(aws[\w-]*):glue:([a-z0-9-]+):(\d{12}):registry\/([a-zA-Z0-9_$#.-]{1,255})$/;
/** CloudFormation's pattern for SchemaRegistryURI, which a Confluent URL must also match. */
const SCHEMA_REGISTRY_URI = /^[a-zA-Z0-9\-/*:_+=.@]{1,10000}$/;

/** Kafka's legal topic names. */
const TOPIC_PATTERN = /^[a-zA-Z0-9._-]{1,249}$/;

/** Whether `value` is a CloudFormation intrinsic: `{ Ref }` or `{ 'Fn::…' }`, one key. */
export function isIntrinsic(value: unknown): value is Intrinsic {
  if (!isPlainObject(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && (keys[0] === 'Ref' || keys[0]!.startsWith('Fn::'));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks `custom.dogear` and returns it typed. Every problem is a `ServerlessConfigError` whose
 * message names the option, as `custom.dogear.msk.arn`.
 */
export function parseOptions(raw: unknown): DogearServerlessOptions {
  if (raw === undefined || raw === null) {
    throw new ServerlessConfigError(
      `Missing '${ROOT}'; Did you forget to say which cluster the consumers read (custom.dogear.msk or custom.dogear.kafka)?`,
      { option: ROOT },
    );
  }
  const options = object(raw, ROOT);
  knownKeys(options, OPTION_KEYS, ROOT);

  if (options.functions !== undefined) nonEmptyString(options.functions, `${ROOT}.functions`);
  oneOf(options.sdk, ['bundle', 'runtime'], `${ROOT}.sdk`);
  oneOf(options.runtime, ['nodejs22.x', 'nodejs24.x'], `${ROOT}.runtime`);

  if (options.msk !== undefined && options.kafka !== undefined) {
    throw new ServerlessConfigError(
      `${ROOT}.msk and ${ROOT}.kafka are exclusive; give the one cluster every consumer reads`,
      { option: `${ROOT}.kafka` },
    );
  }
  if (options.msk === undefined && options.kafka === undefined) {
    throw new ServerlessConfigError(
      `${ROOT} names no cluster; Did you forget ${ROOT}.msk (arn or name) or ${ROOT}.kafka (bootstrapServers)?`,
      { option: `${ROOT}.msk` },
    );
  }
  if (options.msk !== undefined) checkMsk(options.msk, `${ROOT}.msk`);
  if (options.kafka !== undefined) checkKafka(options.kafka, `${ROOT}.kafka`);
  if (options.table !== undefined) checkTable(options.table, `${ROOT}.table`);
  const retention = options.logRetentionInDays;
  if (retention !== undefined && !(LOG_RETENTION_DAYS as readonly unknown[]).includes(retention)) {
    fail(
      `${ROOT}.logRetentionInDays ${show(retention)} is not one CloudWatch Logs takes: ${LOG_RETENTION_DAYS.join(', ')}`,
      `${ROOT}.logRetentionInDays`,
    );
  }
  if (options.alarms !== undefined) checkAlarms(options.alarms, `${ROOT}.alarms`);
  checkOverrides(options);
  return options as DogearServerlessOptions;
}

function checkAlarms(raw: unknown, at: string): void {
  const alarms = object(raw, at);
  knownKeys(alarms, ALARM_KEYS, at);
  for (const [key, min] of [
    ['offsetLag', 1],
    ['offsetLagMinutes', 1],
    ['errors', 1],
    ['deadLetters', 1],
    ['outputsPending', 0],
  ] as const) {
    const value = alarms[key];
    if (
      value !== undefined &&
      (typeof value !== 'number' || !Number.isInteger(value) || value < min)
    ) {
      fail(
        `${at}.${key} must be a whole number of at least ${min}, got ${show(value)}`,
        `${at}.${key}`,
      );
    }
  }
  if (
    alarms.actions !== undefined &&
    (!Array.isArray(alarms.actions) ||
      !alarms.actions.every(
        (a) => (typeof a === 'string' && a.startsWith('arn:')) || isIntrinsic(a),
      ))
  ) {
    fail(
      `${at}.actions must be a list of ARNs (an SNS topic's, say), got ${show(alarms.actions)}`,
      `${at}.actions`,
    );
  }
}

function checkOverrides(options: Record<string, unknown>): void {
  if (options.defaults !== undefined) checkDeploy(options.defaults, `${ROOT}.defaults`);
  if (options.consumers !== undefined) {
    const consumers = object(options.consumers, `${ROOT}.consumers`);
    for (const [name, raw] of Object.entries(consumers)) {
      const { alarms, ...deploy } = object(raw, `${ROOT}.consumers.${name}`, name);
      checkDeploy(deploy, `${ROOT}.consumers.${name}`, name);
      if (alarms !== undefined) checkAlarms(alarms, `${ROOT}.consumers.${name}.alarms`);
    }
  }
}

/**
 * The event-source options `custom.dogear` sets over a consumer's own `deploy`, for running it
 * locally as it is deployed (`dogear dev`): the same precedence as `resolveDeploy`, reading only
 * `defaults` and `consumers`, so a cluster given by a variable the CLI cannot resolve is no
 * obstacle.
 */
export function deployOverrides(
  raw: unknown,
): (consumer: { name: string; deploy: DeployOptions }) => DeployOptions {
  const options = object(raw ?? {}, ROOT);
  checkOverrides(options);
  return (consumer) => layeredDeploy(consumer, options as DogearServerlessOptions);
}

/** The precedence, lowest first: `defaults`, the consumer's own `deploy`, `consumers.<name>`. */
function layeredDeploy(
  consumer: { name: string; deploy: DeployOptions },
  options: Pick<DogearServerlessOptions, 'defaults' | 'consumers'>,
): DeployOptions {
  const { alarms: _alarms, ...overrides } = options.consumers?.[consumer.name] ?? {};
  return {
    ...definedOnly(options.defaults ?? {}),
    ...definedOnly(consumer.deploy),
    ...definedOnly(overrides),
  };
}

/** One consumer's alarm thresholds: `custom.dogear.alarms`, then `consumers.<name>.alarms` over it. */
export function resolveAlarms(
  consumer: string,
  options: Pick<DogearServerlessOptions, 'alarms' | 'consumers'>,
): AlarmOptions {
  return {
    ...definedOnly(options.alarms ?? {}),
    ...definedOnly(options.consumers?.[consumer]?.alarms ?? {}),
  };
}

function checkMsk(raw: unknown, at: string): asserts raw is MskOptions {
  const msk = object(raw, at);
  knownKeys(msk, MSK_KEYS, at);
  if ((msk.arn === undefined) === (msk.name === undefined)) {
    throw new ServerlessConfigError(
      `${at} needs exactly one of 'arn' (an ARN, { Ref }, { Fn::ImportValue } or \${cf:…}) and 'name' (looked up with the MSK API)`,
      { option: `${at}.arn` },
    );
  }
  if (msk.name !== undefined) nonEmptyString(msk.name, `${at}.name`);
  if (msk.arn !== undefined) {
    const arn = msk.arn;
    const ok =
      (typeof arn === 'string' &&
        /^arn:aws[\w-]*:kafka:[^:]*:\d*:cluster\/[^/]+\/[^/]+$/.test(arn)) ||
      (isIntrinsic(arn) &&
        (typeof (arn as { Ref?: unknown }).Ref === 'string' ||
          typeof (arn as Record<string, unknown>)['Fn::ImportValue'] === 'string'));
    if (!ok) {
      throw new ServerlessConfigError(
        `${at}.arn must be an MSK cluster ARN (arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>), { Ref: <logical id> } or { 'Fn::ImportValue': <export name> }, got ${show(arn)}`,
        { option: `${at}.arn` },
      );
    }
  }
  oneOf(msk.auth, MSK_AUTHS, `${at}.auth`);
  secret(msk.scramSecretArn, `${at}.scramSecretArn`);
  secret(msk.clientCertificateSecretArn, `${at}.clientCertificateSecretArn`);
  kmsKey(msk.secretsKmsKeyArn, `${at}.secretsKmsKeyArn`);
  // With a name, MSK says which methods the cluster takes; with an ARN, `auth` must say it.
  if (msk.arn !== undefined) {
    if (msk.auth === 'SASL_SCRAM' && msk.scramSecretArn === undefined) {
      throw new ServerlessConfigError(
        `${at}.auth SASL_SCRAM needs ${at}.scramSecretArn, the Secrets Manager secret with the SCRAM username and password`,
        { option: `${at}.scramSecretArn` },
      );
    }
    if (msk.auth === 'TLS' && msk.clientCertificateSecretArn === undefined) {
      throw new ServerlessConfigError(
        `${at}.auth TLS needs ${at}.clientCertificateSecretArn, the Secrets Manager secret with the client certificate and key`,
        { option: `${at}.clientCertificateSecretArn` },
      );
    }
  }
}

function checkKafka(raw: unknown, at: string): asserts raw is KafkaOptions {
  const kafka = object(raw, at);
  knownKeys(kafka, KAFKA_KEYS, at);
  const servers = kafka.bootstrapServers;
  if (
    !Array.isArray(servers) ||
    servers.length === 0 ||
    !servers.every((s) => typeof s === 'string' && /^[^\s:]+:\d+$/.test(s))
  ) {
    throw new ServerlessConfigError(
      `${at}.bootstrapServers must be a list of 'host:port', got ${show(servers)}`,
      { option: `${at}.bootstrapServers` },
    );
  }
  for (const key of [...KAFKA_AUTH_KEYS, 'serverRootCaSecretArn'] as const) {
    secret(kafka[key], `${at}.${key}`);
  }
  kmsKey(kafka.secretsKmsKeyArn, `${at}.secretsKmsKeyArn`);
  const auths = KAFKA_AUTH_KEYS.filter((key) => kafka[key] !== undefined);
  if (auths.length > 1) {
    throw new ServerlessConfigError(
      `${at}.${auths[1]} and ${at}.${auths[0]} are exclusive; a mapping authenticates one way`,
      { option: `${at}.${auths[1]}` },
    );
  }
  if (kafka.vpc !== undefined) {
    const vpc = object(kafka.vpc, `${at}.vpc`);
    knownKeys(vpc, ['subnetIds', 'securityGroupIds'], `${at}.vpc`);
    for (const [key, prefix] of [
      ['subnetIds', 'subnet-'],
      ['securityGroupIds', 'sg-'],
    ] as const) {
      const ids = vpc[key];
      const valid =
        Array.isArray(ids) &&
        ids.length > 0 &&
        ids.every((id) => (typeof id === 'string' && id.startsWith(prefix)) || isIntrinsic(id));
      if (!valid) {
        throw new ServerlessConfigError(
          `${at}.vpc.${key} must be a non-empty list of '${prefix}…' ids or intrinsics, got ${show(ids)}`,
          { option: `${at}.vpc.${key}` },
        );
      }
    }
  }
}

function checkTable(raw: unknown, at: string): asserts raw is TableOptions {
  const table = object(raw, at);
  knownKeys(table, ['name', 'arn', 'retain'], at);
  const given = (['name', 'arn', 'retain'] as const).filter((k) => table[k] !== undefined);
  if (given.length > 1) {
    throw new ServerlessConfigError(
      `${at}.${given[1]} and ${at}.${given[0]} are exclusive; give an existing table's name or ARN, or 'retain' for the table dogear creates`,
      { option: `${at}.${given[1]}` },
    );
  }
  if (table.name !== undefined) {
    if (typeof table.name !== 'string' || !/^[a-zA-Z0-9_.-]{3,255}$/.test(table.name)) {
      throw new ServerlessConfigError(
        `${at}.name must be a DynamoDB table name (3 to 255 of a-z, A-Z, 0-9, '_', '-', '.'), got ${show(table.name)}`,
        { option: `${at}.name` },
      );
    }
  }
  if (table.arn !== undefined) {
    const arn = table.arn;
    if (
      !(
        isIntrinsic(arn) ||
        (typeof arn === 'string' && /^arn:aws[\w-]*:dynamodb:[^:]+:\d+:table\/[^/]+$/.test(arn))
      )
    ) {
      throw new ServerlessConfigError(
        `${at}.arn must be a DynamoDB table ARN (arn:aws:dynamodb:<region>:<account>:table/<name>) or an intrinsic, got ${show(arn)}`,
        { option: `${at}.arn` },
      );
    }
  }
  if (table.retain !== undefined) boolean(table.retain, `${at}.retain`);
}

/** Checks deploy options from serverless.yml (`defaults`, `consumers.<name>`) as Lambda would. */
function checkDeploy(raw: unknown, at: string, consumer?: string): asserts raw is DeployOptions {
  const deploy = object(raw, at, consumer);
  knownKeys(deploy, DEPLOY_KEYS, at, consumer);
  const within = (key: keyof DeployOptions, min: number, max: number, unit: string) => {
    const value = deploy[key];
    if (value === undefined) return;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      fail(
        `${at}.${key} ${show(value)} is outside Lambda's ${min} to ${max.toLocaleString('en')} ${unit}`,
        `${at}.${key}`,
        consumer,
      );
    }
  };
  within('memorySize', 128, 10_240, 'MB');
  within('timeout', 1, 900, 'seconds');
  within('batchingWindow', 0, 300, 'seconds');
  within('maximumRetryAttempts', -1, 10_000, 'retries');
  // -1 (no limit), or 60 s to 7 days (CreateEventSourceMapping, MaximumRecordAgeInSeconds).
  if (deploy.maximumRecordAgeInSeconds !== -1) {
    within('maximumRecordAgeInSeconds', 60, 604_800, 'seconds (or -1 for no limit)');
  }
  if (deploy.reportBatchItemFailures !== undefined) {
    boolean(deploy.reportBatchItemFailures, `${at}.reportBatchItemFailures`, consumer);
  }
  if (deploy.bisectBatchOnError !== undefined) {
    boolean(deploy.bisectBatchOnError, `${at}.bisectBatchOnError`, consumer);
  }
  oneOf(deploy.startingPosition, POSITIONS, `${at}.startingPosition`, consumer);
  if (deploy.startingPositionTimestamp !== undefined) {
    const ts = deploy.startingPositionTimestamp;
    if (typeof ts !== 'number' || ts < 0) {
      fail(
        `${at}.startingPositionTimestamp must be Unix seconds, got ${show(ts)}`,
        `${at}.startingPositionTimestamp`,
        consumer,
      );
    }
  }
  if (deploy.enabled !== undefined) boolean(deploy.enabled, `${at}.enabled`, consumer);
  if (deploy.onFailure !== undefined) destination(deploy.onFailure, `${at}.onFailure`, consumer);
  if (deploy.filterPatterns !== undefined) {
    filterPatterns(deploy.filterPatterns, `${at}.filterPatterns`, consumer);
  }
  if (deploy.schemaRegistry !== undefined) {
    schemaRegistry(deploy.schemaRegistry, `${at}.schemaRegistry`, consumer);
  }
  if (deploy.provisionedPollers !== undefined) {
    const pollers = object(deploy.provisionedPollers, `${at}.provisionedPollers`, consumer);
    knownKeys(pollers, ['minimum', 'maximum'], `${at}.provisionedPollers`, consumer);
    for (const [key, max] of [
      ['minimum', 200],
      ['maximum', 2000],
    ] as const) {
      const value = pollers[key];
      if (
        value !== undefined &&
        (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max)
      ) {
        fail(
          `${at}.provisionedPollers.${key} ${show(value)} is outside Lambda's 1 to ${max.toLocaleString('en')} pollers`,
          `${at}.provisionedPollers.${key}`,
          consumer,
        );
      }
    }
  }
}

/**
 * One consumer's settings: dogear's defaults, then `custom.dogear.defaults`, then the consumer's
 * own `deploy`, then `custom.dogear.consumers.<name>`; checked again as a whole, since the
 * manifest may come from an older build.
 */
export function resolveDeploy(
  consumer: Pick<BuiltConsumer, 'name' | 'group' | 'topic' | 'batchSize' | 'deploy' | 'source'>,
  options: DogearServerlessOptions,
): ResolvedDeploy {
  const where = `consumer ${consumer.name} (${consumer.source})`;
  const fail = (message: string, option: string): never => {
    throw new ServerlessConfigError(`Consumer ${consumer.name}: ${message}`, {
      option,
      consumer: consumer.name,
    });
  };
  if (typeof consumer.topic !== 'string' || !TOPIC_PATTERN.test(consumer.topic)) {
    fail(
      `topic ${show(consumer.topic)} is not a Kafka topic name (1 to 249 of a-z, A-Z, 0-9, '.', '_', '-'); Did you forget { topic } in ${where}?`,
      'topic',
    );
  }
  if (!CONSUMER_GROUP_PATTERN.test(consumer.group)) {
    fail(
      `group '${consumer.group}' must be 1 to 200 of a-z, A-Z, 0-9 and - / : _ + = . @ (Lambda's consumer group id, without '*', which IAM reads as a wildcard)`,
      'group',
    );
  }
  if (
    !Number.isInteger(consumer.batchSize) ||
    consumer.batchSize < 1 ||
    consumer.batchSize > 10_000
  ) {
    fail(`batchSize ${consumer.batchSize} is outside Lambda's 1 to 10,000`, 'batchSize');
  }
  // The code's deploy options were checked when the consumer was defined; check them here too.
  checkDeploy(consumer.deploy, `deploy`, consumer.name);
  const merged: DeployOptions = { ...DEFAULT_DEPLOY, ...layeredDeploy(consumer, options) };
  const position = merged.startingPosition ?? DEFAULT_DEPLOY.startingPosition;
  if (position === 'AT_TIMESTAMP' && merged.startingPositionTimestamp === undefined) {
    fail(
      'startingPosition AT_TIMESTAMP needs startingPositionTimestamp (Unix seconds)',
      'startingPositionTimestamp',
    );
  }
  if (position !== 'AT_TIMESTAMP' && merged.startingPositionTimestamp !== undefined) {
    fail(
      `startingPositionTimestamp is only read with startingPosition AT_TIMESTAMP, not ${position}`,
      'startingPositionTimestamp',
    );
  }
  const pollers = merged.provisionedPollers;
  if (
    pollers?.minimum !== undefined &&
    pollers.maximum !== undefined &&
    pollers.minimum > pollers.maximum
  ) {
    fail(
      `provisionedPollers.minimum ${pollers.minimum} is above provisionedPollers.maximum ${pollers.maximum}`,
      'provisionedPollers.minimum',
    );
  }
  if (!pollers && merged.schemaRegistry !== undefined) {
    fail(
      "schemaRegistry needs provisioned mode, in which alone Lambda's event-source mapping takes a schema registry; Did you mean to add provisionedPollers (such as { minimum: 1 }, billed per poller), or to remove schemaRegistry and let the function decode (avro(), protobuf() or jsonSchema() from dogear/schema, which need no provisioned mode)?",
      'schemaRegistry',
    );
  }
  if (!pollers) {
    for (const [option, asksNothing] of PROVISIONED_ONLY) {
      const value = merged[option];
      if (value === undefined || value === asksNothing) continue;
      fail(
        `${option} ${show(value)} needs provisioned mode, in which alone Lambda takes Kafka's error-handling controls; Did you mean to add provisionedPollers (such as { minimum: 1 }, billed per poller), or to remove ${option}?`,
        option,
      );
    }
  }
  return {
    memorySize: merged.memorySize ?? DEFAULT_DEPLOY.memorySize,
    timeout: merged.timeout ?? DEFAULT_DEPLOY.timeout,
    batchingWindow: merged.batchingWindow ?? DEFAULT_DEPLOY.batchingWindow,
    startingPosition: position,
    ...(merged.startingPositionTimestamp !== undefined
      ? { startingPositionTimestamp: merged.startingPositionTimestamp }
      : {}),
    filterPatterns: (merged.filterPatterns ?? []).map((p) =>
      typeof p === 'string' ? JSON.stringify(JSON.parse(p)) : JSON.stringify(p),
    ),
    ...(pollers ? { provisionedPollers: pollers } : {}),
    ...(merged.onFailure !== undefined ? { onFailure: merged.onFailure } : {}),
    enabled: merged.enabled ?? DEFAULT_DEPLOY.enabled,
    reportBatchItemFailures: merged.reportBatchItemFailures ?? false,
    ...(merged.bisectBatchOnError !== undefined
      ? { bisectBatchOnError: merged.bisectBatchOnError }
      : {}),
    ...(merged.maximumRetryAttempts !== undefined
      ? { maximumRetryAttempts: merged.maximumRetryAttempts }
      : {}),
    ...(merged.maximumRecordAgeInSeconds !== undefined
      ? { maximumRecordAgeInSeconds: merged.maximumRecordAgeInSeconds }
      : {}),
    ...(merged.schemaRegistry !== undefined
      ? {
          schemaRegistry: {
            ...merged.schemaRegistry,
            validate: merged.schemaRegistry.validate ?? DEFAULT_SCHEMA_VALIDATION,
          },
        }
      : {}),
  };
}

/** Names in `custom.dogear.consumers` that match no consumer. */
export function checkConsumerNames(
  options: DogearServerlessOptions,
  names: readonly string[],
): void {
  for (const name of Object.keys(options.consumers ?? {})) {
    if (names.includes(name)) continue;
    const near = closest(name, names);
    throw new ServerlessConfigError(
      `${ROOT}.consumers.${name} names no consumer; ${near ? `Did you mean '${near}'? ` : ''}The consumers are: ${names.join(', ')}`,
      { option: `${ROOT}.consumers.${name}`, consumer: name },
    );
  }
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// ---------------------------------------------------------------------------------------------
// Small checks, each naming the option

function fail(message: string, option: string, consumer?: string): never {
  throw new ServerlessConfigError(consumer ? `Consumer ${consumer}: ${message}` : message, {
    option,
    ...(consumer ? { consumer } : {}),
  });
}

function object(value: unknown, at: string, consumer?: string): Record<string, unknown> {
  if (!isPlainObject(value)) fail(`${at} must be an object, got ${show(value)}`, at, consumer);
  return value as Record<string, unknown>;
}

function knownKeys(
  value: Record<string, unknown>,
  known: readonly string[],
  at: string,
  consumer?: string,
): void {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const near = closest(key, known);
    fail(
      `Unknown option '${at}.${key}'; ${near ? `Did you mean '${near}'?` : `known options are ${known.join(', ')}`}`,
      `${at}.${key}`,
      consumer,
    );
  }
}

function oneOf(value: unknown, allowed: readonly string[], at: string, consumer?: string): void {
  if (value !== undefined && !allowed.includes(value as string)) {
    fail(`${at} must be one of ${allowed.join(', ')}, got ${show(value)}`, at, consumer);
  }
}

function nonEmptyString(value: unknown, at: string): void {
  if (typeof value !== 'string' || value === '') fail(`${at} must be a non-empty string`, at);
}

function boolean(value: unknown, at: string, consumer?: string): void {
  if (typeof value !== 'boolean')
    fail(`${at} must be true or false, got ${show(value)}`, at, consumer);
}

function secret(
  value: unknown,
  at: string,
  consumer?: string,
): asserts value is CfnValue | undefined {
  if (value === undefined || isIntrinsic(value)) return;
  if (
    typeof value !== 'string' ||
    !/^arn:aws[\w-]*:secretsmanager:[^:]+:\d+:secret:.+$/.test(value)
  ) {
    fail(
      `${at} must be a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>) or an intrinsic, got ${show(value)}; Did you give the secret's name instead of its ARN?`,
      at,
      consumer,
    );
  }
}

/** A KMS key's ARN (IAM names keys by key ARN, not alias), or an intrinsic that gives one. */
function kmsKey(value: unknown, at: string): void {
  if (value === undefined || isIntrinsic(value)) return;
  if (typeof value !== 'string' || !/^arn:aws[\w-]*:kms:[^:]+:\d{12}:key\/[\w-]+$/.test(value)) {
    fail(
      `${at} must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>) or an intrinsic, got ${show(value)}; Did you give an alias? IAM grants kms:Decrypt on the key's ARN`,
      at,
    );
  }
}

/** The mapping's schema registry: Glue by ARN, or Confluent by URL with its secrets. */
function schemaRegistry(raw: unknown, at: string, consumer?: string): void {
  const registry = object(raw, at, consumer);
  knownKeys(registry, SCHEMA_REGISTRY_KEYS, at, consumer);
  const uri = registry.uri;
  const glue =
    typeof uri === 'string' && GLUE_REGISTRY_ARN.test(uri) && SCHEMA_REGISTRY_URI.test(uri);
  const confluent =
    typeof uri === 'string' && /^https?:\/\/[^/]/.test(uri) && SCHEMA_REGISTRY_URI.test(uri);
  if (!glue && !confluent) {
    const hint =
      typeof uri === 'string' && /^arn:[^:]*:glue:[^:]*:[^:]*:schema\//.test(uri)
        ? "; Did you give a schema's ARN? Lambda takes the registry's"
        : '';
    fail(
      `${at}.uri must be a Glue registry ARN (arn:aws:glue:<region>:<account>:registry/<name>) or a Confluent registry's URL (https://…), got ${show(uri)}${hint}`,
      `${at}.uri`,
      consumer,
    );
  }
  if (!['JSON', 'SOURCE'].includes(registry.eventRecordFormat as string)) {
    fail(
      `${at}.eventRecordFormat must be one of JSON, SOURCE, got ${show(registry.eventRecordFormat)}`,
      `${at}.eventRecordFormat`,
      consumer,
    );
  }
  const access = registry.accessConfigs;
  if (access !== undefined) {
    if (glue) {
      fail(
        `${at}.accessConfigs are for a Confluent registry; Lambda reads a Glue registry as the function's role, which dogear grants glue:GetRegistry and glue:GetSchemaVersion on it`,
        `${at}.accessConfigs`,
        consumer,
      );
    }
    if (!Array.isArray(access) || access.length === 0 || access.length > 2) {
      fail(
        `${at}.accessConfigs must be a list of at most 2 { type, uri } (CloudFormation's limit), got ${show(access)}`,
        `${at}.accessConfigs`,
        consumer,
      );
    }
    const seen = new Set<unknown>();
    (access as unknown[]).forEach((raw, i) => {
      const item = object(raw, `${at}.accessConfigs[${i}]`, consumer);
      knownKeys(item, ['type', 'uri'], `${at}.accessConfigs[${i}]`, consumer);
      oneOf(item.type ?? '', SCHEMA_REGISTRY_AUTHS, `${at}.accessConfigs[${i}].type`, consumer);
      if (seen.has(item.type)) {
        fail(
          `${at}.accessConfigs[${i}].type ${String(item.type)} is given twice; a registry authenticates one way, with at most a root CA beside it`,
          `${at}.accessConfigs[${i}].type`,
          consumer,
        );
      }
      seen.add(item.type);
      secret(item.uri ?? '', `${at}.accessConfigs[${i}].uri`, consumer);
    });
  }
  const validate = registry.validate;
  if (
    validate !== undefined &&
    (!Array.isArray(validate) ||
      validate.length === 0 ||
      new Set(validate).size !== validate.length ||
      !validate.every((a) => a === 'KEY' || a === 'VALUE'))
  ) {
    fail(
      `${at}.validate must be KEY, VALUE or both, got ${show(validate)}`,
      `${at}.validate`,
      consumer,
    );
  }
}

/** Where Lambda sends records that exhausted their retries: SQS, SNS, S3, or a Kafka topic. */
function destination(value: unknown, at: string, consumer?: string): void {
  const ok =
    typeof value === 'string' &&
    (/^arn:aws[\w-]*:(sqs|sns):[^:]+:\d+:.+$/.test(value) ||
      /^arn:aws[\w-]*:s3:::[^/]+$/.test(value) ||
      /^kafka:\/\/[a-zA-Z0-9._-]{1,249}$/.test(value));
  if (!ok) {
    fail(
      `${at} must be an SQS queue, SNS topic or S3 bucket ARN, or kafka://<topic>, got ${show(value)}`,
      at,
      consumer,
    );
  }
}

function filterPatterns(value: unknown, at: string, consumer?: string): void {
  if (!Array.isArray(value) || value.length > 10) {
    fail(`${at} must be a list of at most 10 patterns, got ${show(value)}`, at, consumer);
  }
  (value as unknown[]).forEach((pattern, i) => {
    let parsed: unknown = pattern;
    if (typeof pattern === 'string') {
      try {
        parsed = JSON.parse(pattern);
      } catch {
        fail(`${at}[${i}] is not JSON: ${pattern}`, `${at}[${i}]`, consumer);
      }
    }
    if (!isPlainObject(parsed)) {
      fail(
        `${at}[${i}] must be a filter pattern object, got ${show(pattern)}`,
        `${at}[${i}]`,
        consumer,
      );
    }
  });
}

/** The closest of `names` to `name`, if it is a likely typo (edit distance 2 or less). */
function closest(name: string, names: readonly string[]): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const candidate of names) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase());
    if (d <= 2 && (!best || d < best.d)) best = { name: candidate, d };
  }
  return best?.name;
}

function show(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : (JSON.stringify(value) ?? String(value));
}
