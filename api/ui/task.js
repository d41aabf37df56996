// One task: its steps with live status and durations, the log as it streams, the output's links
// and text, and cancel / retry.

import { SCAFFOLDER, followEvents, get, post } from './api.js';
import { announce, errorBox, formatDuration, formatTime, h, pageHeading, replace, statusChip, stripAnsi } from './dom.js';

const FINISHED = new Set(['completed', 'failed', 'cancelled', 'skipped']);

function safeUrl(url) {
  if (typeof url !== 'string' || !url) return null;
  try {
    const parsed = new URL(url, location.href);
    return ['http:', 'https:'].includes(parsed.protocol) ? parsed.href : null;
  } catch {
    return null;
  }
}

export async function taskView(main, { id }) {
  replace(main, pageHeading('Loading task…'));
  let task = await get(`${SCAFFOLDER}/tasks/${encodeURIComponent(id)}`);
  const spec = task.spec ?? {};
  const info = spec.templateInfo ?? {};
  const title = info.entity?.metadata?.title ?? info.entityRef ?? 'Task';
  const steps = (spec.steps ?? []).map((step) => ({ id: step.id, name: step.name ?? step.id, status: 'open', started: null, ended: null }));
  const stepById = new Map(steps.map((step) => [step.id, step]));
  let firstEventAt = null;
  let completedAt = null;
  let completion = null;

  // Layout.
  const statusSlot = h('span', {});
  const durationSlot = h('span', { class: 'duration' });
  const streamState = h('span', { class: 'stream-state', role: 'status' });
  const cancelButton = h('button', { type: 'button', class: 'danger' }, 'Cancel');
  const retryButton = h('button', { type: 'button', class: 'secondary' }, 'Retry');
  const actionStatus = h('div', { class: 'form-status', role: 'status' });
  const stepList = h('ol', { class: 'steps' });
  const outputSection = h('section', { class: 'output', 'aria-labelledby': 'output-title', hidden: true });
  const logLines = h('div', { class: 'log-lines' });
  const log = h('div', { class: 'log', role: 'log', tabindex: '0', 'aria-label': 'Task log' }, logLines);
  const entity = info.entityRef?.match(/^template:([^/]+)\/(.+)$/);

  replace(main,
    h('p', { class: 'breadcrumb' }, h('a', { href: '#/tasks' }, 'Tasks'), ' / ', id),
    pageHeading(`Run of ${title}`),
    h('dl', { class: 'meta' },
      h('div', {}, h('dt', {}, 'Status'), h('dd', {}, statusSlot)),
      h('div', {}, h('dt', {}, 'Duration'), h('dd', {}, durationSlot)),
      h('div', {}, h('dt', {}, 'Created'), h('dd', {}, formatTime(task.createdAt))),
      h('div', {}, h('dt', {}, 'Created by'), h('dd', {}, task.createdBy ?? '—')),
      h('div', {}, h('dt', {}, 'Task id'), h('dd', { class: 'mono' }, id))),
    h('div', { class: 'actions' }, cancelButton, retryButton,
      entity ? h('a', { class: 'button secondary', href: `#/create/${entity[1]}/${entity[2]}` }, 'Start over') : null,
      streamState),
    actionStatus,
    outputSection,
    h('div', { class: 'task-columns' },
      h('section', { class: 'steps-panel', 'aria-labelledby': 'steps-title' }, h('h2', { id: 'steps-title' }, 'Steps'), stepList),
      h('section', { class: 'log-panel', 'aria-labelledby': 'log-title' }, h('h2', { id: 'log-title' }, 'Log'), log)));

  const now = () => Date.now();
  const drawSteps = () => replace(stepList, steps.map((step) => {
    const end = step.ended ?? (step.status === 'processing' ? now() : null);
    const duration = step.started && end ? formatDuration(end - step.started) : '';
    return h('li', { class: `step step-${step.status}`, dataset: { stepId: step.id } },
      h('span', { class: 'step-name' }, step.name), statusChip(step.status),
      h('span', { class: 'duration' }, duration));
  }));
  const drawStatus = () => {
    replace(statusSlot, statusChip(task.status));
    const finished = FINISHED.has(task.status);
    const end = completedAt ?? (finished ? null : now());
    durationSlot.textContent = firstEventAt && end ? formatDuration(end - firstEventAt) : '—';
    cancelButton.hidden = finished;
    retryButton.hidden = !(task.status === 'failed' || task.status === 'cancelled');
  };
  const drawOutput = () => {
    if (!completion) { outputSection.hidden = true; return; }
    const output = completion.output ?? {};
    const links = (Array.isArray(output.links) ? output.links : []).filter((link) => link && (link.url || link.entityRef));
    const texts = (Array.isArray(output.text) ? output.text : []).filter((item) => item && item.content !== undefined);
    const error = completion.error?.message;
    replace(outputSection,
      h('h2', { id: 'output-title' }, error ? 'Result' : 'Output'),
      error ? errorBox(error) : null,
      links.length ? h('ul', { class: 'output-links' }, links.map((link) => {
        const url = safeUrl(link.url);
        const label = link.title ?? link.url ?? link.entityRef;
        return h('li', {}, url
          ? h('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, label)
          : h('span', {}, label, link.entityRef ? h('span', { class: 'mono' }, ` (${link.entityRef})`) : null));
      })) : null,
      texts.map((item) => h('section', { class: 'output-text' }, h('h3', {}, item.title ?? 'Text'), h('pre', {}, String(item.content)))),
      !error && !links.length && !texts.length ? h('p', {}, 'The template has no output.') : null);
    outputSection.hidden = false;
  };

  const appendLog = (event) => {
    const message = stripAnsi(event.body?.message ?? '');
    if (!message) return;
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
    const time = new Date(event.createdAt);
    logLines.append(h('div', { class: `log-line log-${event.type}`, dataset: { eventId: event.id } },
      h('span', { class: 'log-time' }, Number.isNaN(time.getTime()) ? '' : time.toLocaleTimeString()),
      h('span', { class: 'log-text' }, message)));
    if (atBottom) log.scrollTop = log.scrollHeight;
  };

  const onEvent = async (event) => {
    const at = Date.parse(event.createdAt);
    if (firstEventAt === null && Number.isFinite(at)) firstEventAt = at;
    const body = event.body ?? {};
    const step = body.stepId ? stepById.get(body.stepId) : null;
    if (step && body.status) {
      if (body.status === 'processing') { step.started = at; step.ended = null; }
      else if (Number.isFinite(at)) step.ended = at;
      step.status = body.status;
    }
    if (event.type === 'recovered') {
      completion = null;
      completedAt = null;
      drawOutput();
    }
    if (task.status === 'open' && event.type === 'log') task.status = 'processing';
    appendLog(event);
    if (event.type === 'completion') {
      completion = body;
      completedAt = Number.isFinite(at) ? at : now();
      // Steps still marked running when the task ended did not finish.
      for (const s of steps) if (s.status === 'processing') { s.status = body.error ? 'failed' : 'completed'; s.ended = completedAt; }
      task = await get(`${SCAFFOLDER}/tasks/${encodeURIComponent(id)}`).catch(() => task);
      drawOutput();
      announce(`The task ended: ${task.status}`);
    }
    drawSteps();
    drawStatus();
  };

  const stateText = { live: 'Live', reconnecting: 'Reconnecting…', ended: 'Finished', error: 'Stream stopped' };
  let follower = null;
  const follow = (after) => {
    follower?.stop();
    follower = followEvents(id, {
      after,
      onEvent,
      onState: (state, message) => {
        streamState.textContent = stateText[state] + (message ? `: ${message}` : '');
        streamState.dataset.state = state;
      },
    });
  };

  cancelButton.addEventListener('click', async () => {
    cancelButton.disabled = true;
    actionStatus.replaceChildren('Cancelling…');
    try {
      await post(`${SCAFFOLDER}/tasks/${encodeURIComponent(id)}/cancel`);
      actionStatus.replaceChildren('Cancel requested: the task stops at its next step boundary or wait.');
    } catch (error) {
      actionStatus.replaceChildren(errorBox(error.message));
    } finally {
      cancelButton.disabled = false;
    }
  });
  retryButton.addEventListener('click', async () => {
    retryButton.disabled = true;
    actionStatus.replaceChildren('Retrying…');
    try {
      await post(`${SCAFFOLDER}/tasks/${encodeURIComponent(id)}/retry`);
      task = await get(`${SCAFFOLDER}/tasks/${encodeURIComponent(id)}`);
      completion = null;
      completedAt = null;
      drawOutput();
      drawStatus();
      actionStatus.replaceChildren('Retried: steps that completed before are skipped.');
      follow(follower?.lastId() ?? null);
    } catch (error) {
      actionStatus.replaceChildren(errorBox(error.message));
    } finally {
      retryButton.disabled = false;
    }
  });

  drawSteps();
  drawStatus();
  follow(null);
  // Running steps' durations tick.
  const ticker = setInterval(() => {
    if (!FINISHED.has(task.status)) { drawSteps(); drawStatus(); }
  }, 1000);
  return () => {
    clearInterval(ticker);
    follower?.stop();
  };
}
