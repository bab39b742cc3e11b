// Small helpers shared by the pages: building DOM, formatting sizes and times, messages,
// and following a long operation (restore, check, job run) until it ends.

import { api, can } from './api.js';

/**
 * Creates an element. `props`: class, text, html is deliberately absent (all text goes in as
 * text, so nothing from the API can inject markup); `on: {click: fn}` adds listeners,
 * `dataset`, `attrs` set attributes; other keys are set as properties (href, type, ...).
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'attrs') for (const [a, av] of Object.entries(v)) { if (av !== undefined && av !== null && av !== false) el.setAttribute(a, av === true ? '' : av); }
    else if (k === 'style') el.setAttribute('style', v);
    else el[k] = v;
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Builds a hash link from segments (each encoded) and an optional query object. */
export function link(segs, query) {
  const q = query ? new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== '')).toString() : '';
  return '#/' + segs.map(encodeURIComponent).join('/') + (q ? '?' + q : '');
}

// ---- formatting ------------------------------------------------------------------------

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 → "1.5 KiB" */
export function bytes(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  let v = Math.abs(n);
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  const s = i === 0 ? String(v) : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
  return (n < 0 ? '-' : '') + s + ' ' + UNITS[i];
}

export function num(n) {
  return n === null || n === undefined ? '–' : Number(n).toLocaleString();
}

export function pct(x, digits = 0) {
  return x === null || x === undefined ? '–' : (x * 100).toFixed(digits) + ' %';
}

/** Seconds → "3 h 20 min" (the two largest units). */
export function duration(sec) {
  if (sec === null || sec === undefined) return '–';
  sec = Math.abs(sec);
  if (sec < 1) return Math.round(sec * 1000) + ' ms';
  if (sec < 60) return (sec < 10 ? sec.toFixed(1) : Math.round(sec)) + ' s';
  // Under two days, hours read better than days ("26 h" rather than "1 d 2 h").
  const parts = sec >= 172800 ? [[86400, 'd'], [3600, 'h'], [60, 'min']] : [[3600, 'h'], [60, 'min']];
  const out = [];
  for (const [size, unit] of parts) {
    const n = Math.floor(sec / size);
    if (n > 0 || out.length) {
      if (n > 0) out.push(n + ' ' + unit);
      sec -= n * size;
    }
    if (out.length === 2) break;
  }
  return out.join(' ') || Math.round(sec) + ' s';
}

/** Local date and time: "2026-01-07 03:00". */
export function localTime(t) {
  const d = t instanceof Date ? t : new Date(t);
  if (Number.isNaN(d.getTime())) return '–';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** Relative to now: "3 h ago", "in 20 min". */
export function relative(t) {
  const d = t instanceof Date ? t : new Date(t);
  const sec = (d.getTime() - Date.now()) / 1000;
  if (Math.abs(sec) < 45) return 'just now';
  const s = duration(Math.abs(sec)).split(' ').slice(0, 2).join(' ');
  return sec < 0 ? s + ' ago' : 'in ' + s;
}

/** A <time> element with local time and a relative hint; the exact instant on hover. */
export function when(t, { rel = true } = {}) {
  if (!t) return h('span', { class: 'muted', text: '–' });
  const d = new Date(t);
  return h('time', { dateTime: d.toISOString(), title: d.toString() },
    localTime(d), rel ? h('span', { class: 'rel', text: ' (' + relative(d) + ')' }) : null);
}

/** Nanoseconds since the epoch (tree entries) → Date. */
export function fromNanos(ns) {
  return new Date(Math.floor(Number(ns) / 1e6));
}

// Icons as inline SVG (24×24 strokes): no font is assumed to have them, and nothing is fetched.
const ICON_PATHS = {
  check: 'M5 12l5 5 9-10',
  x: 'M6 6l12 12M18 6L6 18',
  alert: 'M12 3L2 20h20L12 3zM12 10v4M12 17v.5',
  clock: 'M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18zM12 7v5l3 2',
  lock: 'M6 11h12v9H6zM8 11V8a4 4 0 0 1 8 0v3',
  folder: 'M3 6h6l2 2h10v11H3z',
  file: 'M6 3h8l4 4v14H6zM14 3v4h4',
  link: 'M10 14l4-4M8 12l-2 2a3 3 0 0 0 4 4l2-2M16 12l2-2a3 3 0 0 0-4-4l-2 2',
  dot: 'M12 10a2 2 0 1 0 0 4a2 2 0 1 0 0-4z',
  spin: 'M20 12a8 8 0 1 1-3-6.2M20 4v5h-5',
  minus: 'M6 12h12',
  stop: 'M7 7h10v10H7z',
  ban: 'M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18zM6 6l12 12',
  plus: 'M12 5v14M5 12h14',
  edit: 'M4 20h4L19 9l-4-4L4 16zM13 7l4 4',
};

/** An icon, hidden from screen readers (the text beside it says the same). */
export function icon(name, cls = '') {
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', 'icon ' + cls);
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const path = document.createElementNS(NS, 'path');
  path.setAttribute('d', ICON_PATHS[name] || ICON_PATHS.dot);
  svg.append(path);
  return svg;
}

// Outcomes and results, each with an icon and a word: the meaning never rests on color alone.
const BADGES = {
  ok: ['ok', 'check', 'ok'], succeeded: ['ok', 'check', 'succeeded'], partial: ['warn', 'alert', 'partial'],
  anomaly: ['bad', 'alert', 'anomaly'], failed: ['bad', 'x', 'failed'], timed_out: ['bad', 'clock', 'timed out'],
  interrupted: ['bad', 'x', 'interrupted'], skipped: ['warn', 'minus', 'skipped'], denied: ['bad', 'ban', 'denied'],
  cancelled: ['warn', 'stop', 'cancelled'], running: ['info', 'spin', 'running'], retrying: ['warn', 'spin', 'retrying'],
  idle: ['neutral', 'dot', 'idle'], overdue: ['bad', 'clock', 'overdue'], flagged: ['bad', 'alert', 'flagged'],
  protected: ['neutral', 'lock', 'protected'], dismissed: ['neutral', 'check', 'dismissed'],
};

export function badge(kind, label) {
  const [cls, ic, word] = BADGES[kind] || ['neutral', 'dot', kind];
  return h('span', { class: 'badge ' + cls, dataset: { state: kind } }, icon(ic), label || word);
}

/** A horizontal bar for a share 0..1 (age against max age, scrub coverage, progress). */
export function meter(share, { cls = '', label } = {}) {
  const w = Math.max(0, Math.min(1, share || 0)) * 100;
  return h('div', { class: 'meter ' + cls, attrs: { role: 'img', 'aria-label': label || pct(share) } },
    h('div', { class: 'meter-fill', style: `width:${w.toFixed(1)}%` }));
}

// ---- messages --------------------------------------------------------------------------

/** Shows an error (or a notice) in the page's alert area. */
export function showError(err, context) {
  const msg = typeof err === 'string' ? err : errorText(err);
  const box = document.getElementById('messages');
  const item = h('div', { class: 'message error' },
    icon('x'),
    h('span', { text: (context ? context + ': ' : '') + msg }),
    h('button', { type: 'button', class: 'btn small ghost', text: 'Dismiss', attrs: { 'aria-label': 'Dismiss message' },
      on: { click: () => item.remove() } }));
  box.append(item);
}

export function errorText(err) {
  if (!err) return 'unknown error';
  if (err.status === 403) return 'not allowed for your role (' + err.message + ')';
  return err.message || String(err);
}

/** A polite notice for screen readers and a short visible note. */
export function notify(text) {
  document.getElementById('status').textContent = text;
  const box = document.getElementById('messages');
  const item = h('div', { class: 'message notice' },
    icon('check'), h('span', { text }));
  box.append(item);
  setTimeout(() => item.remove(), 6000);
}

export function clearMessages() {
  document.getElementById('messages').replaceChildren();
}

// ---- dialogs ---------------------------------------------------------------------------

/** Opens a modal <dialog> and gives focus back to what opened it when it closes. */
export function openDialog(dlg, focusEl) {
  const opener = document.activeElement;
  dlg.addEventListener('close', () => opener && opener.isConnected && opener.focus(), { once: true });
  dlg.showModal();
  if (focusEl) focusEl.focus();
}

/** Asks for a line of text (e.g. a dismissal's reason); resolves to it, or null if cancelled. */
export function prompt({ title, text, label, ok }) {
  const dlg = document.getElementById('prompt-dialog');
  const input = document.getElementById('prompt-input');
  document.getElementById('prompt-title').textContent = title;
  document.getElementById('prompt-text').textContent = text || '';
  document.getElementById('prompt-label').textContent = label;
  document.getElementById('prompt-ok').textContent = ok;
  input.value = '';
  return new Promise((resolve) => {
    const form = document.getElementById('prompt-form');
    const cancel = document.getElementById('prompt-cancel');
    const done = (v) => {
      form.removeEventListener('submit', onSubmit);
      cancel.removeEventListener('click', onCancel);
      dlg.removeEventListener('cancel', onCancel);
      if (dlg.open) dlg.close();
      resolve(v);
    };
    const onSubmit = (e) => {
      e.preventDefault();
      const v = input.value.trim();
      if (v) done(v);
    };
    const onCancel = (e) => {
      e.preventDefault();
      done(null);
    };
    form.addEventListener('submit', onSubmit);
    cancel.addEventListener('click', onCancel);
    dlg.addEventListener('cancel', onCancel);
    openDialog(dlg, input);
  });
}

// ---- long operations -------------------------------------------------------------------

/** Polls an operation every second until it is no longer running; `onUpdate` gets each state. */
export function watchOperation(id, onUpdate) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    try {
      const op = await api('/operations/' + encodeURIComponent(id));
      onUpdate(op);
      if (op.state === 'running') timer = setTimeout(tick, 1000);
    } catch (e) {
      onUpdate(null, e);
      // A passing error (daemon restarting) should not end the watch at once.
      if (e.status !== 404 && e.status !== 403) timer = setTimeout(tick, 3000);
    }
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function progressText(op) {
  const p = op.progress || {};
  const parts = [];
  if (op.state === 'running') parts.push(pct(p.percent || 0));
  if (p.total_files) parts.push(`${num(p.files_done)} of ${num(p.total_files)} files`);
  else if (p.files_done) parts.push(`${num(p.files_done)} files`);
  if (p.total_bytes) parts.push(`${bytes(p.bytes_done)} of ${bytes(p.total_bytes)}`);
  else if (p.bytes_done) parts.push(bytes(p.bytes_done));
  // Fast operations end before the first progress line: take the time from the timestamps.
  const elapsed = p.seconds_elapsed || ((op.ended ? new Date(op.ended) : new Date()) - new Date(op.started)) / 1000;
  parts.push(duration(Math.max(0, elapsed)));
  return parts.join(' · ');
}

/** What a finished operation did, from the child's summary (restore, check or backup). */
function resultText(op) {
  const r = op.result;
  if (!r || op.state === 'running') return null;
  const rep = r.report || {};
  if (op.kind === 'restore' && rep.files_restored !== undefined) {
    const errs = (rep.errors || []).length;
    return `Restored ${num(rep.files_restored)} files (${bytes(rep.bytes_written)})` +
      (rep.verified ? `, ${num(rep.verified)} verified` : '') + (errs ? `, ${errs} errors` : '') + ` to ${r.target || op.target}.`;
  }
  if (op.kind === 'check' && rep.scope) {
    const s = rep.scope;
    const read = s.read_data ? `read ${num(s.packs_read)} of ${num(s.packs_total)} packs (${bytes(s.bytes_read)})` : 'structure only';
    return `${r.ok ? 'No errors found' : `${(rep.errors || []).length} errors`}: ${num(s.snapshots)} snapshots, ${read}, ${(rep.warnings || []).length} warnings.`;
  }
  if (r.summary && r.snapshot_id) {
    const s = r.summary;
    return `Snapshot ${r.snapshot_id.slice(0, 8)}: ${num(s.files_new)} new, ${num(s.files_changed)} changed, ${num(s.files_deleted)} deleted files; ${bytes(s.bytes_added)} added.`;
  }
  return null;
}

/**
 * Fills `box` with an operation's live state: a <progress>, the counts, and at the end its
 * outcome (and error). `box.dataset.state` follows the state, for tests and styling.
 */
export function renderOperation(box, op, onCancel, { compact = false } = {}) {
  box.hidden = false;
  box.dataset.state = op.state;
  box.dataset.operation = op.id;
  const running = op.state === 'running';
  const p = op.progress || {};
  const title = { restore: 'Restore', check: 'Check', job: 'Job run' }[op.kind] || op.kind;
  fill(box,
    compact ? null : h('div', { class: 'op-head' }, h('strong', { text: title + (op.job ? ' ' + op.job : '') }), ' ', badge(op.state)),
    running
      ? h('progress', { max: 1, value: p.percent || 0, attrs: { 'aria-label': title + ' progress' } })
      : null,
    h('p', { class: 'op-text', text: progressText(op) }),
    op.target && running ? h('p', { class: 'muted small', text: 'to ' + op.target }) : null,
    resultText(op) ? h('p', { class: op.state === 'succeeded' ? 'success' : '', text: resultText(op) }) : null,
    op.error ? h('p', { class: 'error', text: op.error }) : null,
    running && onCancel && can('operator')
      ? h('button', { type: 'button', class: 'btn small ghost', text: 'Cancel', on: { click: () => onCancel(op) } })
      : null);
}

/** Cancels an operation (DELETE), reporting errors in the message area. */
export async function cancelOperation(op) {
  try {
    await api('/operations/' + encodeURIComponent(op.id), { method: 'DELETE' });
  } catch (e) {
    showError(e, 'Cancel');
  }
}

/** The standing findings' count beside "Anomalies" in the navigation (hidden at 0). */
export function setAnomalyCount(n) {
  const el = document.getElementById('nav-anomalies');
  el.hidden = !n;
  el.textContent = String(n || 0);
  el.setAttribute('aria-label', `${n || 0} standing`);
}

/** A "Loading…" placeholder. */
export function loading(text = 'Loading…') {
  return h('p', { class: 'muted loading', attrs: { 'aria-busy': 'true' }, text });
}

/** A table with a caption; `head` is a list of column names. Scrolls sideways on its own. */
export function table(caption, head, rows, { cls = '' } = {}) {
  return h('div', { class: 'table-wrap' },
    h('table', { class: cls },
      caption ? h('caption', { class: 'visually-hidden', text: caption }) : null,
      h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col', text: c })))),
      h('tbody', {}, rows)));
}

/** The page heading, focused after navigation so screen readers announce the new page. */
export function pageTitle(text, ...extra) {
  return h('div', { class: 'page-head' }, h('h1', { attrs: { tabindex: '-1' }, text }), ...extra);
}
