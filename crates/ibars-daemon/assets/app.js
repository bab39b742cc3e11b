// The ibars dashboard: login, the page shell and hash routing (#/overview, #/snapshots/main/...).
// Each page is a module's function that fills the page element; see the ROUTES table below.

import { api, can, login, logout, restoreSession, session, setUnauthorizedHandler } from './api.js';
import { clearMessages, errorText, fill, h, link, loading, showError } from './ui.js';
import { renderOverview } from './overview.js';
import { renderCharts } from './charts.js';
import { renderSnapshots, renderBrowser, renderDiff, initRestoreDialog } from './snapshots.js';
import { renderAnomalies, renderIntegrity, renderAudit, refreshAnomalyCount } from './pages.js';

// First path segment → page. Each gets a context (see `navigate`).
const ROUTES = {
  overview: renderOverview,
  charts: renderCharts,
  anomalies: renderAnomalies,
  snapshots: (ctx) => (ctx.segs.length >= 3 ? renderBrowser(ctx) : renderSnapshots(ctx)),
  diff: renderDiff,
  integrity: renderIntegrity,
  audit: renderAudit,
};

const $ = (id) => document.getElementById(id);

/** Splits the hash: "#/snapshots/main/abc/tmp?x=1" → segments and query. */
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const i = raw.indexOf('?');
  const path = i < 0 ? raw : raw.slice(0, i);
  const segs = path.split('/').filter(Boolean).map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  });
  return { segs, query: new URLSearchParams(i < 0 ? '' : raw.slice(i + 1)) };
}

// Every navigation bumps the generation; a page's late async work checks `alive()` before it
// touches the DOM, and its timers are stopped through `cleanup`.
let generation = 0;
let cleanups = [];

async function navigate() {
  if (!session.user) return;
  generation++;
  const gen = generation;
  cleanups.forEach((fn) => fn());
  cleanups = [];
  clearMessages();
  const { segs, query } = parseHash();
  const name = segs[0] in ROUTES ? segs[0] : 'overview';
  if (name === 'audit' && !can('admin')) {
    location.replace('#/overview');
    return;
  }
  markNav(name);
  const page = $('page');
  fill(page, loading());
  let repos = [];
  try {
    repos = await api('/repositories');
  } catch (e) {
    if (gen !== generation) return;
    fill(page);
    showError(e, 'Repositories');
    return;
  }
  if (gen !== generation) return;
  const ctx = {
    segs,
    query,
    page,
    repos,
    // The repository a page shows: its second segment, else the first one configured.
    repo: segs[1] && repos.some((r) => r.name === segs[1]) ? segs[1] : repos[0] && repos[0].name,
    alive: () => gen === generation,
    cleanup: (fn) => cleanups.push(fn),
    refresh: () => navigate(),
    repoPicker: (pageName) => repoPicker(repos, pageName, ctx.repo),
  };
  try {
    await ROUTES[name](ctx);
  } catch (e) {
    if (gen !== generation) return;
    showError(e, 'Loading the page');
  }
  if (gen !== generation) return;
  // Focus the new page's heading so keyboard and screen reader users land on it.
  const h1 = page.querySelector('h1');
  if (h1 && document.activeElement === document.body) h1.focus({ preventScroll: true });
  // The overview counts them itself.
  if (name !== 'overview') refreshAnomalyCount(repos);
}

/** A repository chooser, shown only when there is more than one. */
function repoPicker(repos, pageName, current) {
  if (repos.length < 2) return null;
  const sel = h('select', { id: 'repo-picker', on: { change: () => { location.hash = link([pageName, sel.value]); } } },
    repos.map((r) => h('option', { value: r.name, text: r.name, selected: r.name === current })));
  return h('div', { class: 'repo-picker' }, h('label', { htmlFor: 'repo-picker', text: 'Repository ' }), sel);
}

function markNav(name) {
  const current = name === 'diff' ? 'snapshots' : name;
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.page === current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

// ---- login and the shell ---------------------------------------------------------------

function showLogin(message, { note = false } = {}) {
  session.user = null;
  cleanups.forEach((fn) => fn());
  cleanups = [];
  $('top').hidden = true;
  fill($('page'));
  $('login').hidden = false;
  $('login-error').textContent = message || '';
  $('login-error').className = note ? 'muted' : 'error';
  $('login-user').focus();
}

function showShell() {
  $('login').hidden = true;
  $('top').hidden = false;
  $('who').textContent = `${session.user} (${session.role})`;
  for (const li of document.querySelectorAll('[data-role]')) li.hidden = !can(li.dataset.role);
  if (!location.hash || location.hash === '#' || location.hash === '#/') location.replace('#/overview');
  navigate();
}

async function onLogin(e) {
  e.preventDefault();
  const btn = e.submitter || $('login-form').querySelector('button');
  btn.disabled = true;
  $('login-error').textContent = '';
  try {
    await login($('login-user').value.trim(), $('login-password').value);
    $('login-password').value = '';
    showShell();
  } catch (err) {
    let msg = err.status === 401 ? 'Wrong user name or password.' : errorText(err);
    if (err.status === 429) msg = `Too many failed attempts; try again in ${err.retryAfter || 'a few'} seconds.`;
    $('login-error').className = 'error';
    $('login-error').textContent = msg;
    $('login-password').select();
  } finally {
    btn.disabled = false;
  }
}

async function start() {
  $('login-form').addEventListener('submit', onLogin);
  $('logout').addEventListener('click', async () => {
    try {
      await logout();
    } catch {
      // The cookie is dropped by the server; a failed call changes nothing for the page.
    }
    showLogin('You are logged out.', { note: true });
  });
  setUnauthorizedHandler(() => showLogin('Your session has ended; please sign in again.'));
  window.addEventListener('hashchange', navigate);
  initRestoreDialog();
  try {
    if (await restoreSession()) showShell();
    else showLogin();
  } catch (e) {
    showLogin();
    $('login-error').textContent = errorText(e);
  }
}

start();
