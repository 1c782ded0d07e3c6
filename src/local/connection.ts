/**
 * How the local commands (`dogear dev`, `produce`, `record`) reach a cluster: TLS and SASL, as
 * @platformatic/kafka wants them, and what to tell the user when the connection fails.
 */
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import type { BaseOptions } from '@platformatic/kafka';
import { LocalInputError } from './errors.ts';

/** SASL for a secured cluster; MSK uses SCRAM (port 9096) or IAM (port 9098), both over TLS. */
export type KafkaSaslOptions =
  | {
      mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
      username: string;
      password: string;
    }
  | {
      mechanism: 'OAUTHBEARER';
      /** A token, or a function called for every new connection and re-authentication. */
      token: string | (() => string | Promise<string>);
    }
  | {
      /** MSK IAM access control: an OAUTHBEARER token signed with the environment's credentials. */
      mechanism: 'AWS_MSK_IAM';
      region?: string;
    };

/** How to reach a cluster besides its brokers. */
export interface KafkaConnectionOptions {
  sasl?: KafkaSaslOptions;
  /** `true` for TLS with Node's default CAs (enough for MSK), or Node's TLS options. @default false */
  tls?: boolean | TlsConnectionOptions;
}

/**
 * MSK IAM is OAUTHBEARER with a token AWS's own signer (aws-msk-iam-sasl-signer-js) makes from
 * the environment's credentials; the client asks for a new one on every connection and
 * re-authentication.
 */
async function mskIamToken(region: string): Promise<string> {
  const { generateAuthToken } = await import('aws-msk-iam-sasl-signer-js');
  return (await generateAuthToken({ region })).token;
}

/** Maps dogear's connection options to @platformatic/kafka's. */
export function kafkaClientOptions(
  connection: KafkaConnectionOptions,
): Pick<BaseOptions, 'sasl' | 'tls' | 'tlsServerName'> {
  const tls = connection.tls === true ? {} : connection.tls || undefined;
  // SNI with the broker's host name, as Java clients send it.
  const tlsOptions = tls ? { tls, tlsServerName: true } : {};
  const sasl = connection.sasl;
  if (!sasl) return tlsOptions;
  switch (sasl.mechanism) {
    case 'PLAIN':
    case 'SCRAM-SHA-256':
    case 'SCRAM-SHA-512':
      return {
        ...tlsOptions,
        sasl: { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password },
      };
    case 'OAUTHBEARER':
      return { ...tlsOptions, sasl: { mechanism: 'OAUTHBEARER', token: sasl.token } };
    case 'AWS_MSK_IAM': {
      const region = sasl.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
      if (!region) {
        throw new LocalInputError('MSK IAM authentication needs a region: set AWS_REGION');
      }
      return {
        ...(tls ? tlsOptions : { tls: {}, tlsServerName: true }),
        sasl: { mechanism: 'OAUTHBEARER', token: () => mskIamToken(region) },
      };
    }
    default:
      throw new LocalInputError(
        `Unknown SASL mechanism '${(sasl as { mechanism: string }).mechanism}'; expected PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER or AWS_MSK_IAM`,
      );
  }
}

/**
 * Why a client could not reach `brokers`, and what to change. The client wraps the cause in
 * layers of "Cannot connect to any broker"; the layer worth showing is the broker refusing the
 * credentials, or else the innermost network error.
 */
export function connectionProblem(
  error: unknown,
  brokers: readonly string[],
  connection: KafkaConnectionOptions,
): string {
  const at = brokers.join(',');
  const causes = [...errorChain(error)];
  if (causes.some((e) => (e as { code?: string }).code === 'PLT_KFK_AUTHENTICATION')) {
    const { sasl } = connection;
    const who = sasl && 'username' in sasl ? ` as ${sasl.username}` : '';
    return `Kafka at ${at} refused the SASL credentials (${sasl?.mechanism ?? 'none'}${who}); check --sasl-mechanism, --sasl-username and --sasl-password (DOGEAR_SASL_USERNAME, DOGEAR_SASL_PASSWORD)`;
  }
  const untrusted = causes.find((e) => CERTIFICATE_ERROR.test((e as { code?: string }).code ?? ''));
  if (untrusted) {
    return `Kafka at ${at} presented a certificate Node does not trust (${(untrusted as Error).message}); pass the cluster's CA with --tls-ca <file.pem> (DOGEAR_TLS_CA)`;
  }
  const innermost = causes.at(-1) as Error | undefined;
  const reason = innermost?.message ?? String(error);
  const secured = connection.sasl || connection.tls;
  return `Cannot reach Kafka at ${at} (${reason}); is a broker running there (npm run kafka)? Set --brokers or KAFKA_BROKERS${secured ? '' : ', and --tls or --sasl-mechanism if the cluster is secured'}`;
}

/** OpenSSL's verification failures, as Node reports them on a TLS socket's error. */
const CERTIFICATE_ERROR =
  /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_HAS_EXPIRED|CERT_UNTRUSTED|ERR_TLS_CERT_ALTNAME_INVALID)$/;

function* errorChain(error: unknown, depth = 0): Generator<unknown> {
  if (!(error instanceof Error) || depth > 8) return;
  yield error;
  for (const inner of (error as Error & { errors?: unknown[] }).errors ?? []) {
    yield* errorChain(inner, depth + 1);
  }
  yield* errorChain(error.cause, depth + 1);
}
