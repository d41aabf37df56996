// The page's entry point: reads `ui-config`, signs the user in when the server wants credentials,
// and shows the view the address names (hash routes, so the server only serves `/`):
//   #/templates · #/create/<namespace>/<name> · #/tasks · #/tasks/<id> · #/dry-run

import { SCAFFOLDER } from './api.js';
import { clearToken, completeSignIn, dropExpiredToken, getToken, setToken, startSignIn } from './auth.js';
import { errorBox, h, pageHeading, replace } from './dom.js';
import { dryRunView } from './dryrun.js';
import { runView } from './run.js';
import { taskView } from './task.js';
import { tasksView } from './tasks.js';
import { templatesView } from './templates.js';

const main = document.getElementById('main');
const account = document.getElementById('account');
let config = null;
let cleanup = null;
let firstView = true;

async function loadConfig() {
  const headers = { accept: 'application/json' };
  const token = getToken();
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${SCAFFOLDER}/ui-config`, { headers, cache: 'no-store' });
  if (!response.ok) throw new Error(`The service answered ${response.status} to ui-config`);
  return response.json();
}

function signedIn() {
  return Boolean(config?.identity) && !config.identityError;
}

function drawAccount() {
  const identity = config?.identity;
  const who = identity?.type === 'user' ? identity.userEntityRef
    : identity?.type === 'service' ? `service ${identity.subject}`
      : null;
  replace(account,
    who ? h('span', { class: 'who' }, h('span', { class: 'visually-hidden' }, 'Signed in as '), who) : null,
    getToken() ? h('button', {
      type: 'button', class: 'link', onclick: () => { clearToken(); location.reload(); },
    }, 'Sign out') : null);
}

function signInView(problem) {
  cleanup?.();
  cleanup = null;
  const token = h('input', { type: 'password', id: 'api-token', autocomplete: 'off' });
  const tokenForm = h('form', { class: 'token-form', novalidate: true },
    h('div', { class: 'field' },
      h('label', { for: 'api-token' }, 'API token'),
      h('p', { class: 'help', id: 'api-token-help' }, 'A token from backend.auth.externalAccess, or a user token of your Backstage.'),
      token),
    h('button', { type: 'submit', class: 'secondary' }, 'Use this token'));
  token.setAttribute('aria-describedby', 'api-token-help');
  tokenForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!token.value.trim()) { token.focus(); return; }
    setToken(token.value.trim());
    await start();
  });
  const provider = config?.signIn;
  const signInButton = provider ? h('button', {
    type: 'button', class: 'primary', id: 'sign-in',
    onclick: async () => {
      try { await startSignIn(provider); } catch (error) { replace(messages, errorBox(error.message)); }
    },
  }, `Sign in with ${provider.provider === 'cognito' ? 'Cognito' : 'your identity provider'}`) : null;
  const messages = h('div', {}, problem ? errorBox(problem) : null,
    config?.signInError ? errorBox(`Sign-in is configured but its provider cannot be reached: ${config.signInError}`) : null);
  replace(main,
    pageHeading('Sign in'),
    h('p', { class: 'lead' }, 'This service needs to know who you are before it shows templates and tasks.'),
    messages,
    signInButton ? h('p', {}, signInButton) : null,
    h('details', { open: !provider }, h('summary', {}, 'Use an API token instead'), tokenForm));
  main.querySelector('#page-heading').focus();
}

/** Routes: [pattern, view]. */
const ROUTES = [
  [/^#?\/?$/, () => { location.replace('#/templates'); return null; }],
  [/^#\/templates$/, (m) => templatesView(m)],
  [/^#\/create\/([^/]+)\/([^/]+)$/, (m, [, namespace, name]) => runView(m, { namespace: decodeURIComponent(namespace), name: decodeURIComponent(name) })],
  [/^#\/tasks(?:\?(.*))?$/, (m, [, query]) => tasksView(m, { query: new URLSearchParams(query ?? '') }, config?.identity)],
  [/^#\/tasks\/([0-9a-fA-F-]+)$/, (m, [, id]) => taskView(m, { id })],
  [/^#\/dry-run$/, (m) => dryRunView(m)],
];

async function route() {
  if (config?.authRequired && !signedIn()) {
    signInView(config.identityError ? 'Your sign-in has expired or was refused; please sign in again.' : null);
    return;
  }
  cleanup?.();
  cleanup = null;
  const hash = location.hash || '#/';
  for (const link of document.querySelectorAll('nav.main a')) {
    const current = hash.startsWith(link.getAttribute('href')) || (hash.startsWith('#/create') && link.getAttribute('href') === '#/templates');
    if (current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const found = ROUTES.find(([pattern]) => pattern.test(hash));
  if (!found) {
    replace(main, pageHeading('Not found'), h('p', {}, 'Nothing lives at this address. ', h('a', { href: '#/templates' }, 'See the templates.')));
    main.querySelector('#page-heading').focus();
    return;
  }
  const [pattern, view] = found;
  // A new view's heading takes focus, so keyboard and screen-reader users start there; not on the
  // first load, where the browser's own start (the skip link first) is the better one.
  const moveFocus = !firstView;
  firstView = false;
  try {
    const result = view(main, pattern.exec(hash));
    const focusHeading = () => {
      const active = document.activeElement;
      if (moveFocus && (!active || active === document.body || !main.contains(active))) {
        main.querySelector('#page-heading')?.focus({ preventScroll: true });
      }
    };
    focusHeading();
    cleanup = (await result) ?? null;
    focusHeading();
  } catch (error) {
    if (error.status === 401) return;
    replace(main, pageHeading('Something went wrong'), errorBox(error.message));
    main.querySelector('#page-heading').focus();
  }
}

async function start() {
  try {
    dropExpiredToken();
    config = await loadConfig();
    const back = await completeSignIn(config.signIn).catch((error) => {
      config.signInProblem = error.message;
      return null;
    });
    if (back !== null) config = await loadConfig();
    if (config.identityError) clearToken();
    drawAccount();
    if (config.signInProblem) {
      signInView(config.signInProblem);
      return;
    }
    await route();
  } catch (error) {
    replace(main, pageHeading('The service cannot be reached'), errorBox(error.message));
  }
}

// The skip link must not change the address (that is the router's): it moves focus instead.
document.getElementById('skip-link').addEventListener('click', (event) => {
  event.preventDefault();
  main.focus();
});
window.addEventListener('hashchange', () => route());
window.addEventListener('scaffolder:unauthorized', async () => {
  if (!config?.authRequired) return;
  config = await loadConfig().catch(() => config);
  if (config.identityError) clearToken();
  drawAccount();
  if (!signedIn()) signInView('Your sign-in has expired or was refused; please sign in again.');
});
start();
