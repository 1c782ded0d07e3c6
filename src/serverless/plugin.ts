import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { BuildManifest } from '../build/index.ts';
import { DogearError } from '../errors.ts';
import { parseOptions } from './config.ts';
import { ServerlessConfigError } from './errors.ts';
import { type ProviderSection, providerRoleOf } from './iam.ts';
import { planService } from './plan.ts';
import { patchTemplate } from './template.ts';
import type {
  CloudFormationTemplate,
  DogearServerlessOptions,
  MskAuth,
  PluginUtils,
  ResolvedSource,
  ServiceContext,
  ServicePlan,
} from './types.ts';
import { zipDirectory } from './zip.ts';

/** The parts of the framework's `serverless` object the plugin touches (v3, v4, osls). */
export interface Serverless {
  serviceDir?: string;
  config?: { servicePath?: string };
  service: {
    service: string;
    provider: ProviderSection & {
      name: string;
      runtime?: string;
      logRetentionInDays?: unknown;
      compiledCloudFormationTemplate: CloudFormationTemplate;
    };
    custom?: { dogear?: unknown };
    functions?: Record<string, unknown>;
    package?: { path?: string; patterns?: string[] };
  };
  processedInput?: { commands?: string[] };
  getProvider(name: 'aws'): {
    getStage(): string;
    getRegion(): string;
    naming: { getLambdaLogicalId(functionName: string): string };
  };
  configSchemaHandler?: {
    defineCustomProperties(schema: object): void;
    defineProvider?(name: string, options: { definitions?: Record<string, unknown> }): void;
    /** The framework's JSON schema (v3, osls); read to extend its list of runtimes. */
    schema?: { definitions?: Record<string, unknown> };
  };
  classes?: { Error?: new (message: string, code?: string, options?: ErrorOptions) => Error };
}

/**
 * `custom.dogear` for the framework's schema: types only; unknown keys are left to
 * `parseOptions`, whose message names the option (`Unknown option 'custom.dogear.x'`).
 */
const SCHEMA = {
  properties: {
    dogear: {
      type: 'object',
      properties: {
        functions: { type: 'string' },
        sdk: { enum: ['bundle', 'runtime'] },
        runtime: { enum: ['nodejs22.x', 'nodejs24.x'] },
        msk: { type: 'object' },
        kafka: { type: 'object' },
        table: { type: 'object' },
        defaults: { type: 'object' },
        consumers: { type: 'object' },
        logRetentionInDays: { type: 'integer' },
        alarms: { type: 'object' },
      },
    },
  },
};

/** The runtimes dogear builds for, which each function of a dogear service may name. */
const RUNTIMES = ['nodejs22.x', 'nodejs24.x'];

/**
 * Serverless v3's schema stops at nodejs20.x, so `configValidationMode: error` rejects
 * `provider.runtime: nodejs24.x`, which dogear's functions run on. Lambda takes it, and the
 * framework passes it through as is: add dogear's runtimes to the framework's list where they
 * are missing (osls and v4 list them already), through the schema API providers use.
 */
function extendRuntimeSchema(handler: Serverless['configSchemaHandler']): void {
  const runtime = handler?.schema?.definitions?.awsLambdaRuntime as { enum?: unknown } | undefined;
  if (!handler?.defineProvider || !Array.isArray(runtime?.enum)) return;
  const known: unknown[] = runtime.enum;
  const missing = RUNTIMES.filter((r) => !known.includes(r));
  if (missing.length === 0) return;
  handler.defineProvider('aws', {
    definitions: { awsLambdaRuntime: { ...runtime, enum: [...known, ...missing] } },
  });
}

/** Commands that only need the consumers' functions to exist, not a fresh build. */
const READ_COMMANDS = new Set(['info', 'logs', 'invoke', 'invoke local', 'metrics']);

/**
 * `plugins: [dogear/serverless]`: before the service is packaged, bundles every consumer
 * (`buildConsumers`), zips each bundle alone, and adds one function with its `msk`/`kafka` event
 * per consumer; after the events are compiled, completes each event-source mapping, adds the
 * state table and scopes the IAM statements to it and to the cluster's topics and groups.
 */
export class DogearServerlessPlugin {
  readonly hooks: Record<string, () => Promise<void>>;
  private plan: ServicePlan | undefined;
  /** The functions this plugin added, so a second run replaces them. */
  private readonly added = new Set<string>();

  constructor(
    private readonly serverless: Serverless,
    _cliOptions: Record<string, unknown> = {},
    private readonly utils: PluginUtils = {},
  ) {
    serverless.configSchemaHandler?.defineCustomProperties(SCHEMA);
    extendRuntimeSchema(serverless.configSchemaHandler);
    this.hooks = {
      initialize: () => this.guard(() => this.registerLastBuild()),
      'before:package:initialize': () => this.guard(() => this.prepare()),
      'before:deploy:function:initialize': () => this.guard(() => this.prepare()),
      'after:package:compileEvents': () => this.guard(async () => this.complete()),
    };
  }

  /** Builds, zips and adds the functions. */
  private async prepare(): Promise<void> {
    const started = performance.now();
    const options = this.dogearOptions();
    const root = this.serviceDir();
    const provider = this.serverless.service.provider.runtime;
    const runtime =
      options.runtime ??
      (provider === 'nodejs22.x' || provider === 'nodejs24.x' ? provider : 'nodejs24.x');

    const progress = this.utils.progress?.create({ message: 'dogear: bundling consumers' });
    try {
      const { buildConsumers } = await import('../build/index.ts');
      const manifest = await buildConsumers({
        root,
        functions: options.functions ?? 'functions',
        sdk: options.sdk ?? 'bundle',
        runtime,
        progress: (line) => {
          progress?.update(`dogear: ${line}`);
          this.utils.log?.verbose?.(`dogear: ${line}`);
        },
      });
      progress?.update('dogear: resolving the cluster');
      const source = await this.resolveSource(options);
      const service = this.serviceContext();
      const plan = planService({
        manifest,
        options,
        source,
        service,
        existingFunctions: this.userFunctions(),
        providerRole: providerRoleOf(this.serverless.service.provider),
      });
      progress?.update('dogear: zipping bundles');
      await mkdir(service.artifactDir, { recursive: true });
      for (const consumer of manifest.consumers) {
        await zipDirectory(
          join(root, consumer.dir),
          root,
          join(service.artifactDir, `${consumer.name}.zip`),
        );
      }
      this.register(plan);
      this.plan = plan;
      for (const warning of plan.warnings ?? []) this.utils.log?.warning?.(warning);
      this.utils.log?.info?.(
        `dogear: ${plan.consumers.length} consumers bundled and zipped in ${Math.round(performance.now() - started)} ms (${plan.consumers.map((c) => c.name).join(', ')})`,
      );
    } finally {
      progress?.remove();
    }
  }

  /** Sets what the framework's event compilers leave out; adds the table and IAM statements. */
  private complete(): void {
    if (!this.plan) return;
    const naming = this.serverless.getProvider('aws').naming;
    const warnings = patchTemplate(
      this.serverless.service.provider.compiledCloudFormationTemplate,
      this.plan,
      (name) => naming.getLambdaLogicalId(name),
    );
    for (const warning of warnings) this.utils.log?.warning?.(warning);
  }

  /** For `logs -f <consumer>` and the like: the functions of the last build, without events. */
  private async registerLastBuild(): Promise<void> {
    const command = this.serverless.processedInput?.commands?.join(' ') ?? '';
    if (!READ_COMMANDS.has(command)) return;
    const options = this.dogearOptions();
    const file = join(this.serviceDir(), '.dogear/build/manifest.json');
    if (!existsSync(file)) return;
    const manifest = JSON.parse(readFileSync(file, 'utf8')) as BuildManifest;
    this.register(planService({ manifest, options, service: this.serviceContext() }));
  }

  private register(plan: ServicePlan): void {
    const service = this.serverless.service;
    // Functions serverless.yml declares itself are zipped from the service folder: keep the
    // bundles out of them.
    service.package ??= {};
    service.package.patterns ??= [];
    if (!service.package.patterns.includes('!.dogear/**'))
      service.package.patterns.push('!.dogear/**');
    service.functions ??= {};
    for (const name of this.added) delete service.functions[name];
    this.added.clear();
    for (const consumer of plan.consumers) {
      service.functions[consumer.name] = consumer.function;
      this.added.add(consumer.name);
    }
  }

  /** The cluster as the mappings need it; only a cluster given by name calls AWS. */
  private async resolveSource(options: DogearServerlessOptions): Promise<ResolvedSource> {
    if (options.kafka) return { kind: 'kafka', kafka: options.kafka };
    const msk = options.msk!;
    const secretFor = (auth: MskAuth) =>
      auth === 'SASL_SCRAM'
        ? msk.scramSecretArn
        : auth === 'TLS'
          ? msk.clientCertificateSecretArn
          : undefined;
    const key =
      msk.secretsKmsKeyArn !== undefined ? { secretsKmsKeyArn: msk.secretsKmsKeyArn } : {};
    if (msk.arn !== undefined) {
      const auth = msk.auth ?? 'IAM';
      const secretArn = secretFor(auth);
      return { kind: 'msk', arn: msk.arn, auth, ...(secretArn ? { secretArn } : {}), ...key };
    }
    const { mskClient, resolveClusterArn, describeClusterAuth, mappingAuth } = await import(
      './msk.ts'
    );
    const client = mskClient({ region: this.serverless.getProvider('aws').getRegion() });
    try {
      const arn = await resolveClusterArn(msk.name, client);
      const cluster = await describeClusterAuth(arn, client);
      let auth: MskAuth;
      if (msk.auth) {
        if (!cluster.auth.includes(msk.auth)) {
          throw new ServerlessConfigError(
            `custom.dogear.msk.auth ${msk.auth} is not accepted by MSK cluster '${msk.name}', which accepts ${cluster.auth.join(', ') || 'nothing'}`,
            { option: 'custom.dogear.msk.auth' },
          );
        }
        auth = msk.auth;
      } else {
        // mappingAuth checks a secret's ARN form; one given as an intrinsic goes to the template as is.
        const asArn = (v: unknown) =>
          v === undefined || typeof v === 'string'
            ? v
            : 'arn:aws:secretsmanager:intrinsic:0:secret:x';
        auth = mappingAuth(cluster, {
          scramSecretArn: asArn(msk.scramSecretArn),
          clientCertificateSecretArn: asArn(msk.clientCertificateSecretArn),
          cluster: msk.name,
        }).method;
      }
      const secretArn = secretFor(auth);
      return { kind: 'msk', arn, auth, ...(secretArn ? { secretArn } : {}), ...key };
    } catch (error) {
      if (error instanceof ServerlessConfigError) throw error;
      throw new ServerlessConfigError(
        `custom.dogear.msk.name: ${(error as Error).message}`,
        { option: 'custom.dogear.msk.name' },
        { cause: error },
      );
    } finally {
      client.destroy();
    }
  }

  private serviceContext(): ServiceContext {
    const sls = this.serverless;
    // Not `--package <dir>` nor `package.path`: the framework empties that folder and copies
    // `.serverless/` into it at the end of `package`, so a zip written there first is lost.
    return {
      service: sls.service.service,
      stage: sls.getProvider('aws').getStage(),
      artifactDir: join(this.serviceDir(), '.serverless'),
    };
  }

  private serviceDir(): string {
    return resolve(this.serverless.serviceDir ?? this.serverless.config?.servicePath ?? '.');
  }

  /**
   * `custom.dogear`, with the service's `provider.logRetentionInDays` for dogear's functions
   * when dogear's own is not set: a team's retention policy is usually written once, there.
   */
  private dogearOptions(): DogearServerlessOptions {
    const options = parseOptions(this.serverless.service.custom?.dogear);
    const providerRetention = this.serverless.service.provider.logRetentionInDays;
    if (options.logRetentionInDays === undefined && typeof providerRetention === 'number')
      return { ...options, logRetentionInDays: providerRetention };
    return options;
  }

  private userFunctions(): string[] {
    return Object.keys(this.serverless.service.functions ?? {}).filter((n) => !this.added.has(n));
  }

  /**
   * dogear's own errors become the framework's error class, which it prints as a user error
   * (the message, no stack trace); anything else is a bug and keeps its stack.
   */
  private async guard(step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (error) {
      if (!isDogearError(error)) throw error;
      const ErrorClass = this.serverless.classes?.Error;
      const code = `DOGEAR_${error.name.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()}`;
      const message = `dogear: ${error.message}`;
      throw ErrorClass
        ? new ErrorClass(message, code, { cause: error })
        : new Error(message, { cause: error });
    }
  }
}

/**
 * Consumer modules are loaded through tsx, in a module namespace of their own, so an error from
 * their copy of dogear is not `instanceof` this one's `DogearError`: look for the name instead.
 */
function isDogearError(error: unknown): error is Error {
  if (error instanceof DogearError) return true;
  for (let p = error; p && typeof p === 'object'; p = Object.getPrototypeOf(p)) {
    if ((p as { constructor?: { name?: string } }).constructor?.name === 'DogearError') return true;
  }
  return false;
}
