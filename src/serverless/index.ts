/** `dogear/serverless`: the Serverless Framework (v3, v4) and osls plugin. */
export {
  checkConsumerNames,
  DEFAULT_DEPLOY,
  deployOverrides,
  isIntrinsic,
  parseOptions,
  resolveDeploy,
} from './config.ts';
export { ServerlessConfigError, ServerlessPluginError, ServerlessTemplateError } from './errors.ts';
export { type ConsumerGrant, iamStatements, mskResourceArn, STATE_TABLE_ACTIONS } from './iam.ts';
export { mappingProperties, type PlanInput, planService } from './plan.ts';
export {
  DogearServerlessPlugin,
  DogearServerlessPlugin as default,
  type Serverless,
} from './plugin.ts';
export { planTable, STATE_TABLE_LOGICAL_ID, type TablePlan } from './table.ts';
export { FRAMEWORK_ROLE_LOGICAL_ID, newStatements, patchTemplate } from './template.ts';
export type * from './types.ts';
export { type ZipEntry, zip, zipDirectory } from './zip.ts';
