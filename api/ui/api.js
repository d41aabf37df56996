// Calls to the service's API: JSON requests with the signed-in user's token, Backstage's error
// envelope turned into readable messages, and a task's event stream followed over SSE.

import { getToken } from './auth.js';

export const SCAFFOLDER = '/api/scaffolder/v2';
export const CATALOG = '/api/catalog';

/** A failed call: `status`, the server's message, and its body (`errors` for validation). */
export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export function authHeaders(extra = {}) {
  const token = getToken();
  return token ? { ...extra, authorization: `Bearer ${token}` } : extra;
}

/** Tells the application that the API wants (new) credentials. */
function credentialsRefused() {
  window.dispatchEvent(new CustomEvent('scaffolder:unauthorized'));
}

function messageOf(status, body) {
  if (body?.error?.message) return body.error.message;
  if (Array.isArray(body?.errors)) return body.errors.map((e) => e.message ?? String(e)).join('; ');
  return `The server answered ${status}`;
}

export async function request(method, path, body) {
  const init = { method, headers: authHeaders({ accept: 'application/json' }) };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, `The service cannot be reached (${error.message})`, null);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  if (response.status === 401) credentialsRefused();
  if (!response.ok) throw new ApiError(response.status, messageOf(response.status, data), data);
  return data;
}

export const get = (path) => request('GET', path);
export const post = (path, body = {}) => request('POST', path, body);

/** `template:default/x` → `/templates/default/template/x` parts. */
export function parseEntityRef(ref, defaultKind = 'template') {
  const match = /^(?:([^:]+):)?(?:([^/]+)\/)?(.+)$/.exec(ref ?? '');
  if (!match) return null;
  return { kind: match[1] ?? defaultKind, namespace: match[2] ?? 'default', name: match[3] };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Follows `GET /tasks/{id}/eventstream`. A dropped stream is reopened with `?after=<last id>`, and
 * events are passed on once each (by id: the completion event is always resent). Stops after the
 * completion of a task that cannot be recovered, or when `stop()` is called.
 * Uses fetch rather than EventSource, which can neither send a token nor choose `after`.
 */
export function followEvents(taskId, { onEvent, onState, after = null }) {
  const seen = new Set();
  let lastId = after;
  let stopped = false;
  let completed = false;
  let controller = null;
  let pause = 250;

  const deliver = (block) => {
    let type = 'message';
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') type = value;
      else if (field === 'data') data.push(value);
    }
    if (!data.length) return;
    let event;
    try { event = JSON.parse(data.join('\n')); } catch { return; }
    event.type ??= type;
    if (seen.has(event.id)) return;
    seen.add(event.id);
    if (lastId === null || event.id > lastId) lastId = event.id;
    if (event.type === 'completion' && !event.isTaskRecoverable) completed = true;
    if (event.type === 'recovered') completed = false;
    onEvent(event);
  };

  const run = async () => {
    while (!stopped) {
      controller = new AbortController();
      const query = lastId === null ? '' : `?after=${encodeURIComponent(lastId)}`;
      try {
        const response = await fetch(`${SCAFFOLDER}/tasks/${encodeURIComponent(taskId)}/eventstream${query}`, {
          headers: authHeaders({ accept: 'text/event-stream' }),
          signal: controller.signal,
          cache: 'no-store',
        });
        if (!response.ok) {
          let body = null;
          try { body = await response.json(); } catch { /* not JSON */ }
          if (response.status === 401) credentialsRefused();
          // Not found, not allowed, bad request: trying again will not help.
          if (response.status >= 400 && response.status < 500) {
            onState('error', messageOf(response.status, body));
            return;
          }
          throw new Error(messageOf(response.status, body));
        }
        onState('live');
        pause = 250;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let boundary = buffer.search(/\r?\n\r?\n/);
          while (boundary >= 0) {
            const block = buffer.slice(0, boundary);
            buffer = buffer.slice(boundary).replace(/^\r?\n\r?\n/, '');
            deliver(block);
            boundary = buffer.search(/\r?\n\r?\n/);
          }
        }
      } catch (error) {
        if (stopped) return;
        console.warn('event stream interrupted', error);
      }
      if (stopped) return;
      if (completed) {
        onState('ended');
        return;
      }
      onState('reconnecting');
      await sleep(pause);
      pause = Math.min(pause * 2, 5000);
    }
  };
  run();
  return {
    stop() {
      stopped = true;
      controller?.abort();
    },
    lastId: () => lastId,
  };
}
