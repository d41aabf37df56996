// The tasks list: mine or all (the server decides what "all" may hold), filtered by status, in
// pages. The filters live in the address (`#/tasks?owner=all&status=failed&page=2`), so back and
// forward work and a filtered list can be shared.

import { SCAFFOLDER, get } from './api.js';
import { formatTime, h, pageHeading, replace, statusChip } from './dom.js';

const PAGE_SIZE = 20;
const STATUSES = ['open', 'processing', 'completed', 'failed', 'cancelled', 'skipped'];

export async function tasksView(main, { query }, identity) {
  const me = identity?.userEntityRef ?? null;
  const owner = me && query.get('owner') !== 'all' ? 'mine' : 'all';
  const status = STATUSES.includes(query.get('status')) ? query.get('status') : '';
  const page = Math.max(1, Number.parseInt(query.get('page') ?? '1', 10) || 1);

  const go = (changes) => {
    const next = new URLSearchParams({ owner, status, page: String(page), ...changes });
    if (!next.get('status')) next.delete('status');
    if (next.get('page') === '1') next.delete('page');
    location.hash = `#/tasks?${next}`;
  };

  const ownerChoice = (value, label, disabled) => {
    const id = `owner-${value}`;
    const input = h('input', { type: 'radio', name: 'owner', id, value, disabled, onchange: () => go({ owner: value, page: '1' }) });
    input.checked = owner === value;
    return h('div', { class: 'choice' }, input, h('label', { for: id }, label));
  };
  const statusSelect = h('select', { id: 'status-filter', onchange: (e) => go({ status: e.target.value, page: '1' }) },
    h('option', { value: '' }, 'Any status'), STATUSES.map((s) => h('option', { value: s }, s)));
  statusSelect.value = status;

  const results = h('div', { class: 'task-results', 'aria-live': 'polite' }, h('p', {}, 'Loading…'));
  replace(main,
    pageHeading('Tasks'),
    h('form', { class: 'filters', onsubmit: (e) => e.preventDefault() },
      h('fieldset', { class: 'inline' }, h('legend', {}, 'Show'),
        ownerChoice('mine', 'My tasks', !me), ownerChoice('all', 'All tasks I may see', false)),
      h('div', { class: 'field inline' }, h('label', { for: 'status-filter' }, 'Status'), statusSelect)),
    me ? null : h('p', { class: 'help' }, 'Signed out or signed in as a service: tasks are not tied to you, so all tasks you may see are listed.'),
    results);

  const params = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String((page - 1) * PAGE_SIZE), order: 'desc:created_at' });
  if (owner === 'mine') params.set('createdBy', me);
  if (status) params.set('status', status);
  const answer = await get(`${SCAFFOLDER}/tasks?${params}`);
  const total = answer.totalTasks ?? answer.tasks.length;
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  if (!answer.tasks.length) {
    replace(results, h('p', {}, total ? 'No tasks on this page.' : 'No tasks match.'),
      page > 1 ? h('button', { type: 'button', class: 'secondary', onclick: () => go({ page: '1' }) }, 'First page') : null);
    return;
  }
  const from = (page - 1) * PAGE_SIZE + 1;
  const to = from + answer.tasks.length - 1;
  replace(results,
    h('table', { class: 'tasks' },
      h('caption', {}, `Tasks ${from}–${to} of ${total}`),
      h('thead', {}, h('tr', {}, ['Task', 'Template', 'Status', 'Created by', 'Created'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, answer.tasks.map((task) => {
        const info = task.spec?.templateInfo ?? {};
        return h('tr', {},
          h('td', { 'data-label': 'Task' }, h('a', { href: `#/tasks/${task.id}`, class: 'mono task-id' }, task.id)),
          h('td', { 'data-label': 'Template' }, info.entity?.metadata?.title ?? info.entityRef ?? '—'),
          h('td', { 'data-label': 'Status' }, statusChip(task.status)),
          h('td', { 'data-label': 'Created by' }, task.createdBy ?? '—'),
          h('td', { 'data-label': 'Created' }, formatTime(task.createdAt)));
      }))),
    h('nav', { class: 'pager', 'aria-label': 'Pages of tasks' },
      h('button', { type: 'button', class: 'secondary', disabled: page <= 1, onclick: () => go({ page: String(page - 1) }) }, 'Previous'),
      h('span', {}, `Page ${page} of ${pages}`),
      h('button', { type: 'button', class: 'secondary', disabled: page >= pages, onclick: () => go({ page: String(page + 1) }) }, 'Next')));
}
