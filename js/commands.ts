/** The ids of nb2pipe's JupyterLab commands. */
export const CommandIDs = {
  runStale: 'nb2pipe:run-stale',
  runStep: 'nb2pipe:run-step',
  runDownstream: 'nb2pipe:run-downstream',
  forceRun: 'nb2pipe:force-run',
  exportPipeline: 'nb2pipe:export',
  loadExtension: 'nb2pipe:load-extension',
  showPanel: 'nb2pipe:show-panel',
  goToCell: 'nb2pipe:go-to-cell',
  check: 'nb2pipe:check',
  history: 'nb2pipe:history',
  preview: 'nb2pipe:preview'
};
