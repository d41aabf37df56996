// A parameter page's JSON Schema turned into form fields, the values read back, and the server's
// validation errors shown on the fields they name. The page never judges values itself: the form
// is `novalidate` and every message comes from the server, so they match what a submission gets.
//
// Supported: strings (with `enum`/`enumNames`, `format`, `ui:widget` textarea/password/radio),
// numbers and integers, booleans, arrays (of enums as checkboxes; of strings, numbers or objects as
// lists), objects (nested), `required`, `default`, `title`, `description`, `ui:help`,
// `ui:placeholder`, `ui:autofocus`, `ui:readonly`/`ui:disabled`, `ui:order`, and `ui:field: Secret`
// (the value goes to the task's secrets, not its values). Backstage's entity pickers
// (`OwnerPicker`, `EntityPicker`, ...) are text boxes offering the catalog's entities of the
// allowed kinds; `RepoUrlPicker` is a text box for `host?owner=…&repo=…`; other custom fields are
// plain text boxes.

import { CATALOG, get } from './api.js';
import { h, uid } from './dom.js';

const ENTITY_PICKERS = new Set(['OwnerPicker', 'EntityPicker', 'OwnedEntityPicker', 'MyGroupsPicker', 'MultiEntityPicker']);

/** The kinds an entity picker offers: `allowedKinds`, the catalog filter's `kind`, or owners. */
function pickerKinds(schema) {
  const options = schema['ui:options'] ?? {};
  if (Array.isArray(options.allowedKinds)) return options.allowedKinds;
  const filters = Array.isArray(options.catalogFilter) ? options.catalogFilter : [options.catalogFilter ?? {}];
  const kinds = filters.flatMap((filter) => [filter?.kind ?? []].flat()).filter((k) => typeof k === 'string');
  if (kinds.length) return kinds;
  return schema['ui:field'] === 'OwnerPicker' || schema['ui:field'] === 'MyGroupsPicker' ? ['Group', 'User'] : [];
}

/** A datalist of catalog entities of `kinds`, filled when the catalog answers. */
function entityList(kinds) {
  const list = h('datalist', { id: uid('entities') });
  Promise.all(kinds.map((kind) => get(`${CATALOG}/entities?filter=${encodeURIComponent(`kind=${kind}`)}&fields=kind,metadata.name,metadata.namespace,metadata.title`).catch(() => [])))
    .then((answers) => {
      for (const entity of answers.flat()) {
        const ref = `${entity.kind}:${entity.metadata?.namespace ?? 'default'}/${entity.metadata?.name}`.toLowerCase();
        list.append(h('option', { value: ref }, entity.metadata?.title ?? ref));
      }
    });
  return list;
}

const primaryType = (schema) => {
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  if (type) return type;
  if (schema.enum) return typeof schema.enum[0] === 'number' ? 'number' : 'string';
  if (schema.properties) return 'object';
  if (schema.items) return 'array';
  return 'string';
};

/** Property names in `ui:order` (with `*` for the rest), else as written. */
function orderedKeys(schema) {
  const keys = Object.keys(schema.properties ?? {});
  const order = schema['ui:order'];
  if (!Array.isArray(order)) return keys;
  const listed = order.filter((k) => k !== '*' && keys.includes(k));
  const rest = keys.filter((k) => !listed.includes(k));
  const star = order.indexOf('*');
  if (star < 0) return [...listed, ...rest];
  const before = order.slice(0, star).filter((k) => keys.includes(k));
  const after = order.slice(star + 1).filter((k) => keys.includes(k));
  return [...before, ...rest, ...after];
}

const pointer = (path) => `/${path.map((segment) => String(segment).replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`;

/**
 * A form for one page. `values`/`secrets` hold what was entered before (or nothing: defaults
 * apply). Returns {element, collect(), showErrors(errors), clearErrors(), focusFirst()}.
 */
export function buildPage(schema, values = {}, secrets = {}) {
  const registry = new Map();
  const context = { registry, secrets };
  const root = objectFields(schema, [], values ?? {}, context);
  const summary = h('div', { class: 'error-summary', hidden: true, tabindex: '-1' });
  const element = h('div', { class: 'page-fields' }, summary, root.nodes);

  const clearErrors = () => {
    summary.hidden = true;
    summary.replaceChildren();
    for (const field of registry.values()) field.setError(null);
  };

  /** The field an error names: its path, plus the missing property for `required`. */
  const fieldFor = (error) => {
    const path = Array.isArray(error.path) ? [...error.path] : [];
    if (error.name === 'required' && typeof error.argument === 'string') path.push(error.argument);
    for (let length = path.length; length > 0; length -= 1) {
      const field = registry.get(pointer(path.slice(0, length)));
      if (field) return field;
    }
    return null;
  };

  const showErrors = (errors) => {
    clearErrors();
    const byField = new Map();
    const loose = [];
    for (const error of errors) {
      const field = fieldFor(error);
      if (!field) { loose.push(error.message ?? String(error)); continue; }
      if (!byField.has(field)) byField.set(field, []);
      byField.get(field).push(error.message);
    }
    for (const [field, messages] of byField) field.setError(messages.join('; '));
    const count = byField.size + loose.length;
    if (!count) return 0;
    summary.append(
      h('h2', {}, count === 1 ? 'There is a problem on this page' : `There are ${count} problems on this page`),
      h('ul', {},
        [...byField].map(([field, messages]) => h('li', {},
          h('button', { type: 'button', class: 'link', onclick: () => field.focus() }, `${field.title}: ${messages.join('; ')}`))),
        loose.map((message) => h('li', {}, message))));
    summary.hidden = false;
    return count;
  };

  const focusFirst = () => {
    const first = [...registry.values()].find((field) => field.hasError());
    if (first) first.focus();
    else summary.focus();
  };

  return {
    element,
    keys: Object.keys(schema.properties ?? {}),
    collect: () => root.get(),
    showErrors,
    clearErrors,
    focusFirst,
    fieldTitles: () => new Map([...registry].map(([key, field]) => [key, field.title])),
  };
}

/** The fields of an object schema (a page is one), flattened into `nodes`. */
function objectFields(schema, path, value, context) {
  const required = new Set(Array.isArray(schema.required) ? schema.required : []);
  const children = orderedKeys(schema).map((key) => {
    const property = schema.properties[key] ?? {};
    const initial = value && typeof value === 'object' ? value[key] : undefined;
    return { key, field: fieldFor(key, property, [...path, key], initial, required.has(key), context) };
  });
  return {
    nodes: children.map((child) => child.field.element).filter(Boolean),
    get: () => {
      const result = {};
      for (const { key, field } of children) {
        const v = field.get();
        if (v !== undefined && !field.secret) result[key] = v;
      }
      return result;
    },
  };
}

/** Label, description, help and error wiring shared by every kind of field. */
function frame(schema, key, required, { group = false } = {}) {
  const id = uid('field');
  const title = schema.title ?? key;
  const helpText = [schema.description, schema['ui:help']].filter(Boolean);
  const helpId = helpText.length ? `${id}-help` : null;
  const errorId = `${id}-error`;
  const marker = required ? [h('span', { class: 'required', 'aria-hidden': 'true' }, ' *'), h('span', { class: 'visually-hidden' }, ' (required)')] : [];
  const label = group
    ? h('legend', { id: `${id}-label` }, title, marker)
    : h('label', { for: id, id: `${id}-label` }, title, marker);
  const help = helpId ? h('div', { class: 'help', id: helpId }, helpText.map((text) => h('p', {}, text))) : null;
  const error = h('p', { class: 'field-error', id: errorId, hidden: true });
  const describedBy = [helpId, errorId].filter(Boolean).join(' ');
  return { id, title, label, help, error, describedBy };
}

function fieldFor(key, schema, path, initial, required, context) {
  const value = initial !== undefined ? initial : schema.default;
  if (schema['ui:widget'] === 'hidden') {
    return { element: null, get: () => value, setError() {}, hasError: () => false, focus() {}, title: key };
  }
  const type = primaryType(schema);
  let field;
  if (schema['ui:field'] === 'Secret') field = secretField(key, schema, required, context);
  else if (type === 'boolean') field = booleanField(key, schema, value, required);
  else if (type === 'object') field = objectField(key, schema, path, value, required, context);
  else if (type === 'array') field = arrayField(key, schema, path, value, required, context);
  else if (schema.enum) field = enumField(key, schema, value, required);
  else field = textField(key, schema, value, required, type);
  context.registry.set(pointer(path), field);
  return field;
}

/** Error display for a field whose focus target is `control`. */
function errorHandling(f, control, wrapper) {
  return {
    setError(message) {
      f.error.textContent = message ?? '';
      f.error.hidden = !message;
      wrapper.classList.toggle('invalid', Boolean(message));
      if (control) {
        if (message) control.setAttribute('aria-invalid', 'true');
        else control.removeAttribute('aria-invalid');
      }
    },
    hasError: () => !f.error.hidden,
    focus: () => control?.focus(),
    title: f.title,
  };
}

function commonAttributes(f, schema, required) {
  return {
    id: f.id,
    name: f.id,
    'aria-describedby': f.describedBy || null,
    'aria-required': required ? 'true' : null,
    // Focused by the page once it is shown (the `autofocus` attribute only works on page load).
    'data-autofocus': schema['ui:autofocus'] === true,
    readonly: schema['ui:readonly'] === true,
    disabled: schema['ui:disabled'] === true,
    placeholder: schema['ui:placeholder'] ?? null,
  };
}

function textField(key, schema, value, required, type) {
  const picker = schema['ui:field'];
  const options = schema['ui:options'] ?? {};
  let extra = null;
  if (picker === 'RepoUrlPicker') {
    const hosts = Array.isArray(options.allowedHosts) ? ` Hosts: ${options.allowedHosts.join(', ')}.` : '';
    const owners = Array.isArray(options.allowedOwners) ? ` Owners: ${options.allowedOwners.join(', ')}.` : '';
    schema = { 'ui:placeholder': `${options.allowedHosts?.[0] ?? 'github.com'}?owner=${options.allowedOwners?.[0] ?? 'owner'}&repo=name`, ...schema,
      'ui:help': [schema['ui:help'], `Written as host?owner=…&repo=….${hosts}${owners}`].filter(Boolean).join(' ') };
  }
  const kinds = ENTITY_PICKERS.has(picker) ? pickerKinds(schema) : [];
  if (ENTITY_PICKERS.has(picker)) {
    schema = { 'ui:placeholder': `${(kinds[0] ?? 'kind').toLowerCase()}:default/name`, ...schema };
  }
  const f = frame(schema, key, required);
  const widget = schema['ui:widget'];
  const attributes = commonAttributes(f, schema, required);
  if (kinds.length) {
    extra = entityList(kinds);
    attributes.list = extra.id;
  }
  let control;
  if (widget === 'textarea' || schema['ui:options']?.rows) {
    control = h('textarea', { ...attributes, rows: schema['ui:options']?.rows ?? 4 });
    control.value = value ?? '';
  } else {
    let inputType = 'text';
    if (type === 'number' || type === 'integer') inputType = 'number';
    else if (widget === 'password') inputType = 'password';
    else if (schema.format === 'date') inputType = 'date';
    else if (schema.format === 'email') inputType = 'email';
    else if (schema.format === 'uri' || schema.format === 'url') inputType = 'url';
    control = h('input', {
      ...attributes,
      type: inputType,
      step: type === 'integer' ? '1' : type === 'number' ? 'any' : null,
      min: schema.minimum ?? null,
      max: schema.maximum ?? null,
      autocomplete: 'off',
      spellcheck: 'false',
    });
    control.value = value ?? '';
  }
  const wrapper = h('div', { class: 'field' }, f.label, f.help, control, extra, f.error);
  return {
    element: wrapper,
    get() {
      const raw = control.value;
      if (raw === '') return undefined;
      if (type === 'number' || type === 'integer') {
        const number = Number(raw);
        // Not a number: sent as typed, so the server says what is wrong with it.
        return Number.isFinite(number) ? number : raw;
      }
      return raw;
    },
    ...errorHandling(f, control, wrapper),
  };
}

function secretField(key, schema, required, context) {
  const f = frame(schema, key, required);
  const control = h('input', { ...commonAttributes(f, schema, required), type: 'password', autocomplete: 'off' });
  control.value = context.secrets[key] ?? '';
  control.addEventListener('input', () => {
    if (control.value) context.secrets[key] = control.value;
    else delete context.secrets[key];
  });
  const note = h('p', { class: 'help' }, 'Kept as a secret: never stored with the task\u2019s values.');
  const wrapper = h('div', { class: 'field' }, f.label, f.help, note, control, f.error);
  return { element: wrapper, secret: true, get: () => undefined, ...errorHandling(f, control, wrapper) };
}

function enumLabels(schema) {
  const names = Array.isArray(schema.enumNames) ? schema.enumNames : [];
  return schema.enum.map((option, index) => ({ value: option, label: String(names[index] ?? option) }));
}

function enumField(key, schema, value, required) {
  const options = enumLabels(schema);
  if (schema['ui:widget'] === 'radio') {
    const f = frame(schema, key, required, { group: true });
    const radios = options.map((option) => {
      const id = uid('option');
      const input = h('input', { type: 'radio', id, name: f.id, value: JSON.stringify(option.value) });
      input.checked = value !== undefined && option.value === value;
      return { input, element: h('div', { class: 'choice' }, input, h('label', { for: id }, option.label)) };
    });
    const wrapper = h('fieldset', { class: 'field', 'aria-describedby': f.describedBy || null }, f.label, f.help,
      radios.map((r) => r.element), f.error);
    return {
      element: wrapper,
      get() {
        const chosen = radios.find((r) => r.input.checked);
        return chosen ? JSON.parse(chosen.input.value) : undefined;
      },
      ...errorHandling(f, radios[0]?.input, wrapper),
    };
  }
  const f = frame(schema, key, required);
  const select = h('select', commonAttributes(f, schema, required),
    h('option', { value: '' }, schema['ui:placeholder'] ?? '— choose —'),
    options.map((option, index) => h('option', { value: String(index) }, option.label)));
  const selected = options.findIndex((option) => option.value === value);
  select.value = selected >= 0 ? String(selected) : '';
  const wrapper = h('div', { class: 'field' }, f.label, f.help, select, f.error);
  return {
    element: wrapper,
    get: () => (select.value === '' ? undefined : options[Number(select.value)].value),
    ...errorHandling(f, select, wrapper),
  };
}

function booleanField(key, schema, value, required) {
  const f = frame(schema, key, required);
  const attributes = commonAttributes(f, schema, required);
  delete attributes.placeholder;
  const control = h('input', { ...attributes, type: 'checkbox' });
  control.checked = value === true;
  const wrapper = h('div', { class: 'field field-checkbox' }, h('div', { class: 'choice' }, control, f.label), f.help, f.error);
  return { element: wrapper, get: () => control.checked, ...errorHandling(f, control, wrapper) };
}

function objectField(key, schema, path, value, required, context) {
  const f = frame(schema, key, required, { group: true });
  const inner = objectFields(schema, path, value ?? {}, context);
  const wrapper = h('fieldset', { class: 'field field-object', 'aria-describedby': f.describedBy || null },
    f.label, f.help, f.error, inner.nodes);
  const firstControl = () => wrapper.querySelector('input, select, textarea');
  return {
    element: wrapper,
    get() {
      const result = inner.get();
      return Object.keys(result).length || required ? result : undefined;
    },
    ...errorHandling(f, null, wrapper),
    focus: () => firstControl()?.focus(),
  };
}

function arrayField(key, schema, path, value, required, context) {
  const items = schema.items ?? { type: 'string' };
  if (items.enum) return checkboxGroup(key, schema, items, value, required);
  const f = frame(schema, key, required, { group: true });
  const list = h('ol', { class: 'array-items' });
  const rows = [];
  const addButton = h('button', { type: 'button', class: 'secondary' }, `Add ${items.title ?? 'item'}`);
  const wrapper = h('fieldset', { class: 'field field-array', 'aria-describedby': f.describedBy || null },
    f.label, f.help, f.error, list, addButton);

  const renumber = () => rows.forEach((row, index) => {
    row.path[row.path.length - 1] = index;
    row.remove.setAttribute('aria-label', `Remove ${items.title ?? 'item'} ${index + 1}`);
  });
  const addRow = (initial) => {
    const index = rows.length;
    const itemPath = [...path, index];
    const itemSchema = { ...items, title: `${items.title ?? f.title} ${index + 1}` };
    const field = fieldFor(String(index), itemSchema, itemPath, initial, false, context);
    const remove = h('button', { type: 'button', class: 'secondary small' }, 'Remove');
    const row = { field, path: itemPath, remove, element: h('li', {}, field.element, remove) };
    remove.addEventListener('click', () => {
      rows.splice(rows.indexOf(row), 1);
      row.element.remove();
      // Paths moved: drop every item's registration and register them again at their index.
      for (const [k] of context.registry) if (k.startsWith(`${pointer(path)}/`)) context.registry.delete(k);
      rows.forEach((r, i) => context.registry.set(pointer([...path, i]), r.field));
      renumber();
      addButton.focus();
    });
    rows.push(row);
    list.append(row.element);
    renumber();
    return row;
  };
  addButton.addEventListener('click', () => addRow(undefined).field.focus());
  for (const item of Array.isArray(value) ? value : []) addRow(item);
  return {
    element: wrapper,
    get() {
      const result = rows.map((row) => row.field.get()).filter((v) => v !== undefined);
      return result.length || Array.isArray(value) || required ? result : undefined;
    },
    ...errorHandling(f, null, wrapper),
    focus: () => (rows[0]?.field.focus() ?? addButton.focus()),
  };
}

function checkboxGroup(key, schema, items, value, required) {
  const f = frame(schema, key, required, { group: true });
  const chosen = new Set(Array.isArray(value) ? value.map((v) => JSON.stringify(v)) : []);
  const boxes = enumLabels(items).map((option) => {
    const id = uid('option');
    const input = h('input', { type: 'checkbox', id, value: JSON.stringify(option.value) });
    input.checked = chosen.has(input.value);
    return { input, element: h('div', { class: 'choice' }, input, h('label', { for: id }, option.label)) };
  });
  const wrapper = h('fieldset', { class: 'field', 'aria-describedby': f.describedBy || null }, f.label, f.help,
    boxes.map((b) => b.element), f.error);
  return {
    element: wrapper,
    get: () => boxes.filter((b) => b.input.checked).map((b) => JSON.parse(b.input.value)),
    ...errorHandling(f, boxes[0]?.input, wrapper),
  };
}

/** A value as the review step shows it: enum labels, lists joined, objects as `key: value`. */
export function displayValue(value, schema = {}) {
  if (value === undefined || value === null || value === '') return '—';
  if (value === true) return 'Yes';
  if (value === false) return 'No';
  if (Array.isArray(schema.enum)) {
    const index = schema.enum.indexOf(value);
    if (index >= 0 && Array.isArray(schema.enumNames) && schema.enumNames[index] !== undefined) return String(schema.enumNames[index]);
  }
  if (Array.isArray(value)) {
    return value.length ? value.map((item) => displayValue(item, schema.items ?? {})).join(', ') : '—';
  }
  if (typeof value === 'object') {
    const properties = schema.properties ?? {};
    const entries = Object.entries(value);
    return entries.length
      ? entries.map(([key, item]) => `${properties[key]?.title ?? key}: ${displayValue(item, properties[key] ?? {})}`).join('; ')
      : '—';
  }
  return String(value);
}
