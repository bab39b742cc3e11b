// Talking to the daemon's API (/api/v1): the session, the CSRF token on changes, errors.
//
// The session lives in an HttpOnly cookie the page cannot read; what the page keeps is who is
// logged in and the CSRF token that every POST/DELETE must carry.

const BASE = '/api/v1';

export const session = { user: null, role: null, csrf: '' };

const RANK = { viewer: 1, operator: 2, admin: 3 };

/** Whether the logged-in role is at least `role` (viewer < operator < admin). */
export function can(role) {
  return (RANK[session.role] || 0) >= RANK[role];
}

/** An API error: its HTTP status and the server's message. */
export class ApiError extends Error {
  constructor(status, message, retryAfter) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

// Called when a request finds the session gone (expired, or logged out in another tab).
let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

/** A JSON request. `path` is relative to /api/v1; `query` values that are empty are left out. */
export async function api(path, { method = 'GET', body, query, quiet401 = false } = {}) {
  let url = BASE + path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
    const s = q.toString();
    if (s) url += '?' + s;
  }
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && session.csrf) headers['X-CSRF-Token'] = session.csrf;
  let res;
  try {
    res = await fetch(url, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'The daemon cannot be reached (' + e.message + ').');
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const msg = (data && data.error) || text || res.statusText || 'request failed';
    const err = new ApiError(res.status, msg, res.headers.get('Retry-After'));
    if (res.status === 401 && !quiet401) onUnauthorized(err);
    throw err;
  }
  return data;
}

/** Builds a URL of the API (for links such as downloads, which the cookie authenticates). */
export function apiUrl(path, query) {
  const q = new URLSearchParams(query || {}).toString();
  return BASE + path + (q ? '?' + q : '');
}

const enc = encodeURIComponent;

/** Path of a repository's resource: repoPath('main', 'snapshots', id) → /repositories/main/snapshots/ID */
export function repoPath(repo, ...rest) {
  return ['/repositories', enc(repo), ...rest.map(enc)].join('/');
}

function remember(s) {
  session.user = String(s.user || '').replace(/^user:/, '');
  session.role = s.role;
  session.csrf = s.csrf_token || '';
  return session;
}

/** Restores the session of the cookie, if it is still valid; null otherwise. */
export async function restoreSession() {
  try {
    return remember(await api('/session', { quiet401: true }));
  } catch (e) {
    if (e.status === 401) return null;
    throw e;
  }
}

export async function login(username, password) {
  return remember(await api('/login', { method: 'POST', body: { username, password }, quiet401: true }));
}

export async function logout() {
  try {
    await api('/logout', { method: 'POST', quiet401: true });
  } finally {
    session.user = session.role = null;
    session.csrf = '';
  }
}

// Endpoints that a daemon of an older version may lack: remembered once a 404/405 says so,
// so that the page hides what needs them instead of failing over and over.
const missing = new Set();
export async function optional(path, opts) {
  if (missing.has(path)) return null;
  try {
    return await api(path, opts);
  } catch (e) {
    if (e.status === 404 || e.status === 405) {
      missing.add(path);
      return null;
    }
    throw e;
  }
}
