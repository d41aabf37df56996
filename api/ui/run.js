// Running a template: its parameter pages one at a time, each checked by the server before the
// next, then a review of everything entered, then `POST /v2/tasks` and on to the task's page.

import { ApiError, SCAFFOLDER, get, post } from './api.js';
import { buildPage, displayValue } from './form.js';
import { announce, errorBox, h, pageHeading, replace } from './dom.js';

export async function runView(main, { namespace, name }) {
  const base = `${SCAFFOLDER}/templates/${encodeURIComponent(namespace)}/template/${encodeURIComponent(name)}`;
  replace(main, pageHeading('Loading template…'));
  const schema = await get(`${base}/parameter-schema`);
  const pages = schema.steps ?? [];
  const values = {};
  const secrets = {};
  let current = 0;
  let pendingErrors = null;

  const heading = pageHeading(schema.title ?? name);
  const description = schema.description ? h('p', { class: 'lead' }, schema.description) : null;
  const progress = h('ol', { class: 'progress', 'aria-label': 'Form pages' });
  const body = h('div', { class: 'run-body' });
  replace(main, h('p', { class: 'breadcrumb' }, h('a', { href: '#/templates' }, 'Templates'), ' / ', schema.title ?? name),
    heading, description, progress, body);

  const titles = [...pages.map((page) => page.title), 'Review'];
  const drawProgress = () => replace(progress, titles.map((title, index) => h('li', {
    class: index === current ? 'current' : index < current ? 'done' : '',
    'aria-current': index === current ? 'step' : null,
  }, h('span', { class: 'visually-hidden' }, index < current ? 'Done: ' : index === current ? 'Current: ' : 'Next: '), title)));

  /** Which page asks for the field an error names. */
  const pageOf = (error) => {
    const key = error.name === 'required' && (error.path ?? []).length === 0 ? error.argument : error.path?.[0];
    const index = pages.findIndex((page) => Object.hasOwn(page.schema?.properties ?? {}, key));
    return index >= 0 ? index : current;
  };

  const showPage = (index, { focus = true } = {}) => {
    current = index;
    drawProgress();
    if (current >= pages.length) return showReview();
    const page = pages[current];
    const form = buildPage(page.schema ?? {}, values, secrets);
    const next = h('button', { type: 'submit', class: 'primary' }, current === pages.length - 1 ? 'Review' : 'Next');
    const back = current > 0 ? h('button', { type: 'button', class: 'secondary', onclick: () => { keep(form); showPage(current - 1); } }, 'Back') : null;
    const status = h('p', { class: 'form-status', role: 'status' });
    const element = h('form', { novalidate: true, class: 'parameter-page', 'aria-labelledby': 'page-title' },
      h('h2', { id: 'page-title', tabindex: '-1' }, `${page.title}`, h('span', { class: 'page-count' }, ` (page ${current + 1} of ${pages.length})`)),
      page.description ? h('p', { class: 'help' }, page.description) : null,
      form.element,
      h('div', { class: 'actions' }, back, next),
      status);
    element.addEventListener('submit', async (event) => {
      event.preventDefault();
      keep(form);
      next.disabled = true;
      status.textContent = 'Checking…';
      try {
        const answer = await post(`${base}/validate`, { values, page: current });
        status.textContent = '';
        if (answer.valid) {
          showPage(current + 1);
          return;
        }
        if (answer.page !== current) {
          pendingErrors = answer.errors;
          showPage(answer.page);
          return;
        }
        form.showErrors(answer.errors);
        announce(`${answer.errors.length} problem${answer.errors.length === 1 ? '' : 's'} on this page`);
        form.focusFirst();
      } catch (error) {
        status.textContent = '';
        form.showErrors([{ message: error.message, path: [] }]);
        form.focusFirst();
      } finally {
        next.disabled = false;
      }
    });
    replace(body, element);
    if (pendingErrors) {
      form.showErrors(pendingErrors);
      pendingErrors = null;
      form.focusFirst();
    } else if (focus) {
      const autofocus = element.querySelector('[data-autofocus]');
      (autofocus ?? element.querySelector('#page-title')).focus();
    }
    return undefined;
  };

  /** Moves this page's answers into `values` (a cleared field is removed). */
  const keep = (form) => {
    for (const key of form.keys) delete values[key];
    Object.assign(values, form.collect());
  };

  const showReview = () => {
    const status = h('div', { role: 'status', class: 'form-status' });
    const create = h('button', { type: 'button', class: 'primary' }, 'Create');
    const back = pages.length ? h('button', { type: 'button', class: 'secondary', onclick: () => showPage(pages.length - 1) }, 'Back') : null;
    const sections = pages.map((page, index) => h('section', { class: 'review-page' },
      h('h3', {}, page.title,
        h('button', { type: 'button', class: 'link small', onclick: () => showPage(index), 'aria-label': `Edit ${page.title}` }, 'Edit')),
      h('dl', {}, Object.entries(page.schema?.properties ?? {}).filter(([, p]) => p['ui:widget'] !== 'hidden').flatMap(([key, property]) => [
        h('dt', {}, property.title ?? key),
        h('dd', {}, property['ui:field'] === 'Secret'
          ? (secrets[key] ? '•••••• (secret)' : '—')
          : displayValue(values[key], property)),
      ]))));
    create.addEventListener('click', async () => {
      create.disabled = true;
      status.replaceChildren('Creating the task…');
      try {
        const body = { templateRef: `template:${namespace}/${name}`, values };
        if (Object.keys(secrets).length) body.secrets = { ...secrets };
        const created = await post(`${SCAFFOLDER}/tasks`, body);
        announce('Task created');
        location.hash = `#/tasks/${created.id}`;
      } catch (error) {
        create.disabled = false;
        if (error instanceof ApiError && Array.isArray(error.body?.errors) && pages.length) {
          pendingErrors = error.body.errors;
          showPage(pageOf(error.body.errors[0]));
          return;
        }
        status.replaceChildren(errorBox(error.message));
      }
    });
    replace(body, h('section', { class: 'review', 'aria-labelledby': 'review-title' },
      h('h2', { id: 'review-title', tabindex: '-1' }, 'Review'),
      pages.length ? sections : h('p', {}, 'This template asks for nothing. Create the task to run it.'),
      h('div', { class: 'actions' }, back, create),
      status));
    body.querySelector('#review-title').focus();
  };

  showPage(0, { focus: true });
}
