// biome-ignore-all lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub strings hold ${…} placeholders.
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CFN_LINT_VERSION,
  type CfnLintMatch,
  formatMatch,
  lintTemplates,
} from '../infra/cfn-lint.ts';
import { ACCOUNT, type FakeMskApi, startFakeMskApi } from './fixtures/msk-api.ts';
import { readZip } from './fixtures/serverless/zip-reader.ts';

/**
 * The real `osls package` and Serverless Framework v3's `serverless package`, spawned on the
 * example service (serverless.yml at the root) and on the services under
 * test/fixtures/serverless/, with no AWS credentials: then the compiled template and the zips it
 * wrote are read back. The plugin is loaded as a user loads it, `plugins: [dogear/serverless]`,
 * from dist/ (build it first: `npx tsc -p tsconfig.build.json`). Each framework has a `serverless`
 * bin, so each is spawned by its own path.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIXTURES = join(ROOT, 'test/fixtures/serverless');
/** Copies of services for runs that would share a folder (`.serverless/`, `.dogear/`) with another. */
const COPIES = join(FIXTURES, '.out');
const FRAMEWORKS = {
  osls: join(ROOT, 'node_modules/osls/bin/serverless.js'),
  v3: join(ROOT, 'node_modules/serverless/bin/serverless.js'),
} as const;
type Framework = keyof typeof FRAMEWORKS;

interface Run {
  readonly dir: string;
  readonly code: number | null;
  /** osls prints errors on stdout and progress on stderr; this is both. */
  readonly output: string;
  readonly ms: number;
}

/** What a template holds, read back from JSON: the assertions below say what shape they expect. */
// biome-ignore lint/suspicious/noExplicitAny: JSON read back from a file.
type Json = any;

interface Template {
  Resources: Record<
    string,
    { Type: string; Properties: Record<string, Json>; [k: string]: unknown }
  >;
  Outputs?: Record<string, unknown>;
}

let home: string;
let msk: FakeMskApi;
const runs = new Map<string, Run>();

/** `<framework> package --stage test` in `dir`, without AWS credentials unless `env` gives some. */
function frameworkPackage(
  framework: Framework,
  dir: string,
  env: Record<string, string> = {},
  args: string[] = [],
): Promise<Run> {
  const started = performance.now();
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(
      ([key]) => !key.startsWith('AWS_') && key !== 'DOGEAR_MSK_ENDPOINT',
    ),
  );
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [FRAMEWORKS[framework], 'package', '--stage', 'test', ...args],
      {
        cwd: dir,
        env: {
          ...clean,
          HOME: home,
          SLS_TELEMETRY_DISABLED: '1',
          SLS_NOTIFICATIONS_MODE: 'off',
          NO_COLOR: '1',
          ...env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ dir, code, output, ms: Math.round(performance.now() - started) }),
    );
  });
}

async function template(run: Run): Promise<Template> {
  const file = join(run.dir, '.serverless/cloudformation-template-update-stack.json');
  return JSON.parse(await readFile(file, 'utf8')) as Template;
}

const ofType = (t: Template, type: string) =>
  Object.entries(t.Resources).filter(([, r]) => r.Type === type);

/** Every statement of every role in the template. */
function statements(t: Template): Array<{ Sid?: string; Action: string[]; Resource: unknown }> {
  return ofType(t, 'AWS::IAM::Role').flatMap(([, role]) =>
    (role.Properties.Policies as Array<{ PolicyDocument: { Statement: [] } }>).flatMap(
      (p) => p.PolicyDocument.Statement,
    ),
  );
}

/**
 * The actions with no resource-level permissions, the only ones on `*` (see src/serverless/iam.ts):
 * the network interfaces of Lambda's pollers and of functions in a VPC, and X-Ray's.
 */
const UNSCOPED_ACTIONS = new Set([
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeVpcs',
  'ec2:DeleteNetworkInterface',
  'ec2:DescribeSubnets',
  'ec2:DescribeSecurityGroups',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
]);

function expectNamedResources(t: Template): void {
  for (const statement of statements(t)) {
    const resources = [statement.Resource].flat();
    if (resources.includes('*')) {
      expect(
        statement.Action.every((a) => UNSCOPED_ACTIONS.has(a)),
        JSON.stringify(statement),
      ).toBe(true);
    }
  }
}

/** The mapping of one function, by the function's logical id. */
function mappingOf(t: Template, functionId: string) {
  const found = ofType(t, 'AWS::Lambda::EventSourceMapping').filter(
    ([, r]) => r.Properties.FunctionName?.['Fn::GetAtt']?.[0] === functionId,
  );
  expect(found).toHaveLength(1);
  return found[0]![1].Properties;
}

function functionNamed(t: Template, name: string) {
  const found = ofType(t, 'AWS::Lambda::Function').filter(
    ([, r]) => r.Properties.FunctionName === name,
  );
  expect(found, name).toHaveLength(1);
  return { id: found[0]![0], properties: found[0]![1].Properties };
}

/** Runs `tasks` at most `limit` at a time: osls takes a core each. */
async function pool<T>(tasks: Array<() => Promise<T>>, limit: number): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < tasks.length) {
        const i = next++;
        results[i] = await tasks[i]!();
      }
    }),
  );
  return results;
}

const EXAMPLE = [
  { name: 'word-count', className: 'WordCount', topic: 'book-pages', batchSize: 500, window: 5 },
  {
    name: 'duplicate-words',
    className: 'DuplicateWords',
    topic: 'book-pages',
    batchSize: 100,
    window: 0,
  },
  {
    name: 'picture-finder',
    className: 'PictureFinder',
    topic: 'book-pages',
    batchSize: 100,
    window: 0,
  },
  {
    name: 'thermometer',
    className: 'Thermometer',
    topic: 'temperature-readings',
    batchSize: 100,
    window: 0,
  },
  {
    name: 'payment-totals',
    className: 'PaymentTotals',
    topic: 'payments',
    batchSize: 100,
    window: 0,
  },
  {
    name: 'alert-log',
    className: 'AlertLog',
    topic: 'temperature-alerts',
    batchSize: 100,
    window: 0,
  },
];

const BAD = {
  'bad-no-topic': /consumer tally has no topic/,
  'bad-duplicate-name':
    /Consumers Recount \(functions\/recount\.ts\) and Tally \(functions\/tally\.ts\) share the name 'tally'/,
  'bad-batch-size': /consumer tally: batchSize 20000 is outside Lambda's 1 to 10,000/,
  'bad-window':
    /Consumer tally: custom\.dogear\.consumers\.tally\.batchingWindow 400 is outside Lambda's 0 to 300 seconds/,
  'bad-unknown-option': /Unknown option 'custom\.dogear\.tabel'; Did you mean 'table'\?/,
  'bad-unknown-cluster':
    /custom\.dogear\.msk\.name: No MSK cluster named 'evnets' in us-east-1; .*Did you mean 'events'\?/,
  'bad-on-demand-retries':
    /Consumer tally: maximumRetryAttempts 3 needs provisioned mode, .*Did you mean to add provisionedPollers/,
} as const;

/** The Confluent schema registry's credentials in the kafka-vpc fixture. */
const REGISTRY_SECRET =
  'arn:aws:secretsmanager:eu-west-1:123456789012:secret:schema-registry-AbCdEf';

/** `package --package <dir>`: the artifacts' folder, under the service. */
const PACKAGE_DIR = 'build/artifacts';

/** The runs that package: each one's template is linted with cfn-lint. */
const PACKAGED = [
  'osls:example',
  'v3:example',
  'osls:kafka-vpc',
  'v3:kafka-vpc',
  'osls:msk-ref',
  'osls:msk-by-name',
  'osls:package-dir',
  'v3:package-dir',
  'osls:pipeline',
  'v3:pipeline',
] as const;
/** Where the services deploy (kafka-vpc: eu-west-1): every template is checked in both. */
const LINT_REGIONS = ['us-east-1', 'eu-west-1'];
/**
 * cfn-lint findings that are the framework's, not dogear's: rule id → why it is left alone.
 * Informational rules (I…) are off by default and not checked.
 */
const CFN_LINT_ALLOWED: Record<string, string> = {};

/** The template a run left: with `--package <dir>`, the copy in that folder, which deploy reads. */
const templateFile = (name: string, run: Run) =>
  join(
    run.dir,
    name.endsWith(':package-dir') ? PACKAGE_DIR : '.serverless',
    'cloudformation-template-update-stack.json',
  );

/** cfn-lint's findings on every packaged template, or why it could not run (a failed install). */
let lint: { matches: CfnLintMatch[]; ms: number } | { error: Error };

beforeAll(async () => {
  const plugin = join(ROOT, 'dist/serverless/index.js');
  if (!existsSync(plugin))
    throw new Error('No dist/serverless/index.js; run npx tsc -p tsconfig.build.json first');
  for (const file of await readdir(join(ROOT, 'src/serverless'))) {
    if (!file.endsWith('.ts') || file.endsWith('.test.ts')) continue;
    const built = join(ROOT, 'dist/serverless', file.replace(/\.ts$/, '.js'));
    if (
      !existsSync(built) ||
      statSync(built).mtimeMs < statSync(join(ROOT, 'src/serverless', file)).mtimeMs
    ) {
      throw new Error(
        `dist/serverless/${basename(built)} is older than its source; run npx tsc -p tsconfig.build.json`,
      );
    }
  }
  home = await mkdtemp(join(tmpdir(), 'dogear-osls-home-'));
  msk = await startFakeMskApi({
    clusters: [
      {
        clusterArn: `arn:aws:kafka:us-east-1:${ACCOUNT}:cluster/clicks-cluster/5f4e3d2c-1b0a-4987-a6b5-c4d3e2f1a0b9-3`,
        clusterName: 'clicks-cluster',
        clusterType: 'PROVISIONED',
        state: 'ACTIVE',
        creationTime: '2025-03-04T10:11:12.345Z',
        currentVersion: 'K3AEGXETSR30VB',
        provisioned: {
          brokerNodeGroupInfo: {
            clientSubnets: ['subnet-0a1b2c3d'],
            instanceType: 'kafka.m7g.large',
          },
          clientAuthentication: { sasl: { scram: { enabled: true }, iam: { enabled: false } } },
          numberOfBrokerNodes: 2,
        },
      },
      {
        clusterArn: `arn:aws:kafka:us-east-1:${ACCOUNT}:cluster/events/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-2`,
        clusterName: 'events',
        clusterType: 'SERVERLESS',
        state: 'ACTIVE',
        creationTime: '2025-05-06T07:08:09.000Z',
        currentVersion: 'K2EUQ1WTGCTBG2',
        serverless: { clientAuthentication: { sasl: { iam: { enabled: true } } } },
      },
    ],
  });
  // Only a cluster given by name reaches AWS (here the fake): those runs get credentials for it.
  const withMsk = {
    DOGEAR_MSK_ENDPOINT: msk.endpoint,
    AWS_ACCESS_KEY_ID: 'AKIDTEST',
    AWS_SECRET_ACCESS_KEY: 'secret',
  };
  await rm(COPIES, { recursive: true, force: true });
  const copy = async (name: string, from: string, files: string[]) => {
    const to = join(COPIES, name);
    await mkdir(to, { recursive: true });
    for (const file of files) await cp(join(from, file), join(to, file), { recursive: true });
    return to;
  };
  const example = ['serverless.yml', 'functions'];
  const fixture = (name: string) => join(FIXTURES, name);
  const services: Array<{
    name: string;
    framework: Framework;
    dir: string;
    env?: Record<string, string>;
    args?: string[];
  }> = [
    { name: 'osls:example', framework: 'osls', dir: ROOT },
    { name: 'v3:example', framework: 'v3', dir: await copy('example-v3', ROOT, example) },
    { name: 'osls:kafka-vpc', framework: 'osls', dir: fixture('kafka-vpc') },
    {
      name: 'v3:kafka-vpc',
      framework: 'v3',
      dir: await copy('kafka-vpc-v3', fixture('kafka-vpc'), example),
    },
    { name: 'osls:msk-ref', framework: 'osls', dir: fixture('msk-ref') },
    { name: 'osls:pipeline', framework: 'osls', dir: fixture('pipeline') },
    {
      name: 'v3:pipeline',
      framework: 'v3',
      dir: await copy('pipeline-v3', fixture('pipeline'), example),
    },
    { name: 'osls:msk-by-name', framework: 'osls', dir: fixture('msk-by-name'), env: withMsk },
    ...(['osls', 'v3'] as const).map((framework) => ({
      name: `${framework}:package-dir`,
      framework,
      dir: COPIES,
      args: ['--package', PACKAGE_DIR],
    })),
    ...Object.keys(BAD).map((name) => ({
      name,
      framework: 'osls' as const,
      dir: fixture(name),
      ...(name === 'bad-unknown-cluster' ? { env: withMsk } : {}),
    })),
  ];
  for (const service of services) {
    if (service.name.endsWith(':package-dir')) {
      service.dir = await copy(`msk-ref-${service.framework}`, fixture('msk-ref'), example);
    }
  }
  const results = await pool(
    services.map((s) => () => frameworkPackage(s.framework, s.dir, s.env, s.args)),
    3,
  );
  for (const [i, { name }] of services.entries()) runs.set(name, results[i]!);
  process.stderr.write(
    `package: ${[...runs].map(([name, run]) => `${name} ${run.ms} ms`).join(', ')}\n`,
  );
  // One cfn-lint process for every template: most of its time is loading its schemas. The
  // first run installs it (some 20 s), after the packaging: both want the CPU.
  const linted = PACKAGED.filter((name) => runs.get(name)?.code === 0).map((name) =>
    templateFile(name, runs.get(name)!),
  );
  const linting = performance.now();
  lint = await lintTemplates(linted, LINT_REGIONS).then(
    (matches) => ({ matches, ms: Math.round(performance.now() - linting) }),
    (error: Error) => ({ error }),
  );
  if ('ms' in lint) process.stderr.write(`cfn-lint ${CFN_LINT_VERSION}: ${lint.ms} ms\n`);
}, 300_000);

afterAll(async () => {
  await msk?.close();
  if (home) await rm(home, { recursive: true, force: true });
  // Fixture outputs go; the example's are the ones `osls package` leaves at the root anyway.
  await rm(COPIES, { recursive: true, force: true });
  for (const entry of await readdir(FIXTURES, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    for (const out of ['.serverless', '.dogear']) {
      await rm(join(FIXTURES, entry.name, out), { recursive: true, force: true });
    }
  }
});

function succeeded(name: string): Run {
  const run = runs.get(name)!;
  expect(run.code, run.output).toBe(0);
  return run;
}

/** The role a function runs as, and that role's statements. */
function roleOf(t: Template, functionId: string) {
  const role = t.Resources[functionId]!.Properties.Role as { 'Fn::GetAtt': [string, string] };
  const id = role['Fn::GetAtt'][0];
  const resource = t.Resources[id]!;
  expect(resource.Type).toBe('AWS::IAM::Role');
  const policies = resource.Properties.Policies as Array<{
    PolicyDocument: { Statement: Array<{ Sid?: string; Action: string[]; Resource: Json[] }> };
  }>;
  const statements = policies.flatMap((p) => p.PolicyDocument.Statement);
  return { id, statements, bySid: Object.fromEntries(statements.map((s) => [s.Sid, s])) };
}

const subs = (resources: Json[]) =>
  resources.map((r: { 'Fn::Sub': [string, unknown] }) => r['Fn::Sub'][0]);

describe.each(['osls', 'v3'] as const)('the example service (serverless.yml), %s', (framework) => {
  const run = () => succeeded(`${framework}:example`);

  it('packages with configValidationMode: error, and no warning', () => {
    expect(run().output).not.toMatch(/warning|deprecat/i);
  });

  it('deploys each consumer as a function with its own mapping', async () => {
    const t = await template(run());
    expect(ofType(t, 'AWS::Lambda::Function')).toHaveLength(EXAMPLE.length);
    expect(ofType(t, 'AWS::Lambda::EventSourceMapping')).toHaveLength(EXAMPLE.length);
    for (const c of EXAMPLE) {
      const fn = functionNamed(t, `dogear-example-test-${c.name}`);
      expect(fn.properties).toMatchObject({
        Handler: `.dogear/build/${c.name}/index.handler`,
        Runtime: 'nodejs24.x',
        MemorySize: 1024,
        Timeout: 60,
        Environment: {
          Variables: {
            DOGEAR_DYNAMODB_TABLE: 'dogear-example-test-state',
            NODE_OPTIONS: '--enable-source-maps',
          },
        },
      });
      expect(mappingOf(t, fn.id)).toEqual({
        FunctionName: { 'Fn::GetAtt': [fn.id, 'Arn'] },
        EventSourceArn: { 'Fn::ImportValue': 'dogear-msk-ClusterArn' },
        AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: c.name },
        Topics: [c.topic],
        StartingPosition: 'TRIM_HORIZON',
        BatchSize: c.batchSize,
        MaximumBatchingWindowInSeconds: c.window,
        Enabled: true,
        MetricsConfig: { Metrics: ['EventCount', 'ErrorCount', 'KafkaMetrics'] },
      });
    }
  });

  it('adds the state table', async () => {
    const t = await template(run());
    expect(t.Resources.DogearStateTable).toMatchObject({
      Type: 'AWS::DynamoDB::Table',
      DeletionPolicy: 'Retain',
      Properties: {
        TableName: 'dogear-example-test-state',
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      },
    });
  });

  it('zips each consumer with its own bundle only', async () => {
    const t = await template(run());
    for (const c of EXAMPLE) {
      const { properties } = functionNamed(t, `dogear-example-test-${c.name}`);
      const artifact = join(run().dir, '.serverless', basename(properties.Code.S3Key));
      expect(basename(artifact)).toBe(`${c.name}.zip`);
      const files = readZip(await readFile(artifact));
      expect(files.map((f) => f.name)).toEqual([
        `.dogear/build/${c.name}/index.mjs`,
        `.dogear/build/${c.name}/index.mjs.map`,
      ]);
      const code = files[0]!.data.toString('utf8');
      expect(code).toBe(
        await readFile(join(run().dir, `.dogear/build/${c.name}/index.mjs`), 'utf8'),
      );
      expect(code).toContain(`"${c.className}"`);
      for (const other of EXAMPLE.filter((o) => o !== c))
        expect(code).not.toContain(`"${other.className}"`);
    }
  });

  it('gives each function a role of its own: its topic, its group, its keys, its logs', async () => {
    const t = await template(run());
    expectNamedResources(t);
    // No shared role: the framework's own is made only for functions without a role.
    expect(t.Resources.IamRoleLambdaExecution).toBeUndefined();
    const roles = new Set<string>();
    for (const c of EXAMPLE) {
      const fn = functionNamed(t, `dogear-example-test-${c.name}`);
      const role = roleOf(t, fn.id);
      roles.add(role.id);
      expect(role.bySid.DogearStateTable).toMatchObject({
        Resource: [{ 'Fn::GetAtt': ['DogearStateTable', 'Arn'] }],
        Condition: {
          'ForAllValues:StringLike': {
            'dynamodb:LeadingKeys': [`c|${c.name}|*`, `s|${c.name}|*`, `o|${c.name}|*`],
          },
        },
      });
      expect(role.bySid.DogearStateTable!.Action).toContain('dynamodb:BatchGetItem');
      expect(role.bySid.DogearKafkaConnect?.Resource).toEqual([
        { 'Fn::ImportValue': 'dogear-msk-ClusterArn' },
      ]);
      expect(subs(role.bySid.DogearKafkaTopic!.Resource)).toEqual([
        `\${DogearClusterArnPrefix}:topic/\${DogearClusterPath}/${c.topic}`,
      ]);
      expect(subs(role.bySid.DogearKafkaGroup!.Resource)).toEqual([
        `\${DogearClusterArnPrefix}:group/\${DogearClusterPath}/${c.name}`,
      ]);
      const kafka = role.statements.flatMap((s) => s.Resource).filter((r) => r['Fn::Sub']);
      for (const other of EXAMPLE.filter((o) => o.name !== c.name)) {
        expect(JSON.stringify(kafka)).not.toContain(`group/\${DogearClusterPath}/${other.name}"`);
      }
      expect(role.bySid.DogearLogs!.Resource).toEqual([
        {
          'Fn::Sub': `arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/lambda/dogear-example-test-${c.name}:*`,
        },
      ]);
      const logGroup = ofType(t, 'AWS::Logs::LogGroup').find(
        ([, r]) => r.Properties.LogGroupName === `/aws/lambda/dogear-example-test-${c.name}`,
      );
      expect(logGroup?.[1].Properties.RetentionInDays).toBe(30);
    }
    expect(roles.size).toBe(EXAMPLE.length);
  });

  it("keeps each role's inline policies far under IAM's 10,240 characters", async () => {
    const t = await template(run());
    const sizes = EXAMPLE.map((c) => {
      const fn = functionNamed(t, `dogear-example-test-${c.name}`);
      const role = roleOf(t, fn.id);
      const policies = t.Resources[role.id]!.Properties.Policies as Array<{ PolicyDocument: Json }>;
      // As IAM counts them: JSON without whitespace (src/serverless/iam.ts policySize).
      const size = policies.reduce((sum, p) => sum + JSON.stringify(p.PolicyDocument).length, 0);
      return [c.name, size] as const;
    });
    process.stderr.write(
      `${framework}: role policy sizes: ${sizes.map(([name, size]) => `${name} ${size}`).join(', ')}\n`,
    );
    for (const [name, size] of sizes) expect(size, name).toBeLessThan(4_000);
  });
});

describe('fixture services', () => {
  it.each(['osls', 'v3'] as const)(
    'self-managed Kafka in a VPC, with an existing table by name, %s',
    async (framework) => {
      const run = succeeded(`${framework}:kafka-vpc`);
      expect(run.output).not.toMatch(/warning|deprecat/i);
      const t = await template(run);
      expect(t.Resources.DogearStateTable).toBeUndefined();
      const audit = functionNamed(t, 'dogear-kafka-test-orders-audit');
      const payments = functionNamed(t, 'dogear-kafka-test-payments');
      expect(audit.properties).toMatchObject({ MemorySize: 512, Timeout: 60 });
      expect(payments.properties).toMatchObject({ MemorySize: 2048, Timeout: 120 });
      expect(audit.properties.Environment.Variables.DOGEAR_DYNAMODB_TABLE).toBe(
        'shared-dogear-state',
      );
      const access = [
        { Type: 'VPC_SUBNET', URI: 'subnet:subnet-0a1b2c3d' },
        {
          Type: 'VPC_SUBNET',
          URI: {
            'Fn::Join': [
              '',
              [
                'subnet:',
                {
                  'Fn::Select': [
                    1,
                    { 'Fn::Split': [',', { 'Fn::ImportValue': 'dogear-msk-SubnetIds' }] },
                  ],
                },
              ],
            ],
          },
        },
        {
          Type: 'VPC_SECURITY_GROUP',
          URI: {
            'Fn::Join': [
              '',
              ['security_group:', { 'Fn::ImportValue': 'dogear-msk-SecurityGroupId' }],
            ],
          },
        },
        {
          Type: 'SASL_SCRAM_512_AUTH',
          URI: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:kafka-consumers-AbCdEf',
        },
        {
          Type: 'SERVER_ROOT_CA_CERTIFICATE',
          URI: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:kafka-ca-123456',
        },
      ];
      expect(mappingOf(t, audit.id)).toEqual({
        FunctionName: { 'Fn::GetAtt': [audit.id, 'Arn'] },
        SelfManagedEventSource: {
          Endpoints: {
            KafkaBootstrapServers: ['b-1.kafka.internal:9096', 'b-2.kafka.internal:9096'],
          },
        },
        SelfManagedKafkaEventSourceConfig: {
          ConsumerGroupId: 'orders-audit-v2',
          SchemaRegistryConfig: {
            SchemaRegistryURI: 'https://schema-registry.kafka.internal:8081',
            EventRecordFormat: 'SOURCE',
            AccessConfigs: [
              { Type: 'BASIC_AUTH', URI: REGISTRY_SECRET },
              {
                Type: 'SERVER_ROOT_CA_CERTIFICATE',
                URI: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:kafka-ca-123456',
              },
            ],
            SchemaValidationConfigs: [{ Attribute: 'KEY' }, { Attribute: 'VALUE' }],
          },
        },
        Topics: ['orders'],
        StartingPosition: 'AT_TIMESTAMP',
        StartingPositionTimestamp: 1_750_000_000,
        BatchSize: 250,
        MaximumBatchingWindowInSeconds: 10,
        Enabled: true,
        MetricsConfig: { Metrics: ['EventCount', 'ErrorCount', 'KafkaMetrics'] },
        SourceAccessConfigurations: access,
        FilterCriteria: {
          Filters: [
            { Pattern: '{"value":{"type":["order"]}}' },
            { Pattern: '{"key":[{"prefix":"eu-"}]}' },
          ],
        },
        ProvisionedPollerConfig: { MinimumPollers: 1, MaximumPollers: 3 },
        DestinationConfig: {
          OnFailure: { Destination: 'arn:aws:sqs:eu-west-1:123456789012:orders-dlq' },
        },
        BisectBatchOnFunctionError: true,
        MaximumRetryAttempts: 5,
        MaximumRecordAgeInSeconds: 3600,
      });
      expect(mappingOf(t, payments.id)).toMatchObject({
        Topics: ['payments'],
        SelfManagedKafkaEventSourceConfig: { ConsumerGroupId: 'payments' },
        Enabled: false,
        SourceAccessConfigurations: access,
        // SQS, SNS and S3 destinations need no provisioned pollers: see docs/deploy.md.
        DestinationConfig: {
          OnFailure: { Destination: 'arn:aws:sns:eu-west-1:123456789012:payments-failed' },
        },
      });
      const paymentsMapping = mappingOf(t, payments.id);
      expect(paymentsMapping.ProvisionedPollerConfig).toBeUndefined();
      // custom.dogear.alarms: OffsetLag and Errors per consumer, telling the on-call topic.
      const alarms = Object.fromEntries(ofType(t, 'AWS::CloudWatch::Alarm'));
      expect(Object.keys(alarms).sort()).toEqual(
        [audit.id, payments.id].flatMap((id) => [`${id}ErrorsAlarm`, `${id}OffsetLagAlarm`]).sort(),
      );
      expect(alarms[`${audit.id}OffsetLagAlarm`]!.Properties).toMatchObject({
        Namespace: 'AWS/Lambda',
        MetricName: 'OffsetLag',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: audit.id } }],
        Threshold: 10_000,
        AlarmActions: ['arn:aws:sns:eu-west-1:123456789012:on-call'],
      });
      expectNamedResources(t);
      for (const fn of [audit, payments]) {
        const role = roleOf(t, fn.id);
        // The secrets' customer-managed key, through Secrets Manager only.
        expect(role.bySid.DogearKafkaSecretsKey).toEqual({
          Sid: 'DogearKafkaSecretsKey',
          Effect: 'Allow',
          Action: ['kms:Decrypt'],
          Resource: ['arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab'],
          Condition: {
            StringEquals: {
              'kms:ViaService': { 'Fn::Sub': 'secretsmanager.${AWS::Region}.amazonaws.com' },
            },
          },
        });
        // The pollers' network interfaces in the VPC: the framework adds them to no role of ours.
        expect(role.bySid.DogearPollerNetwork?.Resource).toEqual(['*']);
      }
      expect(roleOf(t, audit.id).bySid.DogearOnFailureSqs?.Resource).toEqual([
        'arn:aws:sqs:eu-west-1:123456789012:orders-dlq',
      ]);
      expect(roleOf(t, audit.id).bySid.DogearOnFailureSns).toBeUndefined();
      expect(roleOf(t, payments.id).bySid.DogearOnFailureSns?.Resource).toEqual([
        'arn:aws:sns:eu-west-1:123456789012:payments-failed',
      ]);
      for (const [, group] of ofType(t, 'AWS::Logs::LogGroup'))
        expect(group.Properties.RetentionInDays).toBe(14);
      const all = statements(t);
      expect(all).toContainEqual(
        expect.objectContaining({
          Action: expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:UpdateItem']),
          Resource: [
            {
              'Fn::Sub':
                'arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/shared-dogear-state',
            },
          ],
        }),
      );
      const secrets = all.filter((s) => s.Sid === 'DogearKafkaSecrets');
      expect(secrets).toHaveLength(2);
      for (const secret of secrets) {
        expect(secret.Resource).toEqual([
          'arn:aws:secretsmanager:eu-west-1:123456789012:secret:kafka-consumers-AbCdEf',
          'arn:aws:secretsmanager:eu-west-1:123456789012:secret:kafka-ca-123456',
        ]);
      }
      expect(all.flatMap((s) => s.Action).some((a) => a.startsWith('kafka-cluster:'))).toBe(false);
      // The schema registry's secrets, for the one consumer whose mapping reads the registry.
      expect(roleOf(t, audit.id).bySid.DogearSchemaRegistrySecrets).toEqual({
        Sid: 'DogearSchemaRegistrySecrets',
        Effect: 'Allow',
        Action: ['secretsmanager:GetSecretValue'],
        Resource: [
          REGISTRY_SECRET,
          'arn:aws:secretsmanager:eu-west-1:123456789012:secret:kafka-ca-123456',
        ],
      });
      expect(paymentsMapping.SelfManagedKafkaEventSourceConfig).toEqual({
        ConsumerGroupId: 'payments',
      });
      expect(roleOf(t, payments.id).bySid.DogearSchemaRegistrySecrets).toBeUndefined();
    },
  );

  it('MSK by { Ref } to a cluster in the stack, with a table ARN from another stack', async () => {
    const run = succeeded('osls:msk-ref');
    expect(run.output).not.toMatch(/warning|deprecat/i);
    const t = await template(run);
    expect(t.Resources.Cluster?.Type).toBe('AWS::MSK::ServerlessCluster');
    const sensors = functionNamed(t, 'dogear-ref-test-sensors');
    const tableArn = { 'Fn::ImportValue': 'dogear-state-StateTableArn' };
    expect(sensors.properties.Environment.Variables.DOGEAR_DYNAMODB_TABLE).toEqual({
      'Fn::Select': [1, { 'Fn::Split': ['/', tableArn] }],
    });
    expect(mappingOf(t, sensors.id)).toMatchObject({
      EventSourceArn: { Ref: 'Cluster' },
      AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: 'sensors-latest' },
      Topics: ['sensor-readings'],
    });
    expectNamedResources(t);
    const bySid = Object.fromEntries(
      statements(t)
        .filter((s) => s.Sid)
        .map((s) => [s.Sid, s]),
    );
    expect(bySid.DogearStateTable?.Resource).toEqual([tableArn]);
    expect(bySid.DogearKafkaGroup?.Resource).toEqual([
      {
        'Fn::Sub': [
          '${DogearClusterArnPrefix}:group/${DogearClusterPath}/sensors-latest',
          {
            DogearClusterArnPrefix: {
              'Fn::Select': [0, { 'Fn::Split': [':cluster/', { Ref: 'Cluster' }] }],
            },
            DogearClusterPath: {
              'Fn::Select': [1, { 'Fn::Split': [':cluster/', { Ref: 'Cluster' }] }],
            },
          },
        ],
      },
    ]);
  });

  it("provider.iam.role as an object: each consumer's own role, with the user's statements, policies, boundary and path", async () => {
    const t = await template(succeeded('osls:msk-ref'));
    const sensors = functionNamed(t, 'dogear-ref-test-sensors');
    const role = roleOf(t, sensors.id);
    expect(role.id).toBe('DogearSensorsRole');
    // dogear's own statements, as without provider.iam.role…
    expect(role.bySid.DogearStateTable?.Resource).toEqual([
      { 'Fn::ImportValue': 'dogear-state-StateTableArn' },
    ]);
    expect(role.bySid.DogearKafkaGroup).toBeDefined();
    // Its Avro codec reads writer schemas from the Glue registry `sensors`, and only from it.
    expect(role.bySid.DogearGlueSchemas).toEqual({
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
    // …the user's, for the handlers…
    expect(role.bySid.ReadCalibration).toEqual({
      Sid: 'ReadCalibration',
      Effect: 'Allow',
      Action: ['s3:GetObject'],
      Resource: 'arn:aws:s3:::dogear-ref-calibration/*',
    });
    // …and X-Ray's, since provider.tracing.lambda traces every function.
    expect(sensors.properties.TracingConfig).toEqual({ Mode: 'Active' });
    expect(role.bySid.DogearXRay?.Action).toEqual([
      'xray:PutTraceSegments',
      'xray:PutTelemetryRecords',
    ]);
    expect(t.Resources.DogearSensorsRole!.Properties).toMatchObject({
      PermissionsBoundary: 'arn:aws:iam::123456789012:policy/org-boundary',
      Path: '/teams/sensors/',
      ManagedPolicyArns: ['arn:aws:iam::aws:policy/CloudWatchLambdaInsightsExecutionRolePolicy'],
    });
    // Every function has a role of dogear's: the framework makes none of its own.
    expect(t.Resources.IamRoleLambdaExecution).toBeUndefined();
  });

  it('MSK by name: looked up with the MSK API, which picks SASL/SCRAM', async () => {
    const t = await template(succeeded('osls:msk-by-name'));
    const arn = `arn:aws:kafka:us-east-1:${ACCOUNT}:cluster/clicks-cluster/5f4e3d2c-1b0a-4987-a6b5-c4d3e2f1a0b9-3`;
    const secret = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:AmazonMSK_clicks-Ab12Cd';
    const clicks = functionNamed(t, 'dogear-by-name-test-clicks');
    expect(clicks.properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Environment: { Variables: { DOGEAR_DYNAMODB_TABLE: 'clicks-state' } },
    });
    expect(mappingOf(t, clicks.id)).toMatchObject({
      EventSourceArn: arn,
      SourceAccessConfigurations: [{ Type: 'SASL_SCRAM_512_AUTH', URI: secret }],
    });
    expectNamedResources(t);
    const all = statements(t);
    expect(all.flatMap((s) => s.Action).some((a) => a.startsWith('kafka-cluster:'))).toBe(false);
    expect(all).toContainEqual(
      expect.objectContaining({ Action: ['secretsmanager:GetSecretValue'], Resource: [secret] }),
    );
    expect(all).toContainEqual(
      expect.objectContaining({
        Sid: 'DogearStateTable',
        Resource: ['arn:aws:dynamodb:us-east-1:123456789012:table/clicks-state'],
      }),
    );
    const asked = msk.requests.map(
      (r) => `${r.method} ${decodeURIComponent(r.rawPath)} ${r.signature}`,
    );
    expect(asked).toContain(`GET /api/v2/clusters/${arn} valid`);
  });
});

describe.each(['osls', 'v3'] as const)(
  'a pipeline: outputs and dead letters to Kafka, SQS and S3 (fixture pipeline), %s',
  (framework) => {
    const CLUSTER =
      'arn:aws:kafka:us-east-1:123456789012:cluster/pipeline/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-2';
    const topicArn = (topic: string) =>
      `arn:aws:kafka:us-east-1:123456789012:topic/pipeline/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-2/${topic}`;
    const ON_CALL = 'arn:aws:sns:us-east-1:123456789012:on-call';
    const run = () => succeeded(`${framework}:pipeline`);
    const CONSUMERS = ['thermometer', 'audit', 'archive'];

    it('packages with no warning: the functions are in the VPC their relays need', () => {
      expect(run().output).not.toMatch(/warning|deprecat/i);
    });

    it('lets thermometer write its output and dead-letter topics, and nothing else, as an idempotent producer', async () => {
      const t = await template(run());
      expectNamedResources(t);
      const fn = functionNamed(t, 'dogear-pipeline-test-thermometer');
      const role = roleOf(t, fn.id);
      expect(role.bySid.DogearRelayTopics).toEqual({
        Sid: 'DogearRelayTopics',
        Effect: 'Allow',
        Action: ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData'],
        Resource: [topicArn('temperature-alerts'), topicArn('temperature-readings.dead-letters')],
      });
      expect(role.bySid.DogearRelayCluster).toEqual({
        Sid: 'DogearRelayCluster',
        Effect: 'Allow',
        Action: ['kafka-cluster:Connect', 'kafka-cluster:WriteDataIdempotently'],
        Resource: [CLUSTER],
      });
      expect(role.bySid.DogearKafkaTopic?.Resource).toEqual([topicArn('temperature-readings')]);
      const writes = role.statements.filter((s) => s.Action.includes('kafka-cluster:WriteData'));
      expect(writes).toHaveLength(1);
      expect(fn.properties.Environment.Variables).toEqual({
        DOGEAR_DYNAMODB_TABLE: 'dogear-pipeline-test-state',
        DOGEAR_REPORT_BATCH_ITEM_FAILURES: 'false',
        NODE_OPTIONS: '--enable-source-maps',
        DOGEAR_KAFKA_AUTH: 'IAM',
      });
    });

    it('lets audit send to its dead-letter queue and archive put objects under its group only', async () => {
      const t = await template(run());
      const audit = functionNamed(t, 'dogear-pipeline-test-audit');
      const archive = functionNamed(t, 'dogear-pipeline-test-archive');
      expect(roleOf(t, audit.id).bySid.DogearDeadLetterSqs).toEqual({
        Sid: 'DogearDeadLetterSqs',
        Effect: 'Allow',
        Action: ['sqs:SendMessage'],
        Resource: ['arn:aws:sqs:us-east-1:123456789012:audit-dead-letters'],
      });
      expect(roleOf(t, archive.id).bySid.DogearDeadLetterS3).toEqual({
        Sid: 'DogearDeadLetterS3',
        Effect: 'Allow',
        Action: ['s3:PutObject'],
        Resource: ['arn:aws:s3:::dogear-pipeline-dead-letters/archive/*'],
      });
      for (const fn of [audit, archive]) {
        const role = roleOf(t, fn.id);
        // Neither writes Kafka: no relay grants, no relay environment.
        expect(role.bySid.DogearRelayTopics).toBeUndefined();
        expect(role.bySid.DogearRelayCluster).toBeUndefined();
        expect(Object.keys(fn.properties.Environment.Variables)).not.toContain('DOGEAR_KAFKA_AUTH');
      }
    });

    it("keeps every role's table keys to its own group's prefixes (the outbox is in the checkpoint)", async () => {
      const t = await template(run());
      for (const name of CONSUMERS) {
        const role = roleOf(t, functionNamed(t, `dogear-pipeline-test-${name}`).id);
        expect(role.bySid.DogearStateTable).toMatchObject({
          Condition: {
            'ForAllValues:StringLike': {
              'dynamodb:LeadingKeys': [`c|${name}|*`, `s|${name}|*`, `o|${name}|*`],
            },
          },
        });
      }
    });

    it("alarms on dogear's DeadLettered and OutputsPending, and turns on the mappings' metrics", async () => {
      const t = await template(run());
      const alarms = Object.fromEntries(ofType(t, 'AWS::CloudWatch::Alarm'));
      const id = (name: string) => functionNamed(t, `dogear-pipeline-test-${name}`).id;
      expect(Object.keys(alarms).sort()).toEqual(
        [
          `${id('thermometer')}DeadLettersAlarm`,
          `${id('thermometer')}OutputsPendingAlarm`,
          `${id('audit')}DeadLettersAlarm`,
          `${id('archive')}DeadLettersAlarm`,
        ].sort(),
      );
      expect(alarms[`${id('thermometer')}DeadLettersAlarm`]!.Properties).toMatchObject({
        Namespace: 'dogear',
        MetricName: 'DeadLettered',
        Dimensions: [{ Name: 'consumer', Value: 'thermometer' }],
        Statistic: 'Sum',
        Period: 300,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: [ON_CALL],
      });
      // custom.dogear.consumers.audit.alarms.deadLetters
      expect(alarms[`${id('audit')}DeadLettersAlarm`]!.Properties.Threshold).toBe(5);
      expect(alarms[`${id('thermometer')}OutputsPendingAlarm`]!.Properties).toMatchObject({
        Namespace: 'dogear',
        MetricName: 'OutputsPending',
        Dimensions: [{ Name: 'consumer', Value: 'thermometer' }],
        Statistic: 'Maximum',
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
      });
      for (const name of CONSUMERS) {
        expect(mappingOf(t, id(name)).MetricsConfig).toEqual({
          Metrics: ['EventCount', 'ErrorCount', 'KafkaMetrics'],
        });
      }
    });
  },
);

describe.each(['osls', 'v3'] as const)('package --package <dir>, %s', (framework) => {
  it('leaves every zip in that folder, where deploy --package finds them', async () => {
    const run = succeeded(`${framework}:package-dir`);
    const dir = join(run.dir, PACKAGE_DIR);
    const t = JSON.parse(
      await readFile(join(dir, 'cloudformation-template-update-stack.json'), 'utf8'),
    ) as Template;
    const zips = ofType(t, 'AWS::Lambda::Function').map(([, r]) =>
      basename(r.Properties.Code.S3Key),
    );
    expect(zips).toEqual(['sensors.zip']);
    for (const zip of zips) {
      const files = readZip(await readFile(join(dir, zip)));
      expect(files.map((f) => f.name)).toContain('.dogear/build/sensors/index.mjs');
    }
    // `deploy --package` copies the folder back to .serverless/ and reads each function's
    // artifact from the saved state: it must point there.
    const state = JSON.parse(await readFile(join(dir, 'serverless-state.json'), 'utf8'));
    expect(state.service.functions.sensors.package.artifact).toBe(
      join(run.dir, '.serverless', 'sensors.zip'),
    );
  });
});

describe('bad input', () => {
  for (const [name, message] of Object.entries(BAD)) {
    it(`${name}: exits non-zero, naming the consumer or option`, () => {
      const run = runs.get(name)!;
      expect(run.code, run.output).not.toBe(0);
      expect(run.output).toMatch(message);
      // A user error: the message, no stack trace.
      expect(run.output).not.toMatch(/^\s+at /m);
    });
  }
});

describe(`cfn-lint ${CFN_LINT_VERSION}`, () => {
  it('lints every run that packages, and reports on those templates only', () => {
    const packaged = [...runs].filter(([, run]) => run.code === 0).map(([name]) => name);
    expect(packaged.sort()).toEqual([...PACKAGED].sort());
    if ('error' in lint) throw lint.error;
    // A finding filed under another name would slip past the per-template checks below.
    const files = PACKAGED.map((name) => templateFile(name, runs.get(name)!));
    for (const match of lint.matches) expect(files).toContain(match.Filename);
  });

  it.each(PACKAGED)('%s: the template has no cfn-lint error or warning', (name) => {
    const run = succeeded(name);
    if ('error' in lint) throw lint.error;
    const file = templateFile(name, run);
    const findings = lint.matches.filter(
      (m) => m.Filename === file && m.Level !== 'Informational' && !CFN_LINT_ALLOWED[m.Rule.Id],
    );
    expect(findings.map(formatMatch), file).toEqual([]);
  });
});
