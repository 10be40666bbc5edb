/**
 * Export… from the sidebar: asks for the folder, asks before shipping steps that
 * are not fresh (listing them), asks plainly before replacing an earlier export,
 * and always ends with a notification that stays until dismissed.
 */
import { Dialog, InputDialog, Notification, showDialog } from '@jupyterlab/apputils';

import { Widget } from '@lumino/widgets';

import { PipelineClient } from './client';
import { IPipelineState } from './model';
import { FRESH_IN_STORE } from './preview';

/** `name (state)` of every step that is not fresh, in notebook order. */
export function notFresh(state: IPipelineState): string[] {
  return state.order
    .map(n => state.steps.get(n))
    .filter(s => s && s.state !== 'fresh' && (s.state as string) !== FRESH_IN_STORE)
    .map(s => `${s!.step} (${s!.state})`);
}

function listBody(intro: string, items: string[], outro: string): HTMLElement {
  const body = document.createElement('div');
  body.className = 'jp-nb2pipe-dialog';
  const p = document.createElement('p');
  p.textContent = intro;
  const ul = document.createElement('ul');
  for (const i of items) {
    const li = document.createElement('li');
    li.textContent = i;
    ul.append(li);
  }
  const q = document.createElement('p');
  q.textContent = outro;
  body.append(p, ul, q);
  return body;
}

async function confirm(title: string, body: HTMLElement | string, label: string): Promise<boolean> {
  const r = await showDialog({
    title,
    body: typeof body === 'string' ? body : new Widget({ node: body }),
    buttons: [Dialog.cancelButton({ label: 'Cancel' }), Dialog.warnButton({ label })]
  });
  return r.button.accept;
}

/** The export's folder as a server path: `output` is relative to the notebook's folder. */
export function folderOf(notebook: string, output: string): string {
  const parts = output.startsWith('/') ? [] : notebook.split('/').slice(0, -1);
  for (const p of output.split('/')) {
    if (p === '..') {
      parts.pop();
    } else if (p && p !== '.') {
      parts.push(p);
    }
  }
  return parts.join('/');
}

/** Run the whole Export… dialogue; `open(folder)` shows a folder in the file browser. */
export async function exportPipeline(c: PipelineClient, open: (folder: string) => void): Promise<void> {
  const path = c.panel.context.path;
  const stem = (path.split('/').pop() ?? 'pipeline').replace(/\.ipynb$/, '');
  const answer = await InputDialog.getText({
    title: 'Export the pipeline',
    label: 'Output folder (relative to the kernel’s working directory, usually the notebook’s folder)',
    text: `build/${stem}`
  });
  const output = answer.button.accept ? (answer.value ?? '').trim() : '';
  if (!output) {
    return;
  }
  const pending = notFresh(c.model.view);
  if (
    pending.length &&
    !(await confirm(
      'Some steps are not fresh',
      listBody(
        `${pending.length} step(s) are not fresh: the export would ship code that failed, changed since it ran, or never ran.`,
        pending,
        'Run them first (Run stale), or export anyway?'
      ),
      'Export anyway'
    ))
  ) {
    return;
  }
  const id = Notification.emit(`Exporting to ${output}…`, 'in-progress', { autoClose: false });
  let res = await c.exportPipeline(output, false);
  if (!res.ok && /exist/i.test(res.message)) {
    Notification.dismiss(id);
    const replace = await confirm(
      'Replace the existing export?',
      `${output} already holds an export. Replace its files with this export?`,
      'Replace'
    );
    if (!replace) {
      return;
    }
    res = await c.exportPipeline(output, true);
  }
  Notification.dismiss(id);
  const message = res.message.split('\n').slice(0, 4).join('\n');
  if (!res.ok) {
    Notification.error(`Export failed: ${message}`, { autoClose: false });
    return;
  }
  const folder = folderOf(path, output);
  Notification.success(message, {
    autoClose: false,
    actions: [{ label: 'Open folder', caption: `Show ${folder} in the file browser`, callback: () => open(folder) }]
  });
}
