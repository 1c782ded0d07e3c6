import type {
  DeadLetterOptions,
  DeployOptions,
  SchemaRegistryDeployOptions,
} from '../runtime/index.ts';

/**
 * A CloudFormation intrinsic function, left for CloudFormation to resolve at deploy time:
 * `{ Ref: 'Cluster' }`, `{ 'Fn::ImportValue': 'dogear-msk-ClusterArn' }`, `{ 'Fn::GetAtt': [...] }`.
 */
export type Intrinsic = { Ref: string } | { [fn: `Fn::${string}`]: unknown };

/** A value given as is, or computed by CloudFormation. */
export type CfnValue<T = string> = T | Intrinsic;

/** How the event-source mapping authenticates to an MSK cluster. */
export type MskAuth = 'IAM' | 'SASL_SCRAM' | 'TLS' | 'UNAUTHENTICATED';

interface MskCommon {
  /**
   * How the mapping authenticates. With `name`, dogear asks MSK what the cluster accepts and
   * picks the first it can use; with `arn`, nothing is asked. @default 'IAM'
   */
  auth?: MskAuth;
  /** Secrets Manager secret (its name starts `AmazonMSK_`) with the SCRAM username and password, for `auth: SASL_SCRAM`. */
  scramSecretArn?: CfnValue;
  /** Secrets Manager secret with the client certificate and private key, for `auth: TLS` (mutual TLS). */
  clientCertificateSecretArn?: CfnValue;
  /**
   * The customer-managed KMS key the secrets above are encrypted with: each consumer's role gets
   * kms:Decrypt on it, through Secrets Manager only. Not needed for the AWS-managed key.
   */
  secretsKmsKeyArn?: CfnValue;
}

/** An Amazon MSK cluster (provisioned or Serverless) given by ARN: nothing is looked up at package time. */
export interface MskByArn extends MskCommon {
  /**
   * The cluster ARN: a string (or `${cf:stack.Output}`, which the framework resolves), `{ Ref: X }`
   * for a cluster in this stack, or `{ 'Fn::ImportValue': 'stack-ClusterArn' }`.
   */
  arn: string | { Ref: string } | { 'Fn::ImportValue': string };
  name?: never;
}

/** An Amazon MSK cluster given by name: `package` asks the MSK API (kafka:ListClustersV2) for its ARN. */
export interface MskByName extends MskCommon {
  name: string;
  arn?: never;
}

export type MskOptions = MskByArn | MskByName;

/** A self-managed Apache Kafka cluster (or any Kafka reachable by bootstrap servers). */
export interface KafkaOptions {
  /** `host:port` of one or more brokers. */
  bootstrapServers: readonly string[];
  /** SASL/SCRAM-SHA-512 credentials: a Secrets Manager secret ARN with `username` and `password`. */
  saslScram512SecretArn?: CfnValue;
  /** SASL/SCRAM-SHA-256 credentials: a Secrets Manager secret ARN. */
  saslScram256SecretArn?: CfnValue;
  /** SASL/PLAIN credentials: a Secrets Manager secret ARN. */
  saslPlainSecretArn?: CfnValue;
  /** Mutual TLS: a Secrets Manager secret ARN with the client certificate and private key. */
  clientCertificateSecretArn?: CfnValue;
  /** The brokers' root CA, when it is not a public one: a Secrets Manager secret ARN. */
  serverRootCaSecretArn?: CfnValue;
  /**
   * The customer-managed KMS key the secrets above are encrypted with: each consumer's role gets
   * kms:Decrypt on it, through Secrets Manager only. Not needed for the AWS-managed key.
   */
  secretsKmsKeyArn?: CfnValue;
  /** When the brokers are reachable only inside a VPC: where Lambda's pollers run. */
  vpc?: {
    /** Subnet ids (`subnet-…`), or intrinsics that give one each. */
    subnetIds: readonly CfnValue[];
    /** Security group ids (`sg-…`), or intrinsics that give one each. */
    securityGroupIds: readonly CfnValue[];
  };
}

/**
 * The state table. Without this option, dogear adds a table to the stack, named
 * `<service>-<stage>-state`, kept when the stack is removed (state outlives deployments).
 */
export type TableOptions =
  | {
      /** An existing table's name, in the deployment's account and region. */
      name: string;
      arn?: never;
      retain?: never;
    }
  | {
      /** An existing table's ARN, or an intrinsic that gives it. */
      arn: CfnValue;
      name?: never;
      retain?: never;
    }
  | {
      name?: never;
      arn?: never;
      /** Keep the table (and its state) when the stack is deleted or the table replaced. @default true */
      retain?: boolean;
    };

/** `custom.dogear` in serverless.yml. */
export interface DogearServerlessOptions {
  /** Where consumers are found, relative to the service. @default 'functions' */
  functions?: string;
  /**
   * `'bundle'` puts the AWS SDK clients dogear uses into each bundle; `'runtime'` takes the SDK
   * the Lambda runtime carries. @default 'bundle'
   */
  sdk?: 'bundle' | 'runtime';
  /** The Lambda runtime. @default provider.runtime when it is nodejs22.x or nodejs24.x, else 'nodejs24.x' */
  runtime?: 'nodejs22.x' | 'nodejs24.x';
  /** The Amazon MSK cluster every consumer reads; exclusive with `kafka`. */
  msk?: MskOptions;
  /** A self-managed Kafka cluster every consumer reads; exclusive with `msk`. */
  kafka?: KafkaOptions;
  /** The state table. @default a new table in this stack */
  table?: TableOptions;
  /** Defaults for every consumer; a consumer's own `deploy` options override them. */
  defaults?: DeployOptions;
  /**
   * Per consumer name, options that override both `defaults` and the consumer's `deploy`, and
   * `alarms` thresholds that override `custom.dogear.alarms` for that consumer.
   */
  consumers?: Record<string, ConsumerOverrides>;
  /**
   * Days each consumer's log group keeps its logs: one of CloudWatch Logs' values (1, 3, 5, 7,
   * 14, 30, 60, 90, …, 3653). @default 30
   */
  logRetentionInDays?: number;
  /**
   * CloudWatch alarms per consumer, each made only when its threshold is set: none by default,
   * since an alarm costs money and does nothing without someone to tell (`actions`).
   */
  alarms?: AlarmOptions;
}

/** `custom.dogear.consumers.<name>`: deploy options, and that consumer's own alarm thresholds. */
export type ConsumerOverrides = DeployOptions & {
  /** Overrides `custom.dogear.alarms`, key by key, for this consumer. */
  alarms?: AlarmOptions;
};

/** `custom.dogear.alarms`: thresholds for alarms every consumer gets. */
export interface AlarmOptions {
  /**
   * Alarm when the mapping's `OffsetLag` (records written to the topic but not yet processed,
   * the maximum over a minute) stays at or above this many records for `offsetLagMinutes`.
   */
  offsetLag?: number;
  /** Minutes `OffsetLag` must stay at or above its threshold. @default 5 */
  offsetLagMinutes?: number;
  /** Alarm when the function's `Errors` (failed invocations) in one minute reach this many. */
  errors?: number;
  /**
   * For a consumer with a `deadLetter`: alarm when dogear's `DeadLettered` (records sent to the
   * dead letters) over 5 minutes reaches this many. Made for every such consumer. @default 1
   */
  deadLetters?: number;
  /**
   * For a consumer that `emits`: alarm when dogear's `OutputsPending` (outputs committed but not
   * relayed when an invocation ended) goes above this many within 5 minutes. Made for every such
   * consumer. @default 0
   */
  outputsPending?: number;
  /** ARNs (SNS topics and the like) told when an alarm fires and when it clears. @default [] */
  actions?: CfnValue[];
}

/** The function and mapping settings of one consumer, after defaults and overrides. */
export interface ResolvedDeploy {
  readonly memorySize: number;
  readonly timeout: number;
  readonly batchingWindow: number;
  readonly startingPosition: 'LATEST' | 'TRIM_HORIZON' | 'AT_TIMESTAMP';
  readonly startingPositionTimestamp?: number;
  /** Each pattern as the JSON string Lambda takes. */
  readonly filterPatterns: readonly string[];
  readonly provisionedPollers?: { readonly minimum?: number; readonly maximum?: number };
  readonly onFailure?: string;
  readonly enabled: boolean;
  /** The mapping reads partial batch responses; the function is told so by its environment. */
  readonly reportBatchItemFailures: boolean;
  readonly bisectBatchOnError?: boolean;
  readonly maximumRetryAttempts?: number;
  readonly maximumRecordAgeInSeconds?: number;
  /** Lambda decodes (or validates) through this registry; only with provisioned pollers. */
  readonly schemaRegistry?: ResolvedSchemaRegistry;
}

/** `schemaRegistry` with what Lambda validates spelled out. */
export type ResolvedSchemaRegistry = Readonly<
  Omit<SchemaRegistryDeployOptions, 'validate'> & {
    validate: NonNullable<SchemaRegistryDeployOptions['validate']>;
  }
>;

/** The cluster every mapping reads, with what dogear knows about it at package time. */
export type ResolvedSource =
  | {
      readonly kind: 'msk';
      readonly arn: MskByArn['arn'];
      readonly auth: MskAuth;
      /** The secret the mapping authenticates with, for SASL_SCRAM and TLS. */
      readonly secretArn?: CfnValue;
      readonly secretsKmsKeyArn?: CfnValue;
    }
  | { readonly kind: 'kafka'; readonly kafka: KafkaOptions };

/** The service the plugin deploys into. */
export interface ServiceContext {
  /** `service` in serverless.yml. */
  readonly service: string;
  readonly stage: string;
  /**
   * `<service>/.serverless`, where the framework writes its own artifacts (and later moves them
   * to `--package <dir>` or `package.path`, if given): each consumer's zip goes there too.
   */
  readonly artifactDir: string;
}

/** A function as serverless.yml declares one; what the plugin adds to `functions`. */
export interface FunctionDefinition {
  name: string;
  description: string;
  handler: string;
  runtime: string;
  memorySize: number;
  timeout: number;
  environment: Record<string, CfnValue>;
  package: { individually: true; artifact: string };
  /** The logical id of the consumer's own role, in the plugin's resources. */
  role?: string;
  logRetentionInDays: number;
  events: Array<{ msk: Record<string, unknown> } | { kafka: Record<string, unknown> }>;
}

/** One IAM policy statement, as CloudFormation takes it. */
export interface IamStatement {
  Sid?: string;
  Effect: 'Allow';
  Action: string[];
  Resource: CfnValue[];
  Condition?: Record<string, Record<string, CfnValue | CfnValue[]>>;
}

/**
 * What serverless.yml's provider section asks of the functions' execution role, read the way the
 * framework reads it (`providerRoleOf`), so dogear's roles give its functions the same.
 */
export interface ProviderRole {
  /**
   * `provider.iam.role` names an existing role (a string, or an object with an `Fn::…` key), or
   * `provider.role` is set: every function runs on it, and dogear adds no role.
   */
  readonly existing: boolean;
  /** `provider.iam.role.statements` (or `provider.iamRoleStatements`), as written. */
  readonly statements: readonly Readonly<Record<string, unknown>>[];
  /** `provider.iam.role.managedPolicies` (or `provider.iamManagedPolicies`). */
  readonly managedPolicies: readonly CfnValue[];
  /** `provider.iam.role.permissionsBoundary` (or its older spellings). */
  readonly permissionsBoundary?: CfnValue;
  /** `provider.iam.role.path`. */
  readonly path?: CfnValue;
  /** `provider.iam.role.tags`. */
  readonly tags?: Readonly<Record<string, CfnValue>>;
  /** `provider.vpc` puts every function in a VPC: their network interfaces need EC2 actions. */
  readonly vpc: boolean;
  /** `provider.tracing.lambda` traces every function: its segments go to X-Ray. */
  readonly tracing: boolean;
}

/** A CloudFormation template, as far as the plugin reads and writes it. */
export interface CloudFormationTemplate {
  Resources: Record<
    string,
    { Type: string; Properties?: Record<string, unknown>; [k: string]: unknown }
  >;
  Outputs?: Record<string, unknown>;
  [key: string]: unknown;
}

/** Everything the plugin adds for one consumer. */
export interface ConsumerPlan {
  readonly name: string;
  readonly group: string;
  readonly topic: string;
  readonly deploy: ResolvedDeploy;
  readonly function: FunctionDefinition;
  /**
   * The mapping's properties as dogear wants them (all but `FunctionName`), set over what the
   * framework compiled from the event: options its event schema lacks, and values it drops (a
   * batching window of 0, intrinsic subnets).
   */
  readonly mapping: Record<string, unknown>;
  /** The logical id of the consumer's own execution role. */
  readonly roleLogicalId: string;
  /** `custom.dogear.alarms` with `custom.dogear.consumers.<name>.alarms` over it. */
  readonly alarms: AlarmOptions;
  /** The topics the consumer emits to (`ConsumerOptions.emits`). */
  readonly emits: readonly string[];
  /** Where its records that keep failing go (`ConsumerOptions.deadLetter`). */
  readonly deadLetter?: DeadLetterOptions;
  /**
   * dogear's statements for its role: only this consumer's topic, group and keys, each on named
   * resources but for actions that have no resource-level permissions (network interfaces, X-Ray).
   */
  readonly statements: readonly IamStatement[];
}

/** Everything the plugin adds to a service: functions, their roles, the table and its outputs. */
export interface ServicePlan {
  readonly consumers: readonly ConsumerPlan[];
  readonly resources: CloudFormationTemplate['Resources'];
  readonly outputs: Record<string, unknown>;
  /** What `package` prints as warnings: settings that deploy, but may not do what was meant. */
  readonly warnings?: readonly string[];
}

/** The parts of the framework's plugin utilities (v3, v4, osls) the plugin uses. */
export interface PluginUtils {
  log?: ((message: string) => void) & {
    info?: (message: string) => void;
    notice?: (message: string) => void;
    warning?: (message: string) => void;
    verbose?: (message: string) => void;
    success?: (message: string) => void;
  };
  progress?: {
    create(options: { message?: string; name?: string }): {
      update(message: string): void;
      remove(): void;
    };
  };
}
