/**
 * sailbatch as a library. Everything public is named here; nothing else is part of the API.
 */
export { runBatch } from './engine/runner.ts';
export { parseRunOptions } from './parse-options.ts';
export type { RunSummary, RunHooks } from './engine/runner.ts';
export { runWorker } from './engine/worker.ts';
export type { WorkerSummary } from './engine/worker.ts';
export { dryRunBatch } from './engine/dry-run.ts';
export type { DryRunReport } from './engine/dry-run.ts';
export type { WorkEstimate, EstimatedGroup, WindowTotal } from './cost/estimate.ts';
export type { WorkGroup } from './cost/work-tally.ts';
export type { CostRange } from './cost/cost.ts';
export { loadPriceTable, parsePriceTable } from './cost/prices.ts';
export type { PriceTable, TokenPrices } from './cost/price-table.ts';
export type { RunOptions, RunOptionsInput, WorkerOptionsInput } from './options.ts';
export { runOptionsSchema, workerOptionsSchema, defaultDbPath } from './options.ts';
export type { RunnerEventMap, RunnerEvents, RunPhase, RequestCounts } from './engine/events.ts';
export { openStore } from './checkpoint/open-store.ts';
export type {
  BatchStore,
  StoreReader,
  OpenStoreOptions,
  JobRow,
  JobRequest,
  StateCounts,
  BatchMeta,
  LeaseInfo,
  NewJob,
  JobUpdate,
  WorkJob,
  JobToSend,
  JobToPoll,
  RetryKeyInput,
} from './checkpoint/store.ts';
export { OUTPUT_RETRY_COUNTERS, RUN_GAUGES } from './checkpoint/store.ts';
export { JOB_STATES, TRANSITIONS, TERMINAL_STATES } from './checkpoint/job-states.ts';
export type { JobState } from './checkpoint/job-states.ts';
export type { CheckpointSummary, TokenUsage, PollStats, ModelFigures } from './checkpoint/summary.ts';
export { batchStatus } from './checkpoint/batch-status.ts';
export type { BatchStatus, StatusOptions, RunningJob, ErroredJob } from './checkpoint/batch-status.ts';
export { writeResults } from './output/writer.ts';
export { exportResults } from './output/export.ts';
export type { ExportOptions, ExportResult } from './output/export.ts';
export type { OutputFormat } from './output/writer.ts';
export { listModels } from './api/list-models.ts';
export type { ModelInfo, ListModelsOptions } from './api/list-models.ts';
export { COMPLETION_WINDOWS } from './api/completion-window.ts';
export type { CompletionWindow } from './api/completion-window.ts';
export { DEFAULT_BASE_URL } from './api/base-url.ts';
export {
  SailbatchError,
  UsageError,
  InputError,
  CheckpointError,
  CheckpointBusyError,
  CheckpointDamagedError,
  NoSpaceError,
  FatalRunError,
  EXIT,
} from './errors.ts';
export type { InputIssue } from './errors.ts';
export { Simulator, startSimulator } from './sim/simulator.ts';
export type { SimOptions, SimOptionsInput, SimStats } from './sim/simulator.ts';
export type { SimFaults } from './sim/faults.ts';
export { simulatedText } from './sim/deterministic.ts';
