// The template author's bench: paste or load a template and its files (a skeleton), run a
// dry-run (`POST /v2/dry-run`: nothing is stored, side effects are skipped), and browse the
// resulting files, the log and the output. The template and values are kept in this browser
// (localStorage) between visits.

import { ApiError, SCAFFOLDER, post } from './api.js';
import { errorBox, h, pageHeading, replace, statusChip, stripAnsi } from './dom.js';

const SAVED_TEMPLATE = 'scaffolder.dryrun.template';
const SAVED_VALUES = 'scaffolder.dryrun.values';

const EXAMPLE = `apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: my-template
  title: My template
spec:
  owner: group:me
  type: service
  parameters:
    - title: Basics
      required: [name]
      properties:
        name: {title: Name, type: string}
  steps:
    - id: fetch
      name: Fetch the skeleton
      action: fetch:template
      input:
        url: ./skeleton
        values:
          name: \${{ parameters.name }}
  output:
    text:
      - title: Name
        content: \${{ parameters.name }}
`;

function toBase64(bytes) {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

function fromBase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Files in a tree: {dirs: Map(name → tree), files: [file]}. */
function buildTree(files) {
  const root = { dirs: new Map(), files: [] };
  for (const file of files) {
    const parts = file.path.split('/').filter(Boolean);
    let node = root;
    for (const part of parts.slice(0, -1)) {
      if (!node.dirs.has(part)) node.dirs.set(part, { dirs: new Map(), files: [] });
      node = node.dirs.get(part);
    }
    node.files.push({ ...file, name: parts.at(-1) ?? file.path });
  }
  return root;
}

export function dryRunView(main) {
  /** The uploaded files: path → Uint8Array. */
  const files = new Map();
  const template = h('textarea', { id: 'dry-template', class: 'code', rows: '18', spellcheck: 'false', 'aria-describedby': 'dry-template-help' });
  template.value = localStorage.getItem(SAVED_TEMPLATE) ?? EXAMPLE;
  const values = h('textarea', { id: 'dry-values', class: 'code', rows: '5', spellcheck: 'false', 'aria-describedby': 'dry-values-help' });
  values.value = localStorage.getItem(SAVED_VALUES) ?? '{"name": "demo"}';
  template.addEventListener('input', () => localStorage.setItem(SAVED_TEMPLATE, template.value));
  values.addEventListener('input', () => localStorage.setItem(SAVED_VALUES, values.value));

  const templateFile = h('input', { type: 'file', id: 'dry-template-file', accept: '.yaml,.yml,.json,text/yaml,application/json' });
  const folder = h('input', { type: 'file', id: 'dry-folder', webkitdirectory: true, multiple: true });
  const loose = h('input', { type: 'file', id: 'dry-files', multiple: true });
  const fileList = h('ul', { class: 'file-list', 'aria-live': 'polite' });
  const newPath = h('input', { type: 'text', id: 'dry-new-path', placeholder: 'skeleton/README.md', autocomplete: 'off' });
  const newContent = h('textarea', { id: 'dry-new-content', class: 'code', rows: '4', spellcheck: 'false' });
  const runButton = h('button', { type: 'submit', class: 'primary' }, 'Run dry-run');
  const status = h('div', { class: 'form-status', role: 'status' });
  const results = h('section', { class: 'dry-results', 'aria-labelledby': 'results-title', hidden: true });

  const drawFiles = () => replace(fileList, files.size
    ? [...files.keys()].sort().map((path) => h('li', {},
      h('span', { class: 'mono' }, path), ` (${files.get(path).length} bytes) `,
      h('button', { type: 'button', class: 'link small', 'aria-label': `Remove ${path}`, onclick: () => { files.delete(path); drawFiles(); } }, 'Remove')))
    : h('li', { class: 'help' }, 'No files yet: a template that fetches ./skeleton needs its files here.'));

  const readInto = async (list, stripFolder) => {
    for (const file of list) {
      let path = file.webkitRelativePath || file.name;
      // A chosen folder's own name is not part of the template's paths.
      if (stripFolder && path.includes('/')) path = path.slice(path.indexOf('/') + 1);
      const bytes = new Uint8Array(await file.arrayBuffer());
      if (stripFolder && /^template\.ya?ml$/.test(path)) {
        template.value = new TextDecoder().decode(bytes);
        localStorage.setItem(SAVED_TEMPLATE, template.value);
      }
      files.set(path, bytes);
    }
    drawFiles();
  };
  templateFile.addEventListener('change', async () => {
    const [file] = templateFile.files;
    if (!file) return;
    template.value = await file.text();
    localStorage.setItem(SAVED_TEMPLATE, template.value);
    status.replaceChildren(`Loaded ${file.name}.`);
  });
  folder.addEventListener('change', () => readInto(folder.files, true));
  loose.addEventListener('change', () => readInto(loose.files, false));

  const addText = () => {
    const path = newPath.value.trim().replace(/^\.?\//, '');
    if (!path) { newPath.focus(); status.replaceChildren('Give the file a path first.'); return; }
    files.set(path, new TextEncoder().encode(newContent.value));
    newPath.value = '';
    newContent.value = '';
    drawFiles();
    status.replaceChildren(`Added ${path}.`);
    newPath.focus();
  };

  const form = h('form', { class: 'dry-run-form', novalidate: true },
    h('section', { 'aria-labelledby': 'dry-template-title' },
      h('h2', { id: 'dry-template-title' }, 'Template'),
      h('div', { class: 'field' },
        h('label', { for: 'dry-template' }, 'Template (YAML or JSON)'),
        h('p', { class: 'help', id: 'dry-template-help' }, 'A scaffolder.backstage.io/v1beta3 Template, as in its template.yaml.'),
        template),
      h('div', { class: 'field' }, h('label', { for: 'dry-template-file' }, 'Or load a template file'), templateFile)),
    h('section', { 'aria-labelledby': 'dry-files-title' },
      h('h2', { id: 'dry-files-title' }, 'Files'),
      h('div', { class: 'field' }, h('label', { for: 'dry-folder' }, 'Load a template folder (its template.yaml fills the template above)'), folder),
      h('div', { class: 'field' }, h('label', { for: 'dry-files' }, 'Add files at the top level'), loose),
      h('fieldset', { class: 'field' }, h('legend', {}, 'Add a text file'),
        h('div', { class: 'field' }, h('label', { for: 'dry-new-path' }, 'Path'), newPath),
        h('div', { class: 'field' }, h('label', { for: 'dry-new-content' }, 'Content'), newContent),
        h('button', { type: 'button', class: 'secondary', onclick: addText }, 'Add file')),
      fileList),
    h('section', { 'aria-labelledby': 'dry-values-title' },
      h('h2', { id: 'dry-values-title' }, 'Values'),
      h('div', { class: 'field' },
        h('label', { for: 'dry-values' }, 'Parameter values (JSON object)'),
        h('p', { class: 'help', id: 'dry-values-help' }, 'What the form would submit, e.g. {"name": "demo"}.'),
        values)),
    h('div', { class: 'actions' }, runButton),
    status);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    let parsedValues;
    try {
      parsedValues = JSON.parse(values.value || '{}');
      if (!parsedValues || typeof parsedValues !== 'object' || Array.isArray(parsedValues)) throw new Error('not an object');
    } catch (error) {
      status.replaceChildren(errorBox(`The values are not a JSON object: ${error.message}`));
      values.focus();
      return;
    }
    runButton.disabled = true;
    status.replaceChildren('Running…');
    results.hidden = true;
    try {
      const text = template.value.trim();
      let parsed;
      if (text.startsWith('{')) {
        try { parsed = JSON.parse(text); } catch { parsed = null; }
      }
      parsed ??= (await post(`${SCAFFOLDER}/parse-template`, { yaml: template.value })).template;
      const directoryContents = [...files].map(([path, bytes]) => ({ path, base64Content: toBase64(bytes) }));
      const result = await post(`${SCAFFOLDER}/dry-run`, { template: parsed, values: parsedValues, directoryContents });
      status.replaceChildren('The dry-run completed.');
      showResult(result);
    } catch (error) {
      const details = error instanceof ApiError && Array.isArray(error.body?.errors)
        ? error.body.errors.map((e) => `${e.property ?? ''} ${e.message}`.trim())
        : [];
      status.replaceChildren(errorBox(`The dry-run failed: ${details.length ? 'the values do not fit the parameters' : error.message}`, details));
    } finally {
      runButton.disabled = false;
    }
  });

  const showResult = (result) => {
    const steps = Array.isArray(result.steps) ? result.steps : [];
    const stepStatus = new Map();
    for (const line of result.log ?? []) {
      if (line.body?.stepId && line.body?.status) stepStatus.set(line.body.stepId, line.body.status);
    }
    const output = result.output ?? {};
    const viewer = h('div', { class: 'file-viewer', 'aria-live': 'polite' }, h('p', { class: 'help' }, 'Choose a file to see its contents.'));
    const produced = (result.directoryContents ?? []).map((file) => ({ ...file, path: file.path.replace(/^\.?\//, '') }));
    const show = (file, button) => {
      for (const b of results.querySelectorAll('.tree button[aria-pressed="true"]')) b.setAttribute('aria-pressed', 'false');
      button.setAttribute('aria-pressed', 'true');
      const bytes = fromBase64(file.base64Content ?? '');
      let content;
      try { content = new TextDecoder('utf-8', { fatal: true }).decode(bytes); } catch { content = null; }
      replace(viewer,
        h('h3', { class: 'mono' }, file.path),
        content === null
          ? h('p', {}, `A binary file of ${bytes.length} bytes.`)
          : h('pre', { class: 'file-content', tabindex: '0', 'aria-label': `Contents of ${file.path}` }, content));
    };
    const treeNode = (node, prefix) => [
      ...[...node.dirs.keys()].sort().map((name) => h('li', {},
        h('details', { open: true }, h('summary', {}, `${name}/`), h('ul', {}, treeNode(node.dirs.get(name), `${prefix}${name}/`))))),
      ...node.files.sort((a, b) => a.name.localeCompare(b.name)).map((file) => {
        const button = h('button', { type: 'button', class: 'file', 'aria-pressed': 'false', dataset: { path: file.path } }, file.name);
        button.addEventListener('click', () => show(file, button));
        return h('li', {}, button);
      }),
    ];
    const links = Array.isArray(output.links) ? output.links : [];
    const texts = Array.isArray(output.text) ? output.text : [];
    replace(results,
      h('h2', { id: 'results-title', tabindex: '-1' }, 'Result'),
      h('section', { 'aria-labelledby': 'dry-steps-title' },
        h('h3', { id: 'dry-steps-title' }, 'Steps'),
        h('ol', { class: 'steps' }, steps.map((step) => h('li', { class: 'step' },
          h('span', { class: 'step-name' }, step.name ?? step.id), h('span', { class: 'mono' }, ` ${step.action ?? ''} `),
          statusChip(stepStatus.get(step.id) ?? 'open'))))),
      h('section', { 'aria-labelledby': 'dry-files-result-title' },
        h('h3', { id: 'dry-files-result-title' }, `Files (${produced.length})`),
        h('div', { class: 'tree-columns' },
          produced.length ? h('ul', { class: 'tree', 'aria-label': 'Resulting files' }, treeNode(buildTree(produced), '')) : h('p', {}, 'The run left no files.'),
          viewer)),
      links.length || texts.length ? h('section', { 'aria-labelledby': 'dry-output-title' },
        h('h3', { id: 'dry-output-title' }, 'Output'),
        links.length ? h('ul', {}, links.map((link) => h('li', {}, `${link.title ?? ''} ${link.url ?? link.entityRef ?? ''}`.trim()))) : null,
        texts.map((item) => h('div', {}, h('h4', {}, item.title ?? 'Text'), h('pre', {}, String(item.content ?? ''))))) : null,
      h('section', { 'aria-labelledby': 'dry-log-title' },
        h('h3', { id: 'dry-log-title' }, 'Log'),
        h('div', { class: 'log', tabindex: '0', role: 'log', 'aria-label': 'Dry-run log' },
          h('div', { class: 'log-lines' }, (result.log ?? []).map((line) => h('div', { class: 'log-line' },
            h('span', { class: 'log-text' }, stripAnsi(line.body?.message))))))));
    results.hidden = false;
    results.querySelector('#results-title').focus();
  };

  drawFiles();
  replace(main,
    pageHeading('Dry-run a template'),
    h('p', { class: 'lead' }, 'Run a template without creating a task and see what it would produce. Steps with side effects (publishing, registering in a catalog) are skipped.'),
    form,
    results);
}
