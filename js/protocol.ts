/**
 * The `nb2pipe` comm protocol (v1), as the kernel speaks it (src/nb2pipe/comm.py).
 * Pure types: no JupyterLab imports, so the model and its tests run under plain node.
 */

export const COMM_TARGET = 'nb2pipe';
export const PROTOCOL_VERSION = 1;

export type StepState =
  | 'fresh'
  | 'stale'
  | 'never run'
  | 'failed'
  | 'running'
  | 'blocked'
  | 'skipped';

export const STEP_STATES: StepState[] = [
  'fresh',
  'stale',
  'never run',
  'failed',
  'running',
  'blocked',
  'skipped'
];

export interface IOutputSummary {
  type?: string;
  rows?: number | null;
  columns?: number | null;
  schema?: Record<string, string> | Array<[string, string]> | string | null;
  shape?: number[] | null;
  dtype?: string | null;
  nbytes?: number | null;
}

export interface IStepStatus {
  step: string;
  state: StepState;
  reasons: string[];
  key: string | null;
  duration: number | null;
  finished: number | null;
  where: string;
  cell_id: string | null;
  inputs: string[];
  outputs: string[];
  summaries: Record<string, IOutputSummary>;
  error: string | null;
}

export interface IEdge {
  source: string;
  target: string;
  data: string;
}

export interface IGraphMsg {
  v?: number;
  type: 'graph';
  steps: IStepStatus[];
  edges: IEdge[];
  problems: string[];
  store: string;
}
export interface IPatchMsg {
  v?: number;
  type: 'patch';
  steps: IStepStatus[];
}
export interface IStateMsg {
  v?: number;
  type: 'state';
  step: string;
  state: StepState;
  error?: string;
  duration?: number;
  cached?: boolean;
}
export interface IRunStartMsg {
  v?: number;
  type: 'run_start';
  steps: string[];
}
export interface IProgressMsg {
  v?: number;
  type: 'progress';
  done: number;
  total: number;
  step: string;
  status: string;
  duration?: number;
}
export interface IRunEndMsg {
  v?: number;
  type: 'run_end';
  outcomes: Array<[string, string]>;
}
export interface IErrorMsg {
  v?: number;
  type: 'error';
  message: string;
}
export interface ISyncResultMsg {
  v?: number;
  type: 'sync_result';
  problems: Array<{ cell_id: string | null; message: string }>;
}
export interface IExportResultMsg {
  v?: number;
  type: 'export_result';
  ok: boolean;
  message: string;
  output?: string;
}

export type KernelMessage =
  | IGraphMsg
  | IPatchMsg
  | IStateMsg
  | IRunStartMsg
  | IProgressMsg
  | IRunEndMsg
  | IErrorMsg
  | ISyncResultMsg
  | IExportResultMsg;

/** A notebook cell as the kernel needs it to (re)define steps. */
export interface ICellSource {
  cell_id: string;
  source: string;
}

export interface IRunRequest {
  type: 'run';
  targets: string[];
  force: boolean;
  downstream: boolean;
  cells: ICellSource[];
}

export type FrontendMessage =
  | { type: 'graph' }
  | IRunRequest
  | { type: 'sync'; cells: ICellSource[] }
  | { type: 'export'; name: string; output: string; notebook: unknown };
