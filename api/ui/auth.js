// Signing in: OIDC authorization code with PKCE (S256) against the provider the server names in
// `ui-config`, the code exchanged at the provider's token endpoint from the browser, and the
// resulting ID token kept for this tab (sessionStorage) and sent as `Authorization: Bearer`.
// A pasted API token (a static external-access token) works the same way.

const TOKEN = 'scaffolder.token';
const PENDING = 'scaffolder.signin';

export function getToken() {
  return sessionStorage.getItem(TOKEN);
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN, token);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN);
}

function base64url(bytes) {
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString(bytes = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

/** A JWT's payload, unverified (the server verifies; the page only reads `exp` and `nonce`). */
export function tokenClaims(token) {
  const parts = String(token ?? '').split('.');
  if (parts.length !== 3) return null;
  try {
    const json = atob(parts[1].replace(/-/g, '+').replace(/_/g, '/'));
    return JSON.parse(decodeURIComponent(escape(json)));
  } catch {
    return null;
  }
}

/** Drops a stored JWT that has expired, so the page asks for a new sign-in instead of failing. */
export function dropExpiredToken() {
  const claims = tokenClaims(getToken());
  if (claims?.exp && claims.exp * 1000 < Date.now()) clearToken();
}

function redirectUri() {
  return `${location.origin}/`;
}

/** Sends the browser to the provider. */
export async function startSignIn(signIn) {
  if (!window.isSecureContext || !crypto.subtle) {
    throw new Error('Signing in needs a secure page: open the service over HTTPS (or on 127.0.0.1).');
  }
  const verifier = randomString(48);
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  const pending = { verifier, state: randomString(16), nonce: randomString(16), returnTo: location.hash || '#/' };
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  const url = new URL(signIn.authorizationEndpoint);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', signIn.clientId);
  url.searchParams.set('redirect_uri', redirectUri());
  url.searchParams.set('scope', signIn.scope || 'openid profile email');
  url.searchParams.set('state', pending.state);
  url.searchParams.set('nonce', pending.nonce);
  url.searchParams.set('code_challenge', base64url(new Uint8Array(digest)));
  url.searchParams.set('code_challenge_method', 'S256');
  location.assign(url.toString());
}

/**
 * Finishes a sign-in when the provider sent the browser back (`?code=&state=` or `?error=`).
 * Returns the hash to go back to, or null when this page load is not a sign-in's return.
 */
export async function completeSignIn(signIn) {
  const params = new URLSearchParams(location.search);
  if (!params.has('code') && !params.has('error')) return null;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? 'null');
  sessionStorage.removeItem(PENDING);
  // Whatever happens, the code must not stay in the address bar or the history.
  history.replaceState(null, '', `/${pending?.returnTo ?? '#/'}`);
  if (params.has('error')) {
    throw new Error(`The sign-in was refused: ${params.get('error_description') || params.get('error')}`);
  }
  if (!pending || params.get('state') !== pending.state) {
    throw new Error('The sign-in answer does not belong to a sign-in started here; please sign in again.');
  }
  if (!signIn) throw new Error('No sign-in provider is configured.');
  const body = new URLSearchParams({
    grant_type: 'authorization_code',
    code: params.get('code'),
    redirect_uri: redirectUri(),
    client_id: signIn.clientId,
    code_verifier: pending.verifier,
  });
  const response = await fetch(signIn.tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body,
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok || !answer.id_token) {
    throw new Error(`The provider did not issue a token: ${answer.error_description || answer.error || response.status}`);
  }
  const claims = tokenClaims(answer.id_token);
  if (!claims || claims.nonce !== pending.nonce) {
    throw new Error('The provider returned a token for another sign-in; please sign in again.');
  }
  setToken(answer.id_token);
  return pending.returnTo;
}
