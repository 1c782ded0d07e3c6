import {
  type ClientAuthentication,
  type Cluster,
  DescribeClusterV2Command,
  GetBootstrapBrokersCommand,
  KafkaClient,
  type KafkaClientConfig,
  paginateListClustersV2,
  type Tls,
} from '@aws-sdk/client-kafka';
import { DogearError } from '../errors.ts';
import { distance } from './suggest.ts';

/**
 * The MSK control plane, read-only: find a cluster by name, see how clients may authenticate to it,
 * and get its bootstrap brokers; what a Lambda event-source mapping for the cluster needs.
 */

// ---------------------------------------------------------------------------------------------
// Errors

/** Where an MSK error happened: the cluster name or ARN asked about, and the client's region. */
export interface MskErrorContext {
  readonly cluster?: string;
  readonly region?: string;
}

/** The base of errors about MSK clusters. */
export class MskError extends DogearError {
  override name = 'MskError';
  readonly cluster?: string;
  readonly region?: string;
  constructor(message: string, context: MskErrorContext = {}, options?: ErrorOptions) {
    super(message, options);
    this.cluster = context.cluster;
    this.region = context.region;
  }
}

/** No cluster has that name (or ARN) in the region; `nearNames` are the closest names there. */
export class MskClusterNotFoundError extends MskError {
  override name = 'MskClusterNotFoundError';
  readonly nearNames: readonly string[];
  constructor(
    message: string,
    context: MskErrorContext & { nearNames?: readonly string[] },
    options?: ErrorOptions,
  ) {
    super(message, context, options);
    this.nearNames = context.nearNames ?? [];
  }
}

/** More than one cluster answers to the name; `arns` lists them. */
export class MskClusterAmbiguousError extends MskError {
  override name = 'MskClusterAmbiguousError';
  readonly arns: readonly string[];
  constructor(message: string, context: MskErrorContext & { arns: readonly string[] }) {
    super(message, context);
    this.arns = context.arns;
  }
}

/** IAM refused one of the MSK actions dogear needs; `action` is the IAM action to grant. */
export class MskAccessDeniedError extends MskError {
  override name = 'MskAccessDeniedError';
  readonly action: MskAction;
  constructor(
    message: string,
    context: MskErrorContext & { action: MskAction },
    options?: ErrorOptions,
  ) {
    super(message, context, options);
    this.action = context.action;
  }
}

/** Any other failed MSK request (throttling past retries, a malformed ARN, the network). */
export class MskRequestError extends MskError {
  override name = 'MskRequestError';
}

/** The cluster accepts no authentication the event-source mapping can use with what was given. */
export class MskAuthError extends MskError {
  override name = 'MskAuthError';
}

/** The IAM actions dogear calls, named as a policy spells them. */
export type MskAction =
  | 'kafka:ListClustersV2'
  | 'kafka:DescribeClusterV2'
  | 'kafka:GetBootstrapBrokers';

// ---------------------------------------------------------------------------------------------
// Client

export interface MskClientOptions {
  /**
   * The region of the cluster.
   * @default the SDK's chain: `AWS_REGION`, then the profile
   */
  region?: string;
  /**
   * Where to send MSK API requests instead of `https://kafka.<region>.amazonaws.com`; for tests and
   * local fakes.
   * @default process.env.DOGEAR_MSK_ENDPOINT
   */
  endpoint?: string;
  /**
   * The credentials to sign requests with.
   * @default the SDK's default credential chain
   */
  credentials?: KafkaClientConfig['credentials'];
}

/** A KafkaClient (the MSK control-plane API, not a Kafka protocol client). */
export function mskClient(options: MskClientOptions = {}): KafkaClient {
  const config: KafkaClientConfig = {};
  if (options.region) config.region = options.region;
  // An empty variable is "unset", so `DOGEAR_MSK_ENDPOINT= dogear deploy` reaches AWS.
  const endpoint = options.endpoint || process.env.DOGEAR_MSK_ENDPOINT || undefined;
  if (endpoint) config.endpoint = endpoint;
  if (options.credentials) config.credentials = options.credentials;
  return new KafkaClient(config);
}

// ---------------------------------------------------------------------------------------------
// Clusters

/**
 * The ARN of the cluster named exactly `name`. `ClusterNameFilter` is a prefix match, so `orders` also
 * lists `orders-v2`; every page is read so a duplicate name is reported rather than guessed.
 */
export async function resolveClusterArn(name: string, client: KafkaClient): Promise<string> {
  const region = await regionOf(client);
  const listed = await listClusters(client, name, region, name);
  const exact = listed.filter((c) => c.ClusterName === name);
  if (exact.length === 1 && exact[0]?.ClusterArn) return exact[0].ClusterArn;

  if (exact.length > 1) {
    const arns = exact.map((c) => c.ClusterArn ?? '?');
    throw new MskClusterAmbiguousError(
      `${exact.length} MSK clusters are named '${name}' in ${region} (${arns.join(', ')}); Did you mean to give an ARN?`,
      { cluster: name, region, arns },
    );
  }

  // Only on a miss: list the whole region once more, to show what the user may have meant.
  const everything = await listClusters(client, undefined, region, name);
  const names = everything.map((c) => c.ClusterName ?? '').filter(Boolean);
  throw notFoundByName(name, region, names);
}

/**
 * How clients may authenticate to the cluster, in the order `mappingAuth` prefers them. `TLS` means
 * mutual TLS (a client certificate); TLS encryption alone is `UNAUTHENTICATED`.
 */
export interface ClusterAuth {
  kind: 'provisioned' | 'serverless';
  auth: ClusterAuthMethod[];
}

export type ClusterAuthMethod = 'IAM' | 'SASL_SCRAM' | 'TLS' | 'UNAUTHENTICATED';

export async function describeClusterAuth(arn: string, client: KafkaClient): Promise<ClusterAuth> {
  const region = await regionOf(client);
  const { ClusterInfo } = await request('kafka:DescribeClusterV2', arn, region, () =>
    client.send(new DescribeClusterV2Command({ ClusterArn: arn })),
  );
  const cluster: Cluster = ClusterInfo ?? {};
  if (cluster.ClusterType === 'SERVERLESS' || (!cluster.ClusterType && cluster.Serverless)) {
    // MSK Serverless only offers IAM, but report what it says rather than assume.
    const iam = cluster.Serverless?.ClientAuthentication?.Sasl?.Iam?.Enabled;
    return { kind: 'serverless', auth: iam ? ['IAM'] : [] };
  }
  return { kind: 'provisioned', auth: provisionedAuth(cluster.Provisioned?.ClientAuthentication) };
}

function provisionedAuth(settings: ClientAuthentication | undefined): ClusterAuthMethod[] {
  // Clusters created before MSK had client authentication settings have none, and accept anyone.
  if (!settings) return ['UNAUTHENTICATED'];
  const auth: ClusterAuthMethod[] = [];
  if (settings.Sasl?.Iam?.Enabled) auth.push('IAM');
  if (settings.Sasl?.Scram?.Enabled) auth.push('SASL_SCRAM');
  if (mutualTlsEnabled(settings.Tls)) auth.push('TLS');
  if (settings.Unauthenticated?.Enabled) auth.push('UNAUTHENTICATED');
  return auth;
}

/** `Tls.Enabled` came later than `CertificateAuthorityArnList`; older clusters only have the list. */
function mutualTlsEnabled(tls: Tls | undefined): boolean {
  if (tls?.Enabled !== undefined) return tls.Enabled;
  return (tls?.CertificateAuthorityArnList?.length ?? 0) > 0;
}

/** Bootstrap broker strings (comma-separated `host:port`), one per listener the cluster has. */
export interface BootstrapBrokers {
  /** SASL/IAM, port 9098. */
  iam?: string;
  /** SASL/SCRAM, port 9096. */
  scram?: string;
  /** TLS (with or without a client certificate), port 9094. */
  tls?: string;
  /** Plaintext, port 9092. */
  plaintext?: string;
  /** The public-access listeners, when the cluster has public access turned on. */
  publicIam?: string;
  publicScram?: string;
  publicTls?: string;
}

export async function bootstrapBrokers(
  arn: string,
  client: KafkaClient,
): Promise<BootstrapBrokers> {
  const region = await regionOf(client);
  const out = await request('kafka:GetBootstrapBrokers', arn, region, () =>
    client.send(new GetBootstrapBrokersCommand({ ClusterArn: arn })),
  );
  const brokers: BootstrapBrokers = {
    iam: out.BootstrapBrokerStringSaslIam,
    scram: out.BootstrapBrokerStringSaslScram,
    tls: out.BootstrapBrokerStringTls,
    plaintext: out.BootstrapBrokerString,
    publicIam: out.BootstrapBrokerStringPublicSaslIam,
    publicScram: out.BootstrapBrokerStringPublicSaslScram,
    publicTls: out.BootstrapBrokerStringPublicTls,
  };
  // Drop the listeners the cluster does not have, so the result prints and compares cleanly.
  return Object.fromEntries(
    Object.entries(brokers).filter(([, value]) => value),
  ) as BootstrapBrokers;
}

// ---------------------------------------------------------------------------------------------
// What the event-source mapping should use

export interface MappingAuthOptions {
  /** A Secrets Manager secret ARN holding SCRAM `username`/`password`; its name starts `AmazonMSK_`. */
  scramSecretArn?: string;
  /** A Secrets Manager secret ARN holding a PEM client `certificate` and `privateKey`, for mTLS. */
  clientCertificateSecretArn?: string;
  /** The cluster's name or ARN, for messages. */
  cluster?: string;
}

/** `SourceAccessConfigurations` of an event-source mapping, shaped as the Lambda API and CloudFormation take them. */
export type SourceAccessConfiguration =
  | { Type: 'SASL_SCRAM_512_AUTH'; URI: string }
  | { Type: 'CLIENT_CERTIFICATE_TLS_AUTH'; URI: string };

export interface MappingAuth {
  method: ClusterAuthMethod;
  sourceAccessConfigurations: SourceAccessConfiguration[];
}

/**
 * Picks how the Lambda event-source mapping authenticates to the cluster: the first of these the
 * cluster accepts and that needs nothing missing from `options`.
 *
 * 1. IAM: no secret; the function's execution role needs `kafka-cluster:Connect`, `ReadData` and
 *    the other `kafka-cluster:` actions Lambda documents. No `SourceAccessConfigurations`.
 * 2. SASL/SCRAM: needs `scramSecretArn` → `SASL_SCRAM_512_AUTH` (Lambda only does SCRAM-SHA-512).
 * 3. TLS: mutual TLS, needs `clientCertificateSecretArn` → `CLIENT_CERTIFICATE_TLS_AUTH`.
 * 4. Unauthenticated: no secret, no `SourceAccessConfigurations`.
 *
 * IAM comes first because it leaves no secret to store or rotate. So a cluster that accepts SCRAM and
 * unauthenticated clients, given no secret, is read unauthenticated; a cluster whose only methods
 * need a missing secret is an `MskAuthError` naming the option to set.
 */
export function mappingAuth(cluster: ClusterAuth, options: MappingAuthOptions = {}): MappingAuth {
  const accepts = (method: ClusterAuthMethod) => cluster.auth.includes(method);
  const where = options.cluster ? `MSK cluster '${options.cluster}'` : 'The MSK cluster';

  if (accepts('IAM')) return { method: 'IAM', sourceAccessConfigurations: [] };
  if (accepts('SASL_SCRAM') && options.scramSecretArn) {
    const URI = secretArn(options.scramSecretArn, 'scramSecretArn', options.cluster);
    return {
      method: 'SASL_SCRAM',
      sourceAccessConfigurations: [{ Type: 'SASL_SCRAM_512_AUTH', URI }],
    };
  }
  if (accepts('TLS') && options.clientCertificateSecretArn) {
    const URI = secretArn(
      options.clientCertificateSecretArn,
      'clientCertificateSecretArn',
      options.cluster,
    );
    return {
      method: 'TLS',
      sourceAccessConfigurations: [{ Type: 'CLIENT_CERTIFICATE_TLS_AUTH', URI }],
    };
  }
  if (accepts('UNAUTHENTICATED'))
    return { method: 'UNAUTHENTICATED', sourceAccessConfigurations: [] };

  const missing = [
    accepts('SASL_SCRAM') &&
      '`scramSecretArn` (a Secrets Manager secret named AmazonMSK_… with the SCRAM username and password)',
    accepts('TLS') &&
      '`clientCertificateSecretArn` (a Secrets Manager secret with the client certificate and private key)',
  ].filter(Boolean);
  const message = missing.length
    ? `${where} accepts only ${describeMethods(cluster.auth)}, which need a secret; Did you forget ${missing.join(' or ')}?`
    : `${where} accepts no authentication a Lambda event-source mapping can use; Did you enable IAM, SASL/SCRAM, TLS or unauthenticated access on it?`;
  throw new MskAuthError(message, { cluster: options.cluster });
}

function secretArn(value: string, option: string, cluster: string | undefined): string {
  if (/^arn:aws[\w-]*:secretsmanager:/.test(value)) return value;
  throw new MskAuthError(
    `\`${option}\` must be a Secrets Manager secret ARN, got '${value}'; Did you give the secret's name instead of its ARN?`,
    { cluster },
  );
}

function describeMethods(methods: readonly ClusterAuthMethod[]): string {
  const words = {
    IAM: 'IAM',
    SASL_SCRAM: 'SASL/SCRAM',
    TLS: 'mutual TLS',
    UNAUTHENTICATED: 'unauthenticated',
  };
  return methods.map((m) => words[m]).join(' and ');
}

// ---------------------------------------------------------------------------------------------
// Requests and their errors

/** Every page of ListClustersV2, optionally narrowed to names starting with `prefix`. */
async function listClusters(
  client: KafkaClient,
  prefix: string | undefined,
  region: string,
  asked: string,
): Promise<Cluster[]> {
  return request('kafka:ListClustersV2', asked, region, async () => {
    const clusters: Cluster[] = [];
    // 100 is MSK's largest page; fewer round trips when a region has many clusters.
    const pages = paginateListClustersV2({ client, pageSize: 100 }, { ClusterNameFilter: prefix });
    for await (const page of pages) clusters.push(...(page.ClusterInfoList ?? []));
    return clusters;
  });
}

/** Runs one MSK call, turning SDK errors into dogear's, with the SDK error as `cause`. */
async function request<T>(
  action: MskAction,
  cluster: string,
  region: string,
  send: () => Promise<T>,
): Promise<T> {
  try {
    return await send();
  } catch (error) {
    throw translate(error, action, cluster, region);
  }
}

function translate(error: unknown, action: MskAction, cluster: string, region: string): MskError {
  const name = error instanceof Error ? error.name : '';
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const detail = error instanceof Error ? error.message : String(error);

  // IAM denials arrive as the unmodelled AccessDeniedException; MSK's own 403 is ForbiddenException.
  if (name === 'AccessDeniedException' || name === 'ForbiddenException') {
    const resource = action === 'kafka:ListClustersV2' ? '"*"' : 'the cluster ARN';
    return new MskAccessDeniedError(
      `Access denied to ${action} for '${cluster}' in ${region}; Did you allow "${action}" on ${resource} in the deploying role's IAM policy?`,
      { cluster, region, action },
      { cause: error },
    );
  }
  if (name === 'NotFoundException' && action !== 'kafka:ListClustersV2') {
    return new MskClusterNotFoundError(
      `No MSK cluster with ARN '${cluster}' in ${region}; Did you copy the ARN from another account or region, or was the cluster deleted?`,
      { cluster, region },
      { cause: error },
    );
  }
  // Other 403s are about the credentials themselves, not what they may do.
  const hint =
    status === 403 || status === 401
      ? '; Did the session expire, or do AWS_PROFILE / AWS_ACCESS_KEY_ID point at other credentials?'
      : '';
  return new MskRequestError(
    `${action} failed for '${cluster}' in ${region}: ${detail}${hint}`,
    { cluster, region },
    { cause: error },
  );
}

function notFoundByName(
  name: string,
  region: string,
  names: readonly string[],
): MskClusterNotFoundError {
  if (names.length === 0) {
    return new MskClusterNotFoundError(
      `No MSK cluster named '${name}' in ${region}, which has no clusters; Did you mean another region?`,
      { cluster: name, region },
    );
  }
  const near = nearest(name, names, 5);
  const more = names.length > near.length ? ` and ${names.length - near.length} more` : '';
  const best = near[0] !== undefined && distance(name.toLowerCase(), near[0].toLowerCase()) <= 2;
  const hint = best ? `; Did you mean '${near[0]}'?` : '';
  return new MskClusterNotFoundError(
    `No MSK cluster named '${name}' in ${region}; clusters there: ${near.join(', ')}${more}${hint}`,
    { cluster: name, region, nearNames: near },
  );
}

/** The `count` names closest to `name` by edit distance, ignoring case; ties keep listing order. */
function nearest(name: string, names: readonly string[], count: number): string[] {
  const wanted = name.toLowerCase();
  return names
    .map((candidate) => ({ candidate, d: distance(wanted, candidate.toLowerCase()) }))
    .sort((a, b) => a.d - b.d)
    .slice(0, count)
    .map(({ candidate }) => candidate);
}

/** For messages only: a missing region fails the request itself, with the SDK's own error. */
async function regionOf(client: KafkaClient): Promise<string> {
  try {
    return (await client.config.region()) || 'an unknown region';
  } catch {
    return 'an unknown region';
  }
}
