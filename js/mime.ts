/** The MIME renderer extension of `%dag show`'s picture (see dagoutput.ts). */
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';

import { dagRendererFactory } from './dagoutput';

const extension: IRenderMime.IExtension = {
  id: 'nb2pipe:dag-renderer',
  description: 'Draws `%dag show` with the Pipeline sidebar\'s layout and theme colours.',
  rendererFactory: dagRendererFactory,
  // ahead of image/svg+xml, the fallback the kernel sends beside the graph
  rank: 0,
  dataType: 'json'
};

export default extension;
