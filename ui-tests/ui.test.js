// Browser tests of the built-in page, in Debian's headless Chromium driven by playwright-core,
// against the real `scaffolder serve` (debug build; SCAFFOLDER_BIN to choose another). Screenshots
// go to target/ui-artifacts/. Run with scripts/ui-test.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

import { contrastProblems, overflowsSideways, unlabelledControls } from './lib/checks.js';
import { startOidcProvider } from './lib/oidc.js';
import { startProxy } from './lib/proxy.js';
import { ROOT, startScaffolder } from './lib/scaffolder.js';

const ARTIFACTS = resolve(ROOT, 'target/ui-artifacts');
const FIXTURES = resolve(import.meta.dirname, 'fixtures');
const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const NARROW = { width: 375, height: 740 };
const WIDE = { width: 1280, height: 900 };

const catalogConfig = `
catalog:
  rules: [{allow: [Template, User]}]
  locations: [{type: file, target: '${join(FIXTURES, 'catalog.yaml')}'}]
`;

let browser;
let server;
let proxy;

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await startScaffolder('open', `
backend:
  listen: {host: 127.0.0.1, port: 0}
  database: {client: better-sqlite3, connection: ':memory:'}
  workingDirectory: WORK
  auth: {dangerouslyDisableDefaultAuthPolicy: true}
scaffolder:
  concurrentTasksLimit: 4
${catalogConfig}`);
  // The browser talks to the service through a proxy that can cut connections.
  proxy = await startProxy(server.url);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
});

after(async () => {
  await browser?.close();
  await proxy?.stop();
  await server?.stop();
});

/** A fresh page; errors it logs (a CSP violation, an exception) fail the test. */
async function open(viewport = WIDE) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(`exception: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/Failed to load resource|ERR_CONNECTION|ERR_EMPTY_RESPONSE|network error/i.test(message.text())) {
      problems.push(`console: ${message.text()}`);
    }
  });
  page.setDefaultTimeout(20_000);
  return {
    page,
    async close() {
      await context.close();
      assert.deepEqual(problems, [], 'the page logged no errors');
    },
  };
}

const shot = (page, name) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

async function api(method, path, body) {
  const response = await fetch(`${server.url}/api/scaffolder/v2${path}`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, body: await response.json() };
}

/**
 * Event ids as the page shows them: each once, in order, none of the API's missing. (The page may
 * also show the completion of an earlier run, which the API no longer lists after a retry.)
 */
async function assertLogMatchesApi(page, taskId) {
  const shown = await page.locator('.log-line').evaluateAll((lines) => lines.map((l) => Number(l.dataset.eventId)));
  const { body: events } = await api('GET', `/tasks/${taskId}/events`);
  assert.equal(new Set(shown).size, shown.length, `no event shown twice: ${shown}`);
  assert.deepEqual(shown, [...shown].sort((a, b) => a - b), 'in order');
  const missing = events.map((e) => e.id).filter((id) => !shown.includes(id));
  assert.deepEqual(missing, [], `every event shown: ${shown}`);
}

async function chooseTemplate(page, title) {
  await page.goto(`${proxy.url}/`);
  await page.getByRole('heading', { level: 1, name: 'Templates' }).waitFor();
  await page.getByRole('link', { name: `Choose ${title}` }).click();
  await page.getByRole('heading', { level: 1, name: title }).waitFor();
}

/** Polls `check` every 50 ms until it is true, for at most 20 s. */
async function until(what, check) {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const taskIdOf = (page) => /#\/tasks\/([0-9a-f-]+)$/.exec(page.url())[1];

test('templates: listed from the catalog with title, description, tags and owner; searchable; no sign-in on loopback', async () => {
  const { page, close } = await open();
  await page.goto(`${proxy.url}/`);
  await page.getByRole('heading', { level: 1, name: 'Templates' }).waitFor();
  const cards = page.locator('.cards > li');
  await cards.first().waitFor();
  assert.equal(await cards.count(), 2);
  const quick = cards.filter({ hasText: 'Quick service' });
  assert.match(await quick.innerText(), /Two form pages, a name pattern/);
  assert.match(await quick.innerText(), /group:ui-testers/);
  assert.deepEqual(await quick.locator('.tag').allInnerTexts(), ['test', 'quick']);

  await page.getByLabel('Search templates').fill('slow');
  await page.getByRole('status').filter({ hasText: '1 of 2 templates match' }).waitFor();
  assert.deepEqual(await page.locator('.cards h2').allInnerTexts(), ['Slow job']);
  await page.getByLabel('Search templates').fill('');
  await page.getByRole('status').filter({ hasText: /^2 templates$/ }).waitFor();
  assert.deepEqual(await unlabelledControls(page), []);
  assert.deepEqual(await contrastProblems(page), []);
  await shot(page, 'templates');
  await close();
});

test('a validation error is shown on the field it names, with the server\'s message', async () => {
  const { page, close } = await open();
  await chooseTemplate(page, 'Quick service');
  const name = page.getByLabel('Name');
  // ui:autofocus puts the cursor in the name field.
  assert.equal(await name.evaluate((el) => el === document.activeElement), true);
  await page.keyboard.type('Not Valid');
  await page.keyboard.press('Enter');
  const error = page.locator('.field.invalid .field-error');
  await error.waitFor();
  // The message is the server's, exactly as POST /v2/tasks words it.
  const expected = await api('POST', '/templates/default/template/quick-service/validate', { values: { name: 'Not Valid' }, page: 0 });
  assert.equal(await error.innerText(), expected.body.errors[0].message);
  assert.match(await error.innerText(), /does not match pattern/);
  assert.equal(await name.getAttribute('aria-invalid'), 'true');
  assert.match(await name.getAttribute('aria-describedby'), new RegExp(await error.getAttribute('id')));
  assert.equal(await page.locator('.field.invalid').count(), 1, 'only the name field is marked');
  assert.match(await page.locator('.error-summary').innerText(), /Name: does not match pattern/);
  // Focus went back to the field in error.
  assert.equal(await name.evaluate((el) => el === document.activeElement), true);
  await shot(page, 'validation-error');

  // Fixed, the next page; its required field left empty is named there.
  await name.fill('good-name');
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByRole('heading', { level: 2, name: /Details/ }).waitFor();
  await page.getByRole('button', { name: 'Review' }).click();
  const sizeError = page.locator('.field.invalid .field-error');
  await sizeError.waitFor();
  assert.equal(await sizeError.innerText(), 'requires property "size"');
  assert.equal(await page.getByLabel('Size').getAttribute('aria-invalid'), 'true');
  await shot(page, 'validation-error-required');
  await close();
});

test('run a template through the form with the keyboard, see the live log and the completion links', async () => {
  const { page, close } = await open();
  await chooseTemplate(page, 'Quick service');
  assert.deepEqual(await unlabelledControls(page), []);
  // Keyboard only: type the name, Tab to the description, submit with Enter from the name field.
  await page.keyboard.type('my-service');
  await page.keyboard.press('Tab');
  await page.keyboard.type('A service made in a browser test');
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { level: 2, name: /Details/ }).waitFor();
  assert.deepEqual(await unlabelledControls(page), []);
  assert.deepEqual(await contrastProblems(page), []);
  // Defaults are filled in.
  assert.equal(await page.getByLabel('Public').isChecked(), true);
  assert.equal(await page.getByLabel('Replicas').inputValue(), '2');
  assert.equal(await page.getByLabel('Team').inputValue(), 'platform');
  // Tab from the page's heading to the size list, pick with the keyboard.
  await page.keyboard.press('Tab');
  assert.equal(await page.getByLabel('Size').evaluate((el) => el === document.activeElement), true);
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.getByLabel('Size').evaluate((el) => el.selectedOptions[0].textContent), 'Large');
  await page.getByLabel('docs').focus();
  await page.keyboard.press('Space');
  await page.getByRole('button', { name: 'Add Label' }).focus();
  await page.keyboard.press('Enter');
  await page.keyboard.type('team-a');
  await page.getByRole('button', { name: 'Review' }).focus();
  await page.keyboard.press('Enter');

  await page.getByRole('heading', { level: 2, name: 'Review' }).waitFor();
  const review = await page.locator('.review').innerText();
  for (const text of ['my-service', 'A service made in a browser test', 'Large', 'Yes', 'docs', 'team-a', 'Team: platform']) {
    assert.ok(review.includes(text), `${text} in the review:\n${review}`);
  }
  await shot(page, 'review');
  await page.getByRole('button', { name: 'Create' }).focus();
  await page.keyboard.press('Enter');

  await page.waitForURL(/#\/tasks\/[0-9a-f-]+$/);
  const id = taskIdOf(page);
  const links = page.locator('.output-links');
  await links.getByRole('link', { name: 'Repository' }).waitFor();
  assert.equal(await links.getByRole('link', { name: 'Repository' }).getAttribute('href'), 'https://example.com/repos/my-service');
  assert.match(await links.innerText(), /Catalog entry \(component:default\/my-service\)/);
  assert.match(await page.locator('.output-text').innerText(), /Created my-service with 2 replicas\./);
  const log = await page.locator('.log').innerText();
  assert.match(log, /Creating my-service \(large\)/);
  assert.match(log, /Finished my-service/);
  assert.match(log, /Run completed with status: completed/);
  assert.equal(await page.locator('.meta .chip').innerText(), 'completed');
  assert.deepEqual(await page.locator('.steps .chip').allInnerTexts(), ['completed', 'completed', 'completed']);
  assert.match(await page.locator('.steps li[data-step-id="pause"] .duration').innerText(), /\d/);
  assert.notEqual(await page.locator('.meta .duration').innerText(), '—');
  assert.equal(await page.getByRole('button', { name: 'Cancel' }).isVisible(), false);
  await assertLogMatchesApi(page, id);
  const { body: task } = await api('GET', `/tasks/${id}`);
  assert.equal(task.spec.parameters.size, 'large');
  assert.deepEqual(task.spec.parameters.labels, ['team-a']);
  assert.deepEqual(await contrastProblems(page), []);
  await shot(page, 'task-completed');
  await close();
});

test('cancel a slow task; a dropped event stream reconnects with after= and shows nothing twice; retry', async () => {
  const { page, close } = await open();
  await chooseTemplate(page, 'Slow job');
  await page.getByRole('button', { name: 'Review' }).click();
  await page.getByRole('button', { name: 'Create' }).click();
  await page.waitForURL(/#\/tasks\/[0-9a-f-]+$/);
  const id = taskIdOf(page);
  const waitStep = page.locator('.steps li[data-step-id="wait"] .chip');
  await page.locator('.steps li[data-step-id="wait"] .chip', { hasText: 'processing' }).waitFor();
  await page.locator('.stream-state[data-state="live"]').waitFor();

  // The connection drops mid-task: the page reconnects from the last event it has.
  const before = proxy.requests.length;
  proxy.dropAll();
  await until('the stream is reopened with after=', () =>
    proxy.requests.slice(before).some((r) => r.includes(`/tasks/${id}/eventstream?after=`)));
  await page.locator('.stream-state[data-state="live"]').waitFor();

  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.locator('.meta .chip', { hasText: 'cancelled' }).waitFor();
  assert.match(await page.locator('.log').innerText(), /Run completed with status: cancelled/);
  assert.match(await waitStep.innerText(), /cancelled|failed/);
  assert.equal(await page.locator('.steps li[data-step-id="after"] .chip').innerText(), 'skipped');
  await assertLogMatchesApi(page, id);
  await shot(page, 'task-cancelled');

  // Retry: the finished step is not run again; the wait starts over; cancel it again.
  await page.getByRole('button', { name: 'Retry' }).click();
  await page.locator('.log-line', { hasText: 'The task was retried' }).waitFor();
  await page.locator('.steps li[data-step-id="wait"] .chip', { hasText: 'processing' }).waitFor();
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.locator('.meta .chip', { hasText: 'cancelled' }).waitFor();
  await assertLogMatchesApi(page, id);
  await close();
});

test('dry-run: upload a template folder, run it, browse the file tree and contents, see the log', async () => {
  const { page, close } = await open();
  await page.goto(`${proxy.url}/#/dry-run`);
  await page.getByRole('heading', { level: 1, name: 'Dry-run a template' }).waitFor();
  assert.deepEqual(await unlabelledControls(page), []);
  await page.locator('#dry-folder').setInputFiles(join(FIXTURES, 'dry-run-template'));
  await page.locator('.file-list li', { hasText: 'skeleton/README.md' }).waitFor();
  assert.match(await page.getByLabel('Template (YAML or JSON)').inputValue(), /name: skeleton-demo/);
  await page.getByLabel('Parameter values (JSON object)').fill('{"name": "demo-app"}');
  await page.getByRole('button', { name: 'Run dry-run' }).click();
  await page.getByRole('heading', { level: 2, name: 'Result' }).waitFor();

  const tree = page.getByRole('list', { name: 'Resulting files' });
  assert.match(await tree.innerText(), /src\//);
  await tree.getByRole('button', { name: 'README.md' }).click();
  const content = page.locator('.file-content');
  await content.waitFor();
  assert.match(await content.innerText(), /^# demo-app/);
  await tree.getByRole('button', { name: 'index.js' }).click();
  await page.locator('.file-content', { hasText: "hello from demo-app" }).waitFor();
  assert.match(await page.getByRole('log', { name: 'Dry-run log' }).innerText(), /rendered demo-app/);
  assert.deepEqual(await page.locator('.dry-results .steps .chip').allInnerTexts(), ['completed', 'completed']);
  assert.deepEqual(await contrastProblems(page), []);
  await shot(page, 'dry-run');

  // A broken template is reported, not run.
  await page.getByLabel('Template (YAML or JSON)').fill('kind: [unclosed');
  await page.getByRole('button', { name: 'Run dry-run' }).click();
  await page.getByRole('alert').filter({ hasText: 'Invalid template YAML' }).waitFor();
  await close();
});

test('tasks list: all tasks, filtered by status, in pages', async () => {
  // Enough finished tasks for two pages.
  const ids = [];
  for (let i = 0; i < 21; i += 1) {
    const { status, body } = await api('POST', '/tasks', { templateRef: 'template:default/quick-service', values: { name: `bulk-${i}`, size: 'small' } });
    assert.equal(status, 201);
    ids.push(body.id);
  }
  for (const id of ids) {
    await until(`task ${id} completes`, async () => (await api('GET', `/tasks/${id}`)).body.status === 'completed');
  }
  const { page, close } = await open();
  await page.goto(`${proxy.url}/#/tasks`);
  await page.getByRole('heading', { level: 1, name: 'Tasks' }).waitFor();
  await page.locator('table.tasks caption').waitFor();
  assert.equal(await page.getByLabel('My tasks').isDisabled(), true, 'no user: no "mine"');
  await page.getByLabel('Status').selectOption('completed');
  await page.waitForURL(/status=completed/);
  await page.locator('table.tasks caption', { hasText: /^Tasks 1–20 of \d+$/ }).waitFor();
  const statuses = await page.locator('table.tasks tbody .chip').allInnerTexts();
  assert.equal(statuses.length, 20);
  assert.ok(statuses.every((s) => s === 'completed'), statuses.join());
  assert.deepEqual(await contrastProblems(page), []);
  await shot(page, 'tasks');
  await page.getByRole('button', { name: 'Next' }).click();
  await page.waitForURL(/page=2/);
  await page.locator('table.tasks caption', { hasText: /^Tasks 21–/ }).waitFor();
  assert.match(await page.locator('.pager').innerText(), /Page 2 of/);
  await page.getByLabel('Status').selectOption('cancelled');
  await page.waitForURL(/status=cancelled/);
  await page.locator('table.tasks caption, .task-results p').first().waitFor();
  const cancelled = await page.locator('table.tasks tbody .chip').allInnerTexts();
  assert.ok(cancelled.every((s) => s === 'cancelled'), cancelled.join());
  await close();
});

test('a narrow screen: one column, nothing scrolls sideways', async () => {
  const { page, close } = await open(NARROW);
  await page.goto(`${proxy.url}/`);
  await page.locator('.cards > li').first().waitFor();
  assert.equal(await overflowsSideways(page), false, 'templates');
  await shot(page, 'narrow-templates');
  await page.getByRole('link', { name: 'Choose Quick service' }).click();
  await page.getByLabel('Name').waitFor();
  assert.equal(await overflowsSideways(page), false, 'form');
  await shot(page, 'narrow-form');
  await page.goto(`${proxy.url}/#/tasks`);
  await page.locator('table.tasks caption').waitFor();
  assert.equal(await overflowsSideways(page), false, 'tasks');
  await shot(page, 'narrow-tasks');
  await page.locator('table.tasks tbody a').first().click();
  await page.locator('.log-line').first().waitFor();
  assert.equal(await overflowsSideways(page), false, 'task');
  await shot(page, 'narrow-task');
  await page.goto(`${proxy.url}/#/dry-run`);
  await page.getByRole('heading', { level: 1, name: 'Dry-run a template' }).waitFor();
  assert.equal(await overflowsSideways(page), false, 'dry-run');
  await close();
});

test('the skip link moves focus to the content without changing the address', async () => {
  const { page, close } = await open();
  await page.goto(`${proxy.url}/#/templates`);
  await page.getByRole('heading', { level: 1, name: 'Templates' }).waitFor();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'main');
  assert.match(page.url(), /#\/templates$/);
  await close();
});

test('sign-in with OIDC: authorization code with PKCE (S256), then the API is called with the ID token', async () => {
  const provider = await startOidcProvider({ clientId: 'scaffolder-ui', email: 'alice@example.com' });
  const secured = await startScaffolder('oidc', `
backend:
  listen: {host: 127.0.0.1, port: 0}
  database: {client: better-sqlite3, connection: ':memory:'}
  workingDirectory: WORK
auth:
  providers:
    oidc:
      development:
        metadataUrl: ${provider.url}/.well-known/openid-configuration
        clientId: scaffolder-ui
        signIn: {resolvers: [{resolver: emailMatchingUserEntityProfileEmail}]}
${catalogConfig}`);
  try {
    const { page, close } = await open();
    await page.goto(`${secured.url}/#/tasks`);
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    assert.deepEqual(await contrastProblems(page), []);
    await shot(page, 'sign-in');
    await page.getByRole('button', { name: /Sign in with/ }).click();
    // The provider sends the browser straight back; the page exchanges the code and goes on.
    await page.getByRole('heading', { level: 1, name: 'Tasks' }).waitFor();
    assert.equal(provider.seen.authorize.length, 1);
    const authorize = provider.seen.authorize[0];
    assert.equal(authorize.code_challenge_method, 'S256');
    assert.match(authorize.code_challenge, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(authorize.redirect_uri, `${secured.url}/`);
    assert.equal(provider.seen.token.length, 1);
    assert.match(provider.seen.token[0].code_verifier, /^[A-Za-z0-9_-]{43,128}$/);
    // No code left in the address.
    assert.equal(new URL(page.url()).search, '');
    assert.match(await page.locator('#account').innerText(), /user:default\/alice/);
    assert.equal(await page.getByLabel('My tasks').isDisabled(), false);

    // The user runs a template: the task is theirs.
    await page.goto(`${secured.url}/#/create/default/quick-service`);
    await page.getByLabel('Name').fill('alices-service');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByLabel('Size').selectOption({ label: 'Small' });
    await page.getByRole('button', { name: 'Review' }).click();
    await page.getByRole('button', { name: 'Create' }).click();
    await page.waitForURL(/#\/tasks\/[0-9a-f-]+$/);
    await page.locator('.meta .chip', { hasText: 'completed' }).waitFor();
    assert.match(await page.locator('.meta').innerText(), /user:default\/alice/);
    await page.goto(`${secured.url}/#/tasks`);
    await page.locator('table.tasks caption', { hasText: 'Tasks 1–1 of 1' }).waitFor();
    await shot(page, 'signed-in-tasks');

    // Signing out forgets the token.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await close();
  } finally {
    await secured.stop();
    await provider.stop();
  }
});
