/**
 * nb2pipe's JupyterLab extension: the Pipeline sidebar, cell badges, commands
 * and settings.  Everything goes through the kernel's `nb2pipe` comm, so it works
 * unchanged with remote kernels (see ../../shared/DESIGN.md).
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { LabIcon } from '@jupyterlab/ui-components';

import { NotebookClients } from './notebooks';
import { addToPalette, registerCommands } from './plugincommands';
import { DEFAULTS, IPipelineSettings, PLUGIN_ID, readSettings } from './settings';
import { PipelineSidebar } from './widget';

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

/** The Pipeline sidebar in the left area, its place kept across reloads. */
function addSidebar(app: JupyterFrontEnd, restorer: ILayoutRestorer | null): PipelineSidebar {
  const sidebar = new PipelineSidebar(app.commands);
  sidebar.title.icon = pipelineIcon;
  app.shell.add(sidebar, 'left', { rank: 650, type: 'Pipeline' });
  restorer?.add(sidebar, 'nb2pipe-pipeline');
  return sidebar;
}

/** Apply the user's settings now and whenever they change. */
function followSettings(registry: ISettingRegistry, apply: (s: ISettingRegistry.ISettings) => void): void {
  registry
    .load(PLUGIN_ID)
    .then(s => {
      apply(s);
      s.changed.connect(apply);
    })
    .catch(e => console.warn('nb2pipe: cannot load settings', e));
}

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
    const sidebar = addSidebar(app, restorer);
    const notebooks = new NotebookClients(tracker, sidebar, () => settings.liveSync);
    if (registry) {
      followSettings(registry, s => {
        settings = readSettings(s);
        sidebar.layoutOptions = { direction: settings.direction, nodeLabel: settings.nodeLabel };
        document.body.classList.toggle('jp-nb2pipe-no-badges', !settings.badges);
      });
    }
    registerCommands(app, sidebar, notebooks);
    if (palette) {
      addToPalette(palette);
    }
    // available to tests and power users (e.g. `window.nb2pipe.sidebar.lastRenderMs`)
    (window as any).nb2pipe = { sidebar, clients: notebooks.clients };
  }
};

export default plugin;
