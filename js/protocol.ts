/**
 * The `nb2pipe` comm protocol, generated from js/protocol.schema.json by
 * `python -m nb2pipe.protocol` (source: src/nb2pipe/protocol.py).  Do not edit.
 * Pure types: no JupyterLab imports, so the model and its tests run under plain node.
 */

export const COMM_TARGET = 'nb2pipe';
export const PROTOCOL_VERSION = 1;

export const EventType = {
  GRAPH: 'graph',
  PATCH: 'patch',
  STATE: 'state',
  PROGRESS: 'progress',
  RUN_START: 'run_start',
  RUN_END: 'run_end',
  REPLY: 'reply',
  PLAN: 'plan',
  CHECK: 'check',
  HISTORY: 'history',
  PREVIEW: 'preview'
} as const;
export type EventType = (typeof EventType)[keyof typeof EventType];
export const EVENT_TYPES: EventType[] = Object.values(EventType);

export const MessageType = {
  STATUS: 'status',
  RUN: 'run',
  SYNC: 'sync',
  EXPORT: 'export',
  ORDER: 'order',
  PLAN: 'plan',
  CHECK: 'check',
  HISTORY: 'history',
  PREVIEW: 'preview'
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];
export const MESSAGE_TYPES: MessageType[] = Object.values(MessageType);

export const OutcomeStatus = {
  RAN: 'ran',
  CACHED: 'cached',
  FRESH: 'fresh',
  FAILED: 'failed',
  SKIPPED: 'skipped'
} as const;
export type OutcomeStatus = (typeof OutcomeStatus)[keyof typeof OutcomeStatus];
export const OUTCOME_STATUSES: OutcomeStatus[] = Object.values(OutcomeStatus);

export const StepState = {
  FRESH: 'fresh',
  STALE: 'stale',
  NEVER_RUN: 'never run',
  FAILED: 'failed',
  RUNNING: 'running',
  BLOCKED: 'blocked',
  SKIPPED: 'skipped'
} as const;
export type StepState = (typeof StepState)[keyof typeof StepState];
export const STEP_STATES: StepState[] = Object.values(StepState);

/** A code cell of the notebook, in notebook order, with its tags. */
export interface ICellInfo {
  cell_id: string;
  tags: string[];
}

export interface ICellProblem {
  cell_id: string | null;
  message: string;
}

/** A notebook cell as the kernel needs it to (re)define steps. */
export interface ICellSource {
  cell_id: string;
  source: string;
}

/** One way a step's output breaks its contract on the sample; ``column`` None: the whole output (its type). ``made_by``: the step the break comes from (this one or the first above it with the same column broken), ``line`` the line of its cell (None: not found). */
export interface ICheckBreak {
  step: string;
  output: string;
  column: string | null;
  expected: string;
  got: string;
  made_by: string;
  line: number | null;
  message: string;
}

/** The answer to ``check``: every step of the notebook as last saved run on the first ``rows`` rows of its sources, outputs compared with their contracts. ``sampled``: source -> rows kept; ``full``: source read in full -> why; ``unsampled_steps``: steps that read no sampled source (they ran on full data) -> seconds; ``failed``/``skipped``/``not_checked``: step -> why; ``durations``: step -> seconds; ``wall``: the whole check's seconds; ``report``: the text ``%dag check --sample`` prints. */
export interface ICheckMsg {
  v?: number;
  type: 'check';
  ok: boolean;
  rows: number;
  breaks: ICheckBreak[];
  sampled: Record<string, number>;
  full: Record<string, string>;
  unsampled_steps: Record<string, number>;
  failed: Record<string, string>;
  skipped: Record<string, string>;
  not_checked: Record<string, string>;
  no_contract: string[];
  durations: Record<string, number>;
  wall: number;
  report: string;
}

/** Run a sample check of the notebook as last saved (as ``%dag check --sample ROWS``); answered by ``check`` then ``reply`` (not ok, with the message, when it cannot run). */
export interface ICheckRequest {
  v?: number;
  type: 'check';
  id: string;
  rows: number;
}

/** ``data`` flows from step ``source`` to step ``target``; a table's ``rows`` x ``columns`` as its producer's last stored entry has them (left out when not a table or not stored). A ``patch`` does not resend edges: the same counts are in the producer's ``summaries``. */
export interface IEdge {
  source: string;
  target: string;
  data: string;
  rows?: number | null;
  columns?: number | null;
}

export interface IExportRequest {
  v?: number;
  type: 'export';
  id: string;
  name: string;
  output: string;
  notebook?: unknown;
  overwrite: boolean;
}

export interface IGraphMsg {
  v?: number;
  type: 'graph';
  steps: IStepStatus[];
  edges: IEdge[];
  problems: string[];
  store: string;
  env: string | null;
}

/** The answer to ``history``: the step's last ``limit`` runs from the run records (and its last result when no record holds it), newest first; ``diff``: a unified diff of the step's cell as its cached entry was made (``--- cached KEY``) to the cell now (``+++ now``), empty when they are the same or the entry does not keep its code (``diff_note`` then says why). */
export interface IHistoryMsg {
  v?: number;
  type: 'history';
  step: string;
  runs: IHistoryRun[];
  diff: string;
  diff_note: string;
  cached_key?: string | null;
}

/** The step's last ``limit`` runs and the diff of its code since its cached run; answered by ``history`` then ``reply`` (not ok, with what/fix, for an unknown step). */
export interface IHistoryRequest {
  v?: number;
  type: 'history';
  id: string;
  step: string;
  limit: number;
}

/** One run of a step from the run records, newest first: ``finished`` (epoch seconds), ``duration`` (seconds spent; a cached step's is the lookup), ``key`` (12 hex digits), ``status`` (ran, cached, fresh, failed, skipped), ``rows`` per output when its entry is still stored and the output is a table (None: not known), ``where`` it ran (``notebook`` for a run in the kernel: a step cell, ``%dag run``, the panel; ``notebook cell (no run record)`` for a cell run that wrote no record, by an older nb2pipe), ``CLI`` with its executor and scheduler, e.g. ``CLI (dask)``, ``CLI (local, Airflow)``), ``user``, ``run_id`` (None: no run record) and ``error``. */
export interface IHistoryRun {
  finished: number | null;
  duration: number | null;
  key: string | null;
  status: string;
  rows: Record<string, number | null>;
  where: string;
  user?: string | null;
  run_id?: string | null;
  error?: string | null;
}

export interface IOrderRequest {
  v?: number;
  type: 'order';
  id: string;
  cells: ICellInfo[];
}

/** What the sidebar shows of one stored output (see ``results.summary``). */
export interface IOutputSummary {
  type?: string | null;
  rows?: number | null;
  columns?: number | null;
  schema?: Array<[string, string]> | null;
  shape?: number[] | null;
  dtype?: string | null;
  nbytes?: number | null;
}

export interface IPatchMsg {
  v?: number;
  type: 'patch';
  steps: IStepStatus[];
}

/** The answer to ``plan``: the notebook's steps as ``nb2pipe status`` sees them (its cells as the frontend has them, this kernel's store), nothing executed. */
export interface IPlanMsg {
  v?: number;
  type: 'plan';
  steps: IStepStatus[];
  edges: IEdge[];
  problems: string[];
}

/** Plan the notebook (its JSON) without running anything; answered by ``plan`` then ``reply``. */
export interface IPlanRequest {
  v?: number;
  type: 'plan';
  id: string;
  name: string;
  notebook?: unknown;
}

/** The answer to ``preview``: one stored output of a step, read from the store (nothing executed, never the kernel's variable). A table: ``rows`` x ``columns``, ``schema`` [(column, Arrow type)] and ``head``, its first rows as strings, one list per row in ``schema``'s order. Anything else: ``repr``, a short repr (``rows``/``columns`` None). ``key``: the entry read; ``type``: the stored value's type. */
export interface IPreviewMsg {
  v?: number;
  type: 'preview';
  step: string;
  output: string;
  key: string;
  value_type: string;
  nbytes: number;
  rows?: number | null;
  columns?: number | null;
  schema: Array<[string, string]>;
  head: string[][];
  repr?: string | null;
}

/** The first ``rows`` rows of one stored output of a step, read from the store without executing anything; answered by ``preview`` then ``reply`` (not ok, with what/fix, for an unknown step or output, or a missing object). */
export interface IPreviewRequest {
  v?: number;
  type: 'preview';
  id: string;
  step: string;
  output: string;
  rows: number;
}

export interface IProgressMsg {
  v?: number;
  type: 'progress';
  done: number;
  total: number;
  step: string;
  status: OutcomeStatus;
  key: string | null;
  duration: number;
  saved: number;
  error: string | null;
  traceback: string;
}

/** The answer to one request: ``ok`` or the error ``message``; ``problems`` of cells (``run``, ``sync``); ``output`` (``export``). */
export interface IReplyMsg {
  v?: number;
  type: 'reply';
  id: string | null;
  request: string;
  ok: boolean;
  message: string;
  problems: ICellProblem[];
  output?: string | null;
}

export interface IRunEndMsg {
  v?: number;
  type: 'run_end';
  outcomes: Array<[string, OutcomeStatus]>;
}

export interface IRunRequest {
  v?: number;
  type: 'run';
  id: string;
  targets: string[];
  force: boolean;
  downstream: boolean;
  cells: ICellSource[];
}

export interface IRunStartMsg {
  v?: number;
  type: 'run_start';
  steps: string[];
}

export interface IStateMsg {
  v?: number;
  type: 'state';
  step: string;
  state: StepState;
  error?: string | null;
  duration?: number | null;
  cached?: boolean | null;
}

export interface IStatusRequest {
  v?: number;
  type: 'status';
  id: string;
}

/** One step as the sidebar draws it; ``group``: the ``--group`` it belongs to (the panel can collapse a group into one node), left out when it has none. */
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
  group?: string | null;
}

export interface ISyncRequest {
  v?: number;
  type: 'sync';
  id: string;
  cells: ICellSource[];
}

export type KernelMessage =
  | IGraphMsg
  | IPatchMsg
  | IStateMsg
  | IProgressMsg
  | IRunStartMsg
  | IRunEndMsg
  | IReplyMsg
  | IPlanMsg
  | ICheckMsg
  | IHistoryMsg
  | IPreviewMsg;

export type FrontendMessage =
  | IStatusRequest
  | IRunRequest
  | ISyncRequest
  | IExportRequest
  | IOrderRequest
  | IPlanRequest
  | ICheckRequest
  | IHistoryRequest
  | IPreviewRequest;
