/** The user's settings (JupyterLab settings editor → "nb2pipe Pipeline"). */
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { Direction, NodeLabel } from './layout';

export const PLUGIN_ID = 'nb2pipe:plugin';

export interface IPipelineSettings {
  direction: Direction;
  nodeLabel: NodeLabel;
  liveSync: boolean;
  badges: boolean;
}

export const DEFAULTS: IPipelineSettings = {
  direction: 'TB',
  nodeLabel: 'name',
  liveSync: true,
  badges: true
};

export function readSettings(s: ISettingRegistry.ISettings | null): IPipelineSettings {
  if (!s) {
    return { ...DEFAULTS };
  }
  const c = s.composite as Partial<IPipelineSettings>;
  return {
    direction: c.direction === 'LR' ? 'LR' : 'TB',
    nodeLabel: c.nodeLabel === 'name+outputs' || c.nodeLabel === 'name+timing' ? c.nodeLabel : 'name',
    liveSync: c.liveSync !== false,
    badges: c.badges !== false
  };
}
