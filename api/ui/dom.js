// Small DOM helpers: build elements without innerHTML (nothing from the server is ever parsed as
// HTML), and announce changes to screen readers.

/** h('button', {class: 'x', onclick: fn}, 'text', child) → element. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (name === 'dataset') {
      Object.assign(element.dataset, value);
    } else if (value === true) {
      element.setAttribute(name, '');
    } else {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the contents of `element`. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

let counter = 0;
/** A unique id for label/aria wiring. */
export function uid(prefix = 'id') {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** Says `message` through the page's polite live region. */
export function announce(message) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  // A fresh text node after a tick makes screen readers read repeated messages too.
  setTimeout(() => { region.textContent = message; }, 30);
}

/** A status chip: text plus a class for its colour (never colour alone). */
export function statusChip(status) {
  return h('span', { class: `chip chip-${status || 'unknown'}` }, status || 'unknown');
}

/** "1.2 s", "3 min 4 s", "1 h 2 min". */
export function formatDuration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** A local date and time for an ISO timestamp. */
export function formatTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso ?? '') : date.toLocaleString();
}

/** Terminal colour codes (`\u001b[32m`) dropped from action logs. */
export function stripAnsi(text) {
  return String(text ?? '').replace(/\u001b\[[0-9;]*m/g, '');
}

/** The page's heading: set, and focused so keyboard and screen-reader users start there. */
export function pageHeading(text) {
  document.title = `${text} · Scaffolder`;
  return h('h1', { tabindex: '-1', id: 'page-heading' }, text);
}

/** An error box: role=alert, so it is read out when it appears. */
export function errorBox(message, details = []) {
  return h('div', { class: 'error-box', role: 'alert' },
    h('p', {}, message),
    details.length ? h('ul', {}, details.map((d) => h('li', {}, d))) : null);
}
