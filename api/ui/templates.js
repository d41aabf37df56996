// The templates of the catalog, with title, description, tags and owner, searchable by text.

import { CATALOG, get } from './api.js';
import { h, pageHeading, replace } from './dom.js';

export async function templatesView(main) {
  const list = h('ul', { class: 'cards', 'aria-labelledby': 'page-heading' });
  const count = h('p', { class: 'count', role: 'status' });
  const search = h('input', { type: 'search', id: 'template-search', autocomplete: 'off', placeholder: 'name, tag, owner…' });
  replace(main,
    pageHeading('Templates'),
    h('p', { class: 'lead' }, 'Choose a template, fill in its form, and watch it run.'),
    h('div', { class: 'field search' }, h('label', { for: 'template-search' }, 'Search templates'), search),
    count,
    list);

  const entities = await get(`${CATALOG}/entities?filter=kind=template`);
  const templates = (Array.isArray(entities) ? entities : entities.items ?? [])
    .map((entity) => {
      const metadata = entity.metadata ?? {};
      const tags = Array.isArray(metadata.tags) ? metadata.tags.map(String) : [];
      const template = {
        namespace: metadata.namespace ?? 'default',
        name: metadata.name,
        title: metadata.title ?? metadata.name,
        description: metadata.description ?? '',
        tags,
        owner: entity.spec?.owner ?? '',
        type: entity.spec?.type ?? '',
      };
      template.text = [template.name, template.title, template.description, template.owner, template.type, ...tags].join('\n').toLowerCase();
      return template;
    })
    .sort((a, b) => a.title.localeCompare(b.title));

  const card = (t) => h('li', { class: 'card' },
    h('h2', {}, h('a', { href: `#/create/${encodeURIComponent(t.namespace)}/${encodeURIComponent(t.name)}` }, t.title)),
    t.description ? h('p', {}, t.description) : null,
    h('dl', { class: 'card-meta' },
      t.owner ? [h('dt', {}, 'Owner'), h('dd', {}, t.owner)] : null,
      t.type ? [h('dt', {}, 'Type'), h('dd', {}, t.type)] : null),
    t.tags.length ? h('ul', { class: 'tags', 'aria-label': 'Tags' }, t.tags.map((tag) => h('li', { class: 'tag' }, tag))) : null,
    h('a', { class: 'button primary', href: `#/create/${encodeURIComponent(t.namespace)}/${encodeURIComponent(t.name)}`, 'aria-label': `Choose ${t.title}` }, 'Choose'));

  const draw = () => {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const shown = templates.filter((t) => words.every((word) => t.text.includes(word)));
    replace(list, shown.map(card));
    const message = shown.length === templates.length
      ? `${templates.length} template${templates.length === 1 ? '' : 's'}`
      : `${shown.length} of ${templates.length} templates match`;
    count.textContent = templates.length ? message : 'The catalog holds no templates yet.';
  };
  let timer = null;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(draw, 150);
  });
  draw();
}
