/**
 * The Pipeline commands (ids in ./commands): run, check, ask the kernel about a
 * step, go to a step's cell, export, load the extension; and the command palette's
 * entries.  Each acts on the step and notebook `NotebookClients` picks.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { ICommandPalette, Notification } from '@jupyterlab/apputils';

import { PipelineClient, Request } from './client';
import { CommandIDs } from './commands';
import { exportPipeline } from './exporting';
import { NotebookClients } from './notebooks';
import { stepOfSource } from './stepline';
import { PipelineSidebar } from './widget';

/** The commands in the palette, in this order. */
const PALETTE_COMMANDS = [
  CommandIDs.showPanel,
  CommandIDs.runStale,
  CommandIDs.runStep,
  CommandIDs.runDownstream,
  CommandIDs.forceRun,
  CommandIDs.check,
  CommandIDs.exportPipeline,
  CommandIDs.loadExtension
];

export function addToPalette(palette: ICommandPalette): void {
  const category = 'Pipeline (nb2pipe)';
  for (const command of PALETTE_COMMANDS) {
    palette.addItem({ command, category });
  }
}

/**
 * True (and a warning) when `c` is not connected to a kernel with nb2pipe loaded.  A run
 * (`opening`) also goes ahead while the comm is being opened (after Load nb2pipe, or a
 * kernel that has not answered yet): its requests wait for the comm, they are not lost.
 */
function notConnected(c: PipelineClient | null, opening = false): boolean {
  const state = c?.model.state.connection;
  if (state === 'connected' || (opening && state === 'connecting')) {
    return false;
  }
  Notification.warning('nb2pipe is not connected: open a notebook and run `%load_ext nb2pipe`.', {
    autoClose: 4000
  });
  return true;
}

export function registerCommands(app: JupyterFrontEnd, sidebar: PipelineSidebar, nbs: NotebookClients): void {
  registerRunCommands(app, nbs);
  registerStepQueries(app, sidebar, nbs);
  registerNavigation(app, sidebar, nbs);
  registerKernelCommands(app, nbs);
}

/** Run stale steps, a step, a step and downstream, a forced re-run. */
function registerRunCommands(app: JupyterFrontEnd, nbs: NotebookClients): void {
  const run = (args: any, opts: { force?: boolean; downstream?: boolean }) => {
    const c = nbs.current();
    const step = nbs.targetStep(args);
    if (notConnected(c, true) || !step) {
      return;
    }
    void c!.run([step], opts);
  };
  app.commands.addCommand(CommandIDs.runStale, {
    label: 'Pipeline: Run Stale Steps',
    caption: 'Run every stale step with the current cell contents',
    execute: () => {
      const c = nbs.current();
      if (!notConnected(c, true)) {
        void c!.run([]);
      }
    }
  });
  app.commands.addCommand(CommandIDs.runStep, {
    label: args => (args?.step ? `Pipeline: Run Step ${args.step}` : 'Pipeline: Run Selected Step'),
    execute: args => run(args, {})
  });
  app.commands.addCommand(CommandIDs.runDownstream, {
    label: 'Pipeline: Run Step and Downstream',
    execute: args => run(args, { downstream: true })
  });
  app.commands.addCommand(CommandIDs.forceRun, {
    label: 'Pipeline: Force Re-run Step',
    execute: args => run(args, { force: true })
  });
}

/** History and preview of the target step: the kernel's answer lands in the model. */
function registerStepQueries(app: JupyterFrontEnd, sidebar: PipelineSidebar, nbs: NotebookClients): void {
  const askAbout = async (args: any, make: (step: string) => Request | null) => {
    const c = nbs.current();
    const step = nbs.targetStep(args);
    const req = step ? make(step) : null;
    if (!notConnected(c) && req) {
      sidebar.select(step, false);
      await c!.request(req);
    }
  };
  app.commands.addCommand(CommandIDs.history, {
    label: 'Pipeline: Show Step History',
    caption: "The step's last runs from the run records (time, duration, key, where) and its code's diff since its cached run",
    execute: args => askAbout(args, step => ({ type: 'history', step, limit: 8 }))
  });
  app.commands.addCommand(CommandIDs.preview, {
    label: 'Pipeline: Preview Output',
    caption: "An output's first rows, read from the store (nothing runs)",
    execute: args =>
      askAbout(args, step => (typeof args?.output === 'string' ? { type: 'preview', step, output: args.output, rows: 10 } : null))
  });
}

/** Show the panel; go to a step's cell. */
function registerNavigation(app: JupyterFrontEnd, sidebar: PipelineSidebar, nbs: NotebookClients): void {
  app.commands.addCommand(CommandIDs.showPanel, {
    label: 'Pipeline: Show Panel',
    execute: () => app.shell.activateById(sidebar.id)
  });
  app.commands.addCommand(CommandIDs.goToCell, {
    label: 'Pipeline: Go to Step Cell',
    execute: async args => {
      const c = nbs.current();
      const step = nbs.targetStep(args);
      if (c && step) {
        await goToCell(app, c, step, typeof args?.line === 'number' ? args.line : null);
      }
    }
  });
}

/**
 * Make the cell of `step` the notebook's active cell, scrolled into view, with the
 * keyboard on the notebook (Shift+Enter runs it); with a `line` (1 = the %%step
 * line), the cursor goes there in edit mode.
 */
async function goToCell(app: JupyterFrontEnd, c: PipelineClient, step: string, line: number | null): Promise<void> {
  const nb = c.panel.content;
  const id = c.model.view.steps.get(step)?.cell_id;
  let index = nb.widgets.findIndex(w => w.model.id === id);
  if (index < 0) {
    index = nb.widgets.findIndex(w => stepOfSource(w.model.sharedModel.getSource()) === step);
  }
  if (index < 0) {
    Notification.info(`The cell of step \`${step}\` is not in this notebook.`, { autoClose: 3000 });
    return;
  }
  nb.deselectAll();
  nb.activeCellIndex = index;
  nb.mode = 'command';
  await nb.scrollToItem(index, 'center');
  app.shell.activateById(c.panel.id);
  nb.activate();
  const editor = nb.activeCell?.editor;
  if (line !== null && editor) {
    nb.mode = 'edit';
    editor.setCursorPosition({ line: Math.max(0, Math.min(line - 1, editor.lineCount - 1)), column: 0 });
    editor.focus();
  }
}

/** Load nb2pipe in the kernel; check on a sample; export. */
function registerKernelCommands(app: JupyterFrontEnd, nbs: NotebookClients): void {
  app.commands.addCommand(CommandIDs.loadExtension, {
    label: 'Pipeline: Load nb2pipe in the Kernel',
    execute: async () => {
      const c = nbs.current();
      if (!c) {
        return;
      }
      try {
        await c.loadExtension();
      } catch (e) {
        Notification.error(String((e as Error).message ?? e));
      }
    }
  });
  app.commands.addCommand(CommandIDs.check, {
    label: 'Pipeline: Check on a Sample',
    caption: 'Run every step of the saved notebook on the first rows of its sources and compare the outputs with their contracts (%dag check --sample)',
    execute: async args => {
      const c = nbs.current();
      if (!notConnected(c)) {
        await c!.check(typeof args?.rows === 'number' ? args.rows : 1000);
      }
    }
  });
  app.commands.addCommand(CommandIDs.exportPipeline, {
    label: 'Pipeline: Export…',
    caption: 'Compile the pipeline into a package (the same exporter as `nb2pipe export`)',
    execute: async () => {
      const c = nbs.current();
      if (!notConnected(c)) {
        await exportPipeline(c!, folder => void app.commands.execute('filebrowser:go-to-path', { path: folder }));
      }
    }
  });
}
