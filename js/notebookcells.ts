/**
 * The notebook's code cells as the kernel is told about them: their order and tags, the
 * pipeline cells (%%step / %%setup / %%params) with their current text.
 */
import { NotebookPanel } from '@jupyterlab/notebook';

import { ICellText } from './preview';
import { ICellInfo, ICellSource } from './protocol';

const TRACKED = /^\s*%%(step|setup|params)(\s|$)/;
const STEP = /^\s*%%step(\s|$)/;

type Cell = ReturnType<NonNullable<NotebookPanel['content']['model']>['cells']['get']>;

function codeCells(panel: NotebookPanel): Cell[] {
  const out: Cell[] = [];
  const cells = panel.content.model?.cells;
  if (!cells) {
    return out;
  }
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i);
    if (c.type === 'code') {
      out.push(c);
    }
  }
  return out;
}

/** The code cells in order, with their tags. */
export function cellOrder(panel: NotebookPanel): ICellInfo[] {
  return codeCells(panel).map(c => {
    const tags = c.getMetadata('tags');
    return { cell_id: c.id, tags: Array.isArray(tags) ? tags.map(String) : [] };
  });
}

/** Every code cell's id and current text (unexecuted edits included). */
export function cellTexts(panel: NotebookPanel): ICellText[] {
  return codeCells(panel).map(c => ({ cell_id: c.id, source: c.sharedModel.getSource() }));
}

/** The %%step / %%setup / %%params cells (only %%step ones with `onlySteps`), in order. */
export function pipelineCells(panel: NotebookPanel, onlySteps = false): ICellSource[] {
  const header = onlySteps ? STEP : TRACKED;
  return cellTexts(panel).filter(c => header.test(c.source));
}
