/** `dogear/serverless`: the Serverless Framework (v3, v4) and osls plugin. */
export {
  checkConsumerNames,
  DEFAULT_DEPLOY,
  DEFAULT_LOG_RETENTION_DAYS,
  deployOverrides,
  isIntrinsic,
  LOG_RETENTION_DAYS,
  parseOptions,
  resolveDeploy,
} from './config.ts';
export { ServerlessConfigError, ServerlessPluginError, ServerlessTemplateError } from './errors.ts';
export {
  type ConsumerGrant,
  checkPolicySize,
  consumerRole,
  consumerStatements,
  mskResourceArn,
  type ProviderSection,
  policySize,
  providerRoleOf,
  ROLE_POLICY_LIMIT,
  roleLogicalId,
  STATE_TABLE_ACTIONS,
  stateKeyPatterns,
} from './iam.ts';
export { mappingProperties, type PlanInput, planService } from './plan.ts';
export {
  DogearServerlessPlugin,
  DogearServerlessPlugin as default,
  type Serverless,
} from './plugin.ts';
export { planTable, STATE_TABLE_LOGICAL_ID, type TablePlan } from './table.ts';
export { patchTemplate } from './template.ts';
export type * from './types.ts';
export { type ZipEntry, zip, zipDirectory } from './zip.ts';
