export { InjectedFaultError, TestingError, TestingOptionError } from './errors.ts';
export { invoke } from './invoke.ts';
export type {
  CommitFault,
  Fault,
  InvokeOptions,
  InvokeResult,
  InvokeTotal,
  RecordFault,
  TestOutput,
  TestRecord,
} from './types.ts';
