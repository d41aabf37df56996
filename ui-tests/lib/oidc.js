// A stand-in OpenID Connect provider: discovery, a JWKS with a key generated at start, an
// authorization endpoint that signs in "alice" at once and sends the browser back with a code,
// and a token endpoint that checks the PKCE verifier against the challenge before it issues an
// RS256-signed ID token.

import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import http from 'node:http';

const b64url = (buffer) => Buffer.from(buffer).toString('base64url');

export async function startOidcProvider({ clientId, email }) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = b64url(randomBytes(8));
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  const codes = new Map();
  const seen = { authorize: [], token: [] };
  let base = '';

  const idToken = (nonce) => {
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid }));
    const payload = b64url(JSON.stringify({ iss: base, sub: 'alice-subject', aud: clientId, iat: now, exp: now + 600, nonce, email }));
    const signature = sign('sha256', Buffer.from(`${header}.${payload}`), privateKey);
    return `${header}.${payload}.${b64url(signature)}`;
  };

  const json = (response, status, body) => {
    response.writeHead(status, { 'content-type': 'application/json', 'access-control-allow-origin': '*' });
    response.end(JSON.stringify(body));
  };

  const server = http.createServer((request, response) => {
    const url = new URL(request.url, base);
    if (request.method === 'OPTIONS') {
      response.writeHead(204, {
        'access-control-allow-origin': '*',
        'access-control-allow-methods': 'POST',
        'access-control-allow-headers': 'content-type, accept',
      });
      response.end();
      return;
    }
    if (url.pathname === '/.well-known/openid-configuration') {
      json(response, 200, {
        issuer: base,
        authorization_endpoint: `${base}/authorize`,
        token_endpoint: `${base}/token`,
        jwks_uri: `${base}/jwks`,
        response_types_supported: ['code'],
        code_challenge_methods_supported: ['S256'],
        id_token_signing_alg_values_supported: ['RS256'],
      });
      return;
    }
    if (url.pathname === '/jwks') {
      json(response, 200, { keys: [jwk] });
      return;
    }
    if (url.pathname === '/authorize') {
      const params = Object.fromEntries(url.searchParams);
      seen.authorize.push(params);
      const redirect = new URL(params.redirect_uri);
      if (params.response_type !== 'code' || params.client_id !== clientId || params.code_challenge_method !== 'S256' || !params.code_challenge) {
        redirect.searchParams.set('error', 'invalid_request');
        redirect.searchParams.set('state', params.state ?? '');
      } else {
        const code = b64url(randomBytes(16));
        codes.set(code, { challenge: params.code_challenge, nonce: params.nonce, redirectUri: params.redirect_uri });
        redirect.searchParams.set('code', code);
        redirect.searchParams.set('state', params.state);
      }
      response.writeHead(302, { location: redirect.toString() });
      response.end();
      return;
    }
    if (url.pathname === '/token' && request.method === 'POST') {
      let body = '';
      request.on('data', (chunk) => { body += chunk; });
      request.on('end', () => {
        const form = Object.fromEntries(new URLSearchParams(body));
        seen.token.push(form);
        const grant = codes.get(form.code);
        codes.delete(form.code);
        const verified = grant
          && form.grant_type === 'authorization_code'
          && form.client_id === clientId
          && form.redirect_uri === grant.redirectUri
          && b64url(createHash('sha256').update(form.code_verifier ?? '').digest()) === grant.challenge;
        if (!verified) {
          json(response, 400, { error: 'invalid_grant', error_description: 'code or PKCE verifier not accepted' });
          return;
        }
        json(response, 200, { token_type: 'Bearer', expires_in: 600, access_token: b64url(randomBytes(16)), id_token: idToken(grant.nonce) });
      });
      return;
    }
    json(response, 404, { error: 'not_found' });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}`;
  return { url: base, seen, stop: () => new Promise((r) => server.close(r)) };
}
