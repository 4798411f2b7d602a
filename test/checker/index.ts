/** Public API of the linearizability checker, shared by test/sim and the chaos harness. */
export { HistoryRecorder, isIndeterminate } from './history';
export type { Operation, OperationHandle } from './history';
export type { Model, StepResult } from './model';
export { checkOperations, DEFAULT_MAX_STEPS } from './linearizability';
export type { CheckOptions, CheckResult, CheckVerdict } from './linearizability';
export { registerModel } from './models/register';
export type { RegisterInput, RegisterOutput, RegisterState } from './models/register';
export { versionedRegisterModel } from './models/versioned-register';
export type { VersionedInput, VersionedOutput, VersionedState } from './models/versioned-register';
export { partitionByKey } from './models/partition';
