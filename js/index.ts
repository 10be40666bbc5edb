/**
 * nb2pipe's JupyterLab extension: the Pipeline sidebar, cell badges, commands
 * and settings.  Everything goes through the kernel's `nb2pipe` comm, so it works
 * unchanged with remote kernels (see ../../shared/DESIGN.md).
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, Notification } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { LabIcon } from '@jupyterlab/ui-components';

import { CellBadges } from './badges';
import { exportPipeline } from './exporting';
import { PipelineClient, Request } from './client';
import { DEFAULTS, IPipelineSettings, PLUGIN_ID, readSettings } from './settings';
import { CommandIDs, PipelineSidebar } from './widget';

export { PipelineClient } from './client';
export { PipelineModel, reduce } from './model';

const pipelineIcon = new LabIcon({
  name: 'nb2pipe:pipeline',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16"><g class="jp-icon3" fill="#616161">' +
    '<rect x="9" y="2" width="6" height="5" rx="1"/><rect x="2" y="17" width="6" height="5" rx="1"/>' +
    '<rect x="16" y="17" width="6" height="5" rx="1"/>' +
    '<path d="M11.3 7h1.4v4H19a1 1 0 0 1 1 1v5h-1.4v-4.6H5.4V17H4v-5a1 1 0 0 1 1-1h6.3z"/></g></svg>'
});

const STEP_LINE = /^\s*%%step\s+([A-Za-z_][A-Za-z0-9_-]*)/;

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'The Pipeline sidebar: the live DAG of %%step cells beside the notebook.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ISettingRegistry, ICommandPalette, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    registry: ISettingRegistry | null,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null
  ) => {
    let settings: IPipelineSettings = { ...DEFAULTS };
    const clients = new Map<NotebookPanel, PipelineClient>();
    const sidebar = new PipelineSidebar(app.commands);
    sidebar.title.icon = pipelineIcon;
    app.shell.add(sidebar, 'left', { rank: 650, type: 'Pipeline' });
    restorer?.add(sidebar, 'nb2pipe-pipeline');

    const clientFor = (panel: NotebookPanel | null): PipelineClient | null => {
      if (!panel || panel.isDisposed) {
        return null;
      }
      let c = clients.get(panel);
      if (!c) {
        c = new PipelineClient(panel, { liveSync: () => settings.liveSync });
        clients.set(panel, c);
        new CellBadges(c);
        panel.disposed.connect(() => clients.delete(panel));
      }
      return c;
    };
    const follow = () => sidebar.setClient(clientFor(tracker.currentWidget));
    tracker.widgetAdded.connect((_, panel) => clientFor(panel));
    tracker.currentChanged.connect(follow);
    follow();

    const applySettings = (s: ISettingRegistry.ISettings | null) => {
      settings = readSettings(s);
      sidebar.layoutOptions = { direction: settings.direction, nodeLabel: settings.nodeLabel };
      document.body.classList.toggle('jp-nb2pipe-no-badges', !settings.badges);
    };
    if (registry) {
      registry
        .load(PLUGIN_ID)
        .then(s => {
          applySettings(s);
          s.changed.connect(applySettings);
        })
        .catch(e => console.warn('nb2pipe: cannot load settings', e));
    }

    const current = (): PipelineClient | null => sidebar.client ?? clientFor(tracker.currentWidget);
    /** The step of the active cell of the sidebar's notebook, if it is a %%step cell. */
    const activeStep = (): string | null => {
      const cell = tracker.currentWidget === sidebar.client?.panel ? tracker.activeCell : null;
      const m = cell ? STEP_LINE.exec(cell.model.sharedModel.getSource()) : null;
      return m ? m[1] : null;
    };
    /** The step a command acts on: its argument, the active cell's step, else the panel's selection. */
    const targetStep = (args: any): string | null => {
      if (typeof args?.step === 'string') {
        return args.step;
      }
      return activeStep() ?? sidebar.selected;
    };
    // both directions: the active cell's step is the panel's selection
    tracker.activeCellChanged.connect(() => {
      const step = activeStep();
      if (step && step !== sidebar.selected) {
        sidebar.select(step);
      }
    });
    const notConnected = (c: PipelineClient | null): boolean => {
      if (c && c.model.state.connection === 'connected') {
        return false;
      }
      Notification.warning('nb2pipe is not connected: open a notebook and run `%load_ext nb2pipe`.', {
        autoClose: 4000
      });
      return true;
    };
    const run = (args: any, opts: { force?: boolean; downstream?: boolean }) => {
      const c = current();
      const step = targetStep(args);
      if (notConnected(c) || !step) {
        return;
      }
      void c!.run([step], opts);
    };

    app.commands.addCommand(CommandIDs.runStale, {
      label: 'Pipeline: Run Stale Steps',
      caption: 'Run every stale step with the current cell contents',
      execute: () => {
        const c = current();
        if (!notConnected(c)) {
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
    app.commands.addCommand(CommandIDs.loadExtension, {
      label: 'Pipeline: Load nb2pipe in the Kernel',
      execute: async () => {
        const c = current();
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
    app.commands.addCommand(CommandIDs.showPanel, {
      label: 'Pipeline: Show Panel',
      execute: () => app.shell.activateById(sidebar.id)
    });
    app.commands.addCommand(CommandIDs.goToCell, {
      label: 'Pipeline: Go to Step Cell',
      execute: async args => {
        const c = current();
        const step = targetStep(args);
        if (!c || !step) {
          return;
        }
        const nb = c.panel.content;
        const id = c.model.view.steps.get(step)?.cell_id;
        let index = nb.widgets.findIndex(w => w.model.id === id);
        if (index < 0) {
          index = nb.widgets.findIndex(w => STEP_LINE.exec(w.model.sharedModel.getSource())?.[1] === step);
        }
        if (index < 0) {
          Notification.info(`The cell of step \`${step}\` is not in this notebook.`, { autoClose: 3000 });
          return;
        }
        nb.deselectAll();
        nb.activeCellIndex = index;
        nb.mode = 'command';
        await nb.scrollToItem(index, 'center');
        // keyboard focus on the notebook: Shift+Enter now runs that cell
        app.shell.activateById(c.panel.id);
        nb.activate();
        // a line of the cell (1 = the %%step line): the cursor goes there, in edit mode
        const line = typeof args?.line === 'number' ? args.line : null;
        const editor = nb.activeCell?.editor;
        if (line !== null && editor) {
          nb.mode = 'edit';
          editor.setCursorPosition({ line: Math.max(0, Math.min(line - 1, editor.lineCount - 1)), column: 0 });
          editor.focus();
        }
      }
    });
    app.commands.addCommand(CommandIDs.check, {
      label: 'Pipeline: Check on a Sample',
      caption: 'Run every step of the saved notebook on the first rows of its sources and compare the outputs with their contracts (%dag check --sample)',
      execute: async args => {
        const c = current();
        if (!notConnected(c)) {
          await c!.check(typeof args?.rows === 'number' ? args.rows : 1000);
        }
      }
    });
    /** Ask the kernel something about the target step (its answer lands in the model). */
    const askAbout = async (args: any, make: (step: string) => Request | null) => {
      const c = current();
      const step = targetStep(args);
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
    app.commands.addCommand(CommandIDs.exportPipeline, {
      label: 'Pipeline: Export…',
      caption: 'Compile the pipeline into a package (the same exporter as `nb2pipe export`)',
      execute: async () => {
        const c = current();
        if (!notConnected(c)) {
          await exportPipeline(c!, folder => void app.commands.execute('filebrowser:go-to-path', { path: folder }));
        }
      }
    });
    if (palette) {
      const category = 'Pipeline (nb2pipe)';
      for (const command of [
        CommandIDs.showPanel,
        CommandIDs.runStale,
        CommandIDs.runStep,
        CommandIDs.runDownstream,
        CommandIDs.forceRun,
        CommandIDs.check,
        CommandIDs.exportPipeline,
        CommandIDs.loadExtension
      ]) {
        palette.addItem({ command, category });
      }
    }
    // available to tests and power users (e.g. `window.nb2pipe.sidebar.lastRenderMs`)
    (window as any).nb2pipe = { sidebar, clients };
  }
};

export default plugin;
