/**
 * How dogear reaches a cluster (the local commands `dogear dev`, `produce`, `record`, and the
 * relay in Lambda): TLS and SASL, as @platformatic/kafka wants them, and what to tell the user
 * when the connection fails.
 */
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import type { BaseOptions } from '@platformatic/kafka';
import { DogearError } from '../errors.ts';
import { OutputConfigError } from './errors.ts';

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
        throw new OutputConfigError('MSK IAM authentication needs a region: set AWS_REGION');
      }
      return {
        ...(tls ? tlsOptions : { tls: {}, tlsServerName: true }),
        sasl: { mechanism: 'OAUTHBEARER', token: () => mskIamToken(region) },
      };
    }
    default:
      throw new OutputConfigError(
        `Unknown SASL mechanism '${(sasl as { mechanism: string }).mechanism}'; expected PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER or AWS_MSK_IAM`,
      );
  }
}

/** What @platformatic/kafka's errors carry that says what went wrong. */
export interface ClientError extends Error {
  code?: string;
  /** A Kafka protocol error's name, e.g. `TOPIC_AUTHORIZATION_FAILED`. */
  apiId?: string;
  serverErrorMessage?: string | null;
}

/**
 * Why a client could not do its work at `brokers`, and what to change. The client wraps the
 * cause in layers ("metadata failed 3 times", "Cannot connect to any broker"); this finds the
 * layer that explains it: a refused credential, a mechanism the listener lacks, a token that
 * could not be made, an ACL, an untrusted certificate, or else the innermost network error.
 */
export function connectionProblem(
  error: unknown,
  brokers: readonly string[],
  connection: KafkaConnectionOptions,
): string {
  // A mistake in the options themselves (a missing region) already says what to change.
  if (error instanceof DogearError) return error.message;
  const at = brokers.join(',');
  const causes = [...errorChain(error)];
  const mechanism = connection.sasl?.mechanism ?? 'none';

  const denied = causes.find((e) => e.apiId?.endsWith('_AUTHORIZATION_FAILED'));
  if (denied) {
    return `Kafka at ${at} denied a request: ${denied.apiId}${denied.serverErrorMessage ? ` (${denied.serverErrorMessage})` : ''}; the principal needs ACLs (with MSK IAM: an IAM policy) for the topic and consumer group`;
  }
  const auth = causes.filter((e) => e.code === 'PLT_KFK_AUTHENTICATION');
  if (auth.some((e) => e.message === 'Cannot find a suitable SASL mechanism.')) {
    return `Kafka at ${at} does not offer SASL ${mechanism} on this listener; check --sasl-mechanism and --brokers (MSK: SCRAM-SHA-512 on port 9096, AWS_MSK_IAM on 9098)`;
  }
  const provider = auth.find((e) => /provider threw an error/.test(e.message));
  if (provider) {
    const why = [...errorChain(provider.cause)].at(-1)?.message ?? provider.message;
    return `Cannot make the ${mechanism} token for Kafka at ${at} (${why}); check the AWS credentials and AWS_REGION in the environment`;
  }
  if (auth.length > 0) {
    if (mechanism === 'AWS_MSK_IAM' || mechanism === 'OAUTHBEARER') {
      return `Kafka at ${at} refused the ${mechanism} token; check that an IAM policy allows kafka-cluster:Connect on the cluster to these AWS credentials`;
    }
    const { sasl } = connection;
    const who = sasl && 'username' in sasl ? ` as ${sasl.username}` : '';
    return `Kafka at ${at} refused the SASL credentials (${mechanism}${who}); check --sasl-mechanism, --sasl-username and --sasl-password (DOGEAR_SASL_USERNAME, DOGEAR_SASL_PASSWORD)`;
  }
  const certificate = causes.find((e) => CERTIFICATE_ERROR.test(e.code ?? ''));
  if (certificate?.code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `Kafka at ${at} presented a certificate for another host name (${certificate.message}); connect by a name the certificate holds`;
  }
  if (certificate) {
    return `Kafka at ${at} presented a certificate Node does not trust (${certificate.message}); pass the cluster's CA with --tls-ca <file.pem> (DOGEAR_TLS_CA)`;
  }
  const reason = causes.at(-1)?.message ?? String(error);
  const secured = connection.sasl || connection.tls;
  return `Cannot reach Kafka at ${at} (${reason}); is a broker running there (npm run kafka)? Set --brokers or KAFKA_BROKERS${secured ? '' : ', and --tls or --sasl-mechanism if the cluster is secured'}`;
}

/** OpenSSL's verification failures, as Node reports them on a TLS socket's error. */
const CERTIFICATE_ERROR =
  /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_HAS_EXPIRED|CERT_UNTRUSTED|ERR_TLS_CERT_ALTNAME_INVALID)$/;

/** Every error in `error`, depth first: itself, an AggregateError's errors, then its cause. */
export function* errorChain(error: unknown, depth = 0): Generator<ClientError> {
  if (!(error instanceof Error) || depth > 8) return;
  yield error;
  for (const inner of (error as Error & { errors?: unknown[] }).errors ?? []) {
    yield* errorChain(inner, depth + 1);
  }
  yield* errorChain(error.cause, depth + 1);
}
