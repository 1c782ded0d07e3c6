import type { KafkaClient } from '@aws-sdk/client-kafka';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  ACCOUNT,
  clusterArn,
  type FakeMskApi,
  type ReceivedRequest,
  startFakeMskApi,
  type WireCluster,
} from '../../test/fixtures/msk-api.ts';
import { DogearError } from '../errors.ts';
import {
  bootstrapBrokers,
  type ClusterAuth,
  describeClusterAuth,
  MskAccessDeniedError,
  MskAuthError,
  MskClusterAmbiguousError,
  MskClusterNotFoundError,
  MskError,
  MskRequestError,
  mappingAuth,
  mskClient,
  resolveClusterArn,
} from './msk.ts';

const credentials = { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' };
const region = 'us-east-1';

/** A provisioned cluster as DescribeClusterV2/ListClustersV2 put it on the wire. */
function provisioned(name: string, clientAuthentication?: Record<string, unknown>): WireCluster {
  return {
    clusterArn: clusterArn(name),
    clusterName: name,
    clusterType: 'PROVISIONED',
    state: 'ACTIVE',
    creationTime: '2025-03-04T10:11:12.345Z',
    currentVersion: 'K3AEGXETSR30VB',
    tags: {},
    provisioned: {
      brokerNodeGroupInfo: {
        brokerAZDistribution: 'DEFAULT',
        clientSubnets: ['subnet-0a1b2c3d', 'subnet-4e5f6a7b'],
        instanceType: 'kafka.m7g.large',
        securityGroups: ['sg-0123456789abcdef0'],
      },
      currentBrokerSoftwareInfo: { kafkaVersion: '3.6.0' },
      encryptionInfo: { encryptionInTransit: { clientBroker: 'TLS', inCluster: true } },
      enhancedMonitoring: 'DEFAULT',
      numberOfBrokerNodes: 2,
      ...(clientAuthentication ? { clientAuthentication } : {}),
    },
  };
}

const orders = provisioned('orders', {
  sasl: { iam: { enabled: true }, scram: { enabled: true } },
  tls: { enabled: false, certificateAuthorityArnList: [] },
  unauthenticated: { enabled: false },
});
const ordersV2 = provisioned('orders-v2', { unauthenticated: { enabled: true } });
const ordersDlq = provisioned('orders-dlq', { sasl: { iam: { enabled: true } } });
// A cluster from before `tls.enabled` existed: only the CA list says mTLS is on.
const legacyTls = provisioned('legacy-tls', {
  tls: {
    certificateAuthorityArnList: [
      `arn:aws:acm-pca:us-east-1:${ACCOUNT}:certificate-authority/11111111-2222-3333-4444-555555555555`,
    ],
  },
});
const openCluster = provisioned('open');
const events: WireCluster = {
  clusterArn: clusterArn('events'),
  clusterName: 'events',
  clusterType: 'SERVERLESS',
  state: 'ACTIVE',
  creationTime: '2025-05-06T07:08:09.000Z',
  currentVersion: 'K2EUQ1WTGCTBG2',
  serverless: {
    vpcConfigs: [{ subnetIds: ['subnet-0a1b2c3d'], securityGroupIds: ['sg-0123456789abcdef0'] }],
    clientAuthentication: { sasl: { iam: { enabled: true } } },
  },
};

const host = (n: number, id: string) => `b-${n}.${id}.c2.kafka.us-east-1.amazonaws.com`;

let api: FakeMskApi;
let client: KafkaClient;

beforeAll(async () => {
  api = await startFakeMskApi({
    // Listing order puts `orders` after its prefix-mates, so finding it needs every page.
    clusters: [ordersV2, ordersDlq, orders, events, legacyTls, openCluster],
    brokers: {
      [orders.clusterArn]: {
        bootstrapBrokerStringSaslIam: `${host(1, 'orders')}:9098,${host(2, 'orders')}:9098`,
        bootstrapBrokerStringSaslScram: `${host(1, 'orders')}:9096,${host(2, 'orders')}:9096`,
        bootstrapBrokerStringPublicSaslIam: `${host(1, 'orders')}:9198,${host(2, 'orders')}:9198`,
      },
      [events.clusterArn]: {
        bootstrapBrokerStringSaslIam:
          'boot-abc123.c2.kafka-serverless.us-east-1.amazonaws.com:9098',
      },
      [legacyTls.clusterArn]: {
        bootstrapBrokerStringTls: `${host(1, 'legacy')}:9094,${host(2, 'legacy')}:9094`,
      },
    },
  });
  client = mskClient({ region, endpoint: api.endpoint, credentials });
});

afterAll(async () => {
  client.destroy();
  await api.close();
});

afterEach(() => {
  api.requests.length = 0;
  api.denyAccess = false;
  api.pageLimit = 100;
  vi.unstubAllEnvs();
});

/** A SigV4 header for the fake credentials, scoped to MSK's signing name `kafka` in us-east-1. */
function expectSigned(request: ReceivedRequest) {
  expect(request.headers.authorization).toMatch(
    /^AWS4-HMAC-SHA256 Credential=AKIDTEST\/\d{8}\/us-east-1\/kafka\/aws4_request, SignedHeaders=[^,]*\bhost\b[^,]*\bx-amz-date\b[^,]*, Signature=[0-9a-f]{64}$/,
  );
  expect(request.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
  // The fake recomputes the signature with the secret, canonical path and query included.
  expect(request.signature).toBe('valid');
}

describe('resolveClusterArn', () => {
  it('picks the exact name out of the prefix listing, reading every page', async () => {
    api.pageLimit = 1;
    await expect(resolveClusterArn('orders', client)).resolves.toBe(orders.clusterArn);

    expect(api.requests.map(({ method, rawPath, query }) => ({ method, rawPath, query }))).toEqual([
      {
        method: 'GET',
        rawPath: '/api/v2/clusters',
        query: { clusterNameFilter: 'orders', maxResults: '100' },
      },
      {
        method: 'GET',
        rawPath: '/api/v2/clusters',
        query: { clusterNameFilter: 'orders', maxResults: '100', nextToken: expect.any(String) },
      },
      {
        method: 'GET',
        rawPath: '/api/v2/clusters',
        query: { clusterNameFilter: 'orders', maxResults: '100', nextToken: expect.any(String) },
      },
    ]);
    expect(api.requests[1]?.query.nextToken).not.toBe(api.requests[2]?.query.nextToken);
    api.requests.forEach(expectSigned);
  });

  it('names the region and the nearest clusters when none has the name', async () => {
    const error = await resolveClusterArn('ordrs', client).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MskClusterNotFoundError);
    expect(error).toBeInstanceOf(MskError);
    expect(error).toBeInstanceOf(DogearError);
    expect((error as Error).message).toBe(
      "No MSK cluster named 'ordrs' in us-east-1; clusters there: orders, orders-v2, open, orders-dlq, events and 1 more; Did you mean 'orders'?",
    );
    expect(error).toMatchObject({
      name: 'MskClusterNotFoundError',
      cluster: 'ordrs',
      region,
      nearNames: ['orders', 'orders-v2', 'open', 'orders-dlq', 'events'],
    });
    // The filtered listing missed, then one unfiltered listing to find near names.
    expect(api.requests.map((r) => r.query)).toEqual([
      { clusterNameFilter: 'ordrs', maxResults: '100' },
      { maxResults: '100' },
    ]);
  });

  it('says the region is empty when it is', async () => {
    const empty = await startFakeMskApi({ clusters: [] });
    const emptyClient = mskClient({ region, endpoint: empty.endpoint, credentials });
    try {
      await expect(resolveClusterArn('orders', emptyClient)).rejects.toThrow(
        "No MSK cluster named 'orders' in us-east-1, which has no clusters; Did you mean another region?",
      );
    } finally {
      emptyClient.destroy();
      await empty.close();
    }
  });

  it('refuses to guess between two clusters with the same name', async () => {
    const twin = { ...orders, clusterArn: clusterArn('orders') };
    const twins = await startFakeMskApi({ clusters: [orders, twin] });
    const twinsClient = mskClient({ region, endpoint: twins.endpoint, credentials });
    try {
      const error = await resolveClusterArn('orders', twinsClient).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MskClusterAmbiguousError);
      expect(error).toMatchObject({ arns: [orders.clusterArn, twin.clusterArn] });
      expect((error as Error).message).toMatch(/^2 MSK clusters are named 'orders' in us-east-1 /);
    } finally {
      twinsClient.destroy();
      await twins.close();
    }
  });
});

describe('describeClusterAuth', () => {
  it('reads provisioned.clientAuthentication', async () => {
    await expect(describeClusterAuth(orders.clusterArn, client)).resolves.toEqual({
      kind: 'provisioned',
      auth: ['IAM', 'SASL_SCRAM'],
    });
    const [request] = api.requests;
    // The ARN is one path segment: its `:` and `/` are percent-encoded.
    expect(request).toMatchObject({
      method: 'GET',
      rawPath: `/api/v2/clusters/${encodeURIComponent(orders.clusterArn)}`,
      query: {},
    });
    expect(request?.rawPath).toContain(
      'arn%3Aaws%3Akafka%3Aus-east-1%3A123456789012%3Acluster%2Forders%2F',
    );
    expectSigned(request!);
  });

  it('reads serverless.clientAuthentication', async () => {
    await expect(describeClusterAuth(events.clusterArn, client)).resolves.toEqual({
      kind: 'serverless',
      auth: ['IAM'],
    });
  });

  it('counts mTLS on from the CA list when tls.enabled is absent', async () => {
    await expect(describeClusterAuth(legacyTls.clusterArn, client)).resolves.toEqual({
      kind: 'provisioned',
      auth: ['TLS'],
    });
  });

  it('treats a cluster without client authentication settings as unauthenticated', async () => {
    await expect(describeClusterAuth(openCluster.clusterArn, client)).resolves.toEqual({
      kind: 'provisioned',
      auth: ['UNAUTHENTICATED'],
    });
    await expect(describeClusterAuth(ordersV2.clusterArn, client)).resolves.toEqual({
      kind: 'provisioned',
      auth: ['UNAUTHENTICATED'],
    });
  });

  it('turns a 404 NotFoundException into MskClusterNotFoundError, keeping the cause', async () => {
    const unknown = clusterArn('gone');
    const error = await describeClusterAuth(unknown, client).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MskClusterNotFoundError);
    expect((error as Error).message).toBe(
      `No MSK cluster with ARN '${unknown}' in us-east-1; Did you copy the ARN from another account or region, or was the cluster deleted?`,
    );
    expect((error as Error).cause).toMatchObject({
      name: 'NotFoundException',
      message: `The specified cluster was not found: ${unknown}`,
      InvalidParameter: 'clusterArn',
      $metadata: { httpStatusCode: 404 },
    });
  });

  it('wraps other service errors in MskRequestError', async () => {
    const error = await describeClusterAuth('orders', client).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MskRequestError);
    expect((error as Error).message).toBe(
      "kafka:DescribeClusterV2 failed for 'orders' in us-east-1: The cluster ARN is not valid.",
    );
    expect((error as Error).cause).toMatchObject({
      name: 'BadRequestException',
      $metadata: { httpStatusCode: 400 },
    });
  });
});

describe('bootstrapBrokers', () => {
  it('maps each listener and leaves out the ones the cluster lacks', async () => {
    await expect(bootstrapBrokers(orders.clusterArn, client)).resolves.toEqual({
      iam: `${host(1, 'orders')}:9098,${host(2, 'orders')}:9098`,
      scram: `${host(1, 'orders')}:9096,${host(2, 'orders')}:9096`,
      publicIam: `${host(1, 'orders')}:9198,${host(2, 'orders')}:9198`,
    });
    const [request] = api.requests;
    expect(request).toMatchObject({
      method: 'GET',
      rawPath: `/v1/clusters/${encodeURIComponent(orders.clusterArn)}/bootstrap-brokers`,
      query: {},
    });
    expectSigned(request!);
  });

  it('returns the TLS and serverless listeners', async () => {
    await expect(bootstrapBrokers(legacyTls.clusterArn, client)).resolves.toEqual({
      tls: `${host(1, 'legacy')}:9094,${host(2, 'legacy')}:9094`,
    });
    await expect(bootstrapBrokers(events.clusterArn, client)).resolves.toEqual({
      iam: 'boot-abc123.c2.kafka-serverless.us-east-1.amazonaws.com:9098',
    });
  });

  it('reports an unknown ARN as not found', async () => {
    await expect(bootstrapBrokers(clusterArn('gone'), client)).rejects.toBeInstanceOf(
      MskClusterNotFoundError,
    );
  });
});

describe('access denied', () => {
  it.each([
    ['kafka:ListClustersV2', () => resolveClusterArn('orders', client), 'orders', '"*"'],
    [
      'kafka:DescribeClusterV2',
      () => describeClusterAuth(orders.clusterArn, client),
      orders.clusterArn,
      'the cluster ARN',
    ],
    [
      'kafka:GetBootstrapBrokers',
      () => bootstrapBrokers(orders.clusterArn, client),
      orders.clusterArn,
      'the cluster ARN',
    ],
  ])('names %s and how to grant it', async (action, call, cluster, resource) => {
    api.denyAccess = true;
    const error = await call().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MskAccessDeniedError);
    expect(error).toMatchObject({ action, cluster, region });
    expect((error as Error).message).toBe(
      `Access denied to ${action} for '${cluster}' in us-east-1; Did you allow "${action}" on ${resource} in the deploying role's IAM policy?`,
    );
    // The SDK keeps the unmodelled error's type and the IAM message (sent as `Message`).
    expect((error as Error).cause).toMatchObject({
      name: 'AccessDeniedException',
      message: expect.stringContaining(`is not authorized to perform: ${action}`),
      $metadata: { httpStatusCode: 403 },
    });
    // 403 is not retried: one request.
    expect(api.requests).toHaveLength(1);
    expect(api.requests[0]?.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 /);
  });
});

describe('bad credentials', () => {
  it('are a request error with a credentials hint, not an access-denied one', async () => {
    const wrong = mskClient({
      region,
      endpoint: api.endpoint,
      credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'not-the-secret' },
    });
    try {
      const error = await bootstrapBrokers(orders.clusterArn, wrong).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MskRequestError);
      expect((error as Error).message).toMatch(
        /^kafka:GetBootstrapBrokers failed for 'arn:aws:kafka:.*' in us-east-1: The request signature we calculated does not match .*; Did the session expire, or do AWS_PROFILE \/ AWS_ACCESS_KEY_ID point at other credentials\?$/,
      );
      expect((error as Error).cause).toMatchObject({ name: 'InvalidSignatureException' });
      expect(api.requests[0]?.signature).toBe('invalid');
    } finally {
      wrong.destroy();
    }
  });
});

describe('mappingAuth', () => {
  const scramSecretArn = `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:AmazonMSK_orders-AbCdEf`;
  const clientCertificateSecretArn = `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:orders-cert-GhIjKl`;
  const cluster = (...auth: ClusterAuth['auth']): ClusterAuth => ({ kind: 'provisioned', auth });

  it('prefers IAM, which needs no secret', () => {
    expect(mappingAuth(cluster('IAM', 'SASL_SCRAM', 'TLS'), { scramSecretArn })).toEqual({
      method: 'IAM',
      sourceAccessConfigurations: [],
    });
    expect(mappingAuth({ kind: 'serverless', auth: ['IAM'] }).method).toBe('IAM');
  });

  it('uses SASL/SCRAM with its secret', () => {
    expect(
      mappingAuth(cluster('SASL_SCRAM', 'TLS'), { scramSecretArn, clientCertificateSecretArn }),
    ).toEqual({
      method: 'SASL_SCRAM',
      sourceAccessConfigurations: [{ Type: 'SASL_SCRAM_512_AUTH', URI: scramSecretArn }],
    });
  });

  it('uses mutual TLS with a client certificate when SCRAM has no secret', () => {
    expect(mappingAuth(cluster('SASL_SCRAM', 'TLS'), { clientCertificateSecretArn })).toEqual({
      method: 'TLS',
      sourceAccessConfigurations: [
        { Type: 'CLIENT_CERTIFICATE_TLS_AUTH', URI: clientCertificateSecretArn },
      ],
    });
  });

  it('falls back to unauthenticated access', () => {
    expect(mappingAuth(cluster('SASL_SCRAM', 'UNAUTHENTICATED'))).toEqual({
      method: 'UNAUTHENTICATED',
      sourceAccessConfigurations: [],
    });
  });

  it('says which secret is missing', () => {
    const error = (() => {
      try {
        mappingAuth(cluster('SASL_SCRAM'), { cluster: 'orders' });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(MskAuthError);
    expect(error).toMatchObject({
      cluster: 'orders',
      message:
        "MSK cluster 'orders' accepts only SASL/SCRAM, which need a secret; Did you forget `scramSecretArn` (a Secrets Manager secret named AmazonMSK_… with the SCRAM username and password)?",
    });
    expect(() => mappingAuth(cluster('SASL_SCRAM', 'TLS'))).toThrow(
      /^The MSK cluster accepts only SASL\/SCRAM and mutual TLS, which need a secret; Did you forget `scramSecretArn` .* or `clientCertificateSecretArn` /,
    );
    expect(() => mappingAuth(cluster('TLS'))).toThrow(/`clientCertificateSecretArn`/);
  });

  it('says when nothing is enabled', () => {
    expect(() => mappingAuth(cluster())).toThrow(/accepts no authentication/);
  });

  it('catches a secret name given for an ARN', () => {
    expect(() =>
      mappingAuth(cluster('SASL_SCRAM'), { scramSecretArn: 'AmazonMSK_orders' }),
    ).toThrow(
      "`scramSecretArn` must be a Secrets Manager secret ARN, got 'AmazonMSK_orders'; Did you give the secret's name instead of its ARN?",
    );
  });
});

describe('mskClient', () => {
  it('sends to DOGEAR_MSK_ENDPOINT when no endpoint is given', async () => {
    vi.stubEnv('DOGEAR_MSK_ENDPOINT', api.endpoint);
    const fromEnv = mskClient({ region, credentials });
    try {
      await expect(bootstrapBrokers(events.clusterArn, fromEnv)).resolves.toHaveProperty('iam');
      expect(api.requests).toHaveLength(1);
      expectSigned(api.requests[0]!);
    } finally {
      fromEnv.destroy();
    }
  });

  it('lets the endpoint option win over the environment', async () => {
    vi.stubEnv('DOGEAR_MSK_ENDPOINT', 'http://127.0.0.1:9');
    const explicit = mskClient({ region, credentials, endpoint: api.endpoint });
    try {
      await expect(describeClusterAuth(events.clusterArn, explicit)).resolves.toHaveProperty(
        'kind',
        'serverless',
      );
    } finally {
      explicit.destroy();
    }
  });
});
