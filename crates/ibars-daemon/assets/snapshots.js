// Snapshots: the paged list, the tree browser (breadcrumbs, paged directories, file details,
// downloads), the diff of two snapshots, and the restore dialog with live progress.

import { api, apiUrl, can, optional, repoPath } from './api.js';
import {
  badge, bytes, cancelOperation, fill, icon, fromNanos, h, link, loading, localTime, num, openDialog,
  pageTitle, renderOperation, table, watchOperation, when,
} from './ui.js';

const PAGE = 25; // snapshots per page
const DIR_PAGE = 500; // directory entries per page (the API allows up to 5000)

// ---- the list --------------------------------------------------------------------------

export async function renderSnapshots(ctx) {
  const { page, repo, query } = ctx;
  fill(page, pageTitle('Snapshots', ctx.repoPicker('snapshots')));
  if (!repo) return;
  const filters = { host: query.get('host') || '', tag: query.get('tag') || '', path: query.get('path') || '' };
  const offset = Math.max(0, Number(query.get('offset')) || 0);
  const body = h('div', {}, loading());
  page.append(filterForm(repo, filters), body);
  const res = await api(repoPath(repo, 'snapshots'), { query: { ...filters, offset, limit: PAGE } });
  if (!ctx.alive()) return;
  if (!res.snapshots.length) return void fill(body, h('p', { class: 'muted', text: 'No snapshots match.' }));

  const chosen = new Set();
  const compare = h('button', { type: 'button', class: 'btn', disabled: true, text: 'Compare 2 selected',
    on: { click: () => { const [a, b] = [...chosen].map((id) => res.snapshots.find((s) => s.id === id)).sort((x, y) => new Date(x.time) - new Date(y.time)); location.hash = link(['diff', repo], { from: a.id, to: b.id }); } } });
  const onPick = (id, on) => {
    if (on) chosen.add(id); else chosen.delete(id);
    compare.disabled = chosen.size !== 2;
  };
  const rows = res.snapshots.map((s) => snapshotRow(repo, s, onPick));
  fill(body,
    h('div', { class: 'toolbar' }, compare, h('a', { class: 'btn ghost', href: link(['diff', repo]), text: 'Diff…' }),
      h('span', { class: 'muted', text: `${offset + 1}–${offset + res.snapshots.length} of ${num(res.total)}` })),
    table('Snapshots', ['', 'Snapshot', 'Time', 'Host', 'Paths', 'Files', 'Size', 'Added', 'Status', ''], rows, { cls: 'snapshots' }),
    pager(offset, PAGE, res.total, (o) => link(['snapshots', repo], { ...filters, offset: o || undefined })));
}

function filterForm(repo, f) {
  const input = (name, label) => [h('label', { htmlFor: 'f-' + name, text: label }),
    h('input', { id: 'f-' + name, name, value: f[name], autocomplete: 'off', spellcheck: false })];
  const form = h('form', { class: 'filters', attrs: { 'aria-label': 'Filter snapshots' } },
    h('div', {}, input('host', 'Host')), h('div', {}, input('tag', 'Tag')), h('div', {}, input('path', 'Path')),
    h('button', { type: 'submit', class: 'btn', text: 'Filter' }));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const d = new FormData(form);
    location.hash = link(['snapshots', repo], { host: d.get('host'), tag: d.get('tag'), path: d.get('path') });
  });
  return form;
}

function snapshotRow(repo, s, onPick) {
  const browse = link(['snapshots', repo, s.id]);
  return h('tr', { dataset: { snapshot: s.id }, class: s.flagged ? 'is-bad' : '' },
    h('td', {}, h('input', { type: 'checkbox', attrs: { 'aria-label': 'Select ' + s.short_id + ' to compare' },
      on: { change: (e) => onPick(s.id, e.target.checked) } })),
    h('td', {}, h('a', { href: browse, class: 'mono', text: s.short_id, attrs: { 'aria-label': 'Browse snapshot ' + s.short_id } })),
    h('td', {}, when(s.time)),
    h('td', { text: s.host }),
    h('td', { class: 'mono small wrap', text: s.paths.join(', ') }),
    h('td', { class: 'num', text: num(s.files) }),
    h('td', { class: 'num', text: bytes(s.bytes_total) }),
    h('td', { class: 'num', text: bytes(s.bytes_added) }),
    h('td', {}, s.flagged ? badge('flagged', s.anomaly_score === null || s.anomaly_score === undefined ? 'flagged' : `flagged · ${Number(s.anomaly_score).toFixed(1)}`) : null, ' ',
      s.protected ? badge('protected') : null, ' ', s.tags.map((t) => h('span', { class: 'tag', text: t }))),
    h('td', { class: 'actions' },
      s.parent ? h('a', { class: 'btn small ghost', href: link(['diff', repo], { from: s.parent, to: s.id }), text: 'Changes' }) : null,
      can('operator') ? h('button', { type: 'button', class: 'btn small ghost', text: 'Restore…',
        on: { click: () => openRestore({ repo, snapshot: s.id }) } }) : null));
}

/** Previous / next links for offset paging. */
function pager(offset, size, total, href, label = 'Pages') {
  if (total <= size) return null;
  const prev = Math.max(0, offset - size);
  return h('nav', { class: 'pager', attrs: { 'aria-label': label } },
    offset > 0 ? h('a', { class: 'btn', href: href(prev), rel: 'prev', text: '← Previous' }) : h('span', { class: 'btn disabled', text: '← Previous', attrs: { 'aria-disabled': 'true' } }),
    h('span', { class: 'muted', text: `${num(offset + 1)}–${num(Math.min(total, offset + size))} of ${num(total)}` }),
    offset + size < total ? h('a', { class: 'btn', href: href(offset + size), rel: 'next', text: 'Next →' }) : h('span', { class: 'btn disabled', text: 'Next →', attrs: { 'aria-disabled': 'true' } }));
}

// ---- the tree browser ------------------------------------------------------------------

export async function renderBrowser(ctx) {
  const { page, segs, query } = ctx;
  const repo = segs[1];
  const dir = '/' + segs.slice(3).join('/');
  const offset = Math.max(0, Number(query.get('offset')) || 0);
  fill(page, pageTitle('Snapshot'), loading());
  const snap = await api(repoPath(repo, 'snapshots', segs[2]));
  if (!ctx.alive()) return;
  // Links use the resolved id ("latest" moves on when a backup is made).
  const id = snap.id;
  if (segs[2] !== id) return void location.replace(link(['snapshots', repo, id, ...segs.slice(3)], { offset: offset || undefined }));
  const tree = await api(repoPath(repo, 'snapshots', id, 'tree'), { query: { path: dir, offset, limit: DIR_PAGE } });
  if (!ctx.alive()) return;

  const details = h('aside', { class: 'card details', attrs: { 'aria-label': 'File details' }, dataset: { testid: 'file-details' } },
    h('p', { class: 'muted', text: 'Choose a file to see its details.' }));
  const dirLink = (p) => link(['snapshots', repo, id, ...p.split('/').filter(Boolean)]);
  const rows = tree.entries.map((e) => entryRow(repo, id, dir, e, dirLink, details));
  fill(page,
    pageTitle(`Snapshot ${snap.short_id}`),
    h('p', { class: 'snapshot-meta' }, when(snap.time), ` · ${snap.host} · ${(snap.paths || []).join(', ')}`,
      snap.tags && snap.tags.length ? ' · ' : '', (snap.tags || []).map((t) => h('span', { class: 'tag', text: t })),
      ' · ', h('a', { href: link(['snapshots', repo]), text: 'all snapshots' })),
    breadcrumbs(dir, dirLink),
    // Big directories: the pager above the listing too, so that paging needs no scrolling.
    pager(offset, DIR_PAGE, tree.total, (o) => link(['snapshots', repo, id, ...segs.slice(3)], { offset: o || undefined }), 'Pages, top'),
    h('div', { class: 'toolbar' },
      can('operator') ? h('button', { type: 'button', class: 'btn primary', text: dir === '/' ? 'Restore snapshot…' : 'Restore this directory…',
        on: { click: () => openRestore({ repo, snapshot: id, include: dir === '/' ? [] : [dir] }) } }) : null,
      can('operator') ? h('a', { class: 'btn', href: apiUrl(repoPath(repo, 'snapshots', id, 'download'), { path: dir }), download: '',
        text: 'Download as tar', attrs: { 'aria-label': `Download ${dir} as tar` } }) : null,
      h('span', { class: 'muted', text: `${num(tree.total)} entr${tree.total === 1 ? 'y' : 'ies'}` })),
    h('div', { class: 'browser' },
      h('div', { class: 'listing' },
        rows.length ? table(`Contents of ${dir}`, ['Name', 'Size', 'Modified', ''], rows, { cls: 'tree' }) : h('p', { class: 'muted', text: 'This directory is empty.' }),
        pager(offset, DIR_PAGE, tree.total, (o) => link(['snapshots', repo, id, ...segs.slice(3)], { offset: o || undefined }))),
      details));
}

function breadcrumbs(dir, dirLink) {
  const parts = dir.split('/').filter(Boolean);
  const items = [h('li', {}, parts.length ? h('a', { href: dirLink('/'), text: '/' }) : h('span', { attrs: { 'aria-current': 'page' }, text: '/' }))];
  parts.forEach((p, i) => {
    const last = i === parts.length - 1;
    const path = '/' + parts.slice(0, i + 1).join('/');
    items.push(h('li', {}, last ? h('span', { attrs: { 'aria-current': 'page' }, text: p }) : h('a', { href: dirLink(path), text: p })));
  });
  return h('nav', { class: 'crumbs', attrs: { 'aria-label': 'Breadcrumb' }, dataset: { testid: 'breadcrumbs' } }, h('ol', {}, items));
}

const ICONS = { dir: 'folder', file: 'file', symlink: 'link' };

function entryRow(repo, id, dir, e, dirLink, details) {
  const path = (dir === '/' ? '' : dir) + '/' + e.name;
  const dl = apiUrl(repoPath(repo, 'snapshots', id, 'download'), { path });
  const ic = icon(ICONS[e.type] || 'dot', e.type);
  const name = e.type === 'dir'
    ? h('a', { href: dirLink(path), dataset: { entry: e.name } }, ic, e.name + '/')
    : h('button', { type: 'button', class: 'linklike', dataset: { entry: e.name },
      on: { click: () => showDetails(details, repo, id, path, e, dl) } }, ic, e.name);
  return h('tr', { dataset: { type: e.type } },
    h('td', { class: 'name' }, name),
    h('td', { class: 'num', text: e.type === 'dir' ? '–' : bytes(e.size) }),
    h('td', { text: localTime(fromNanos(e.mtime)) }),
    h('td', { class: 'actions' }, can('operator') && (e.type === 'file' || e.type === 'dir')
      ? h('a', { class: 'btn small ghost', href: dl, download: '', text: 'Download', attrs: { 'aria-label': 'Download ' + e.name } }) : null));
}

function showDetails(box, repo, id, path, e, dl) {
  const row = (k, v) => h('div', {}, h('dt', { text: k }), h('dd', {}, v));
  fill(box,
    h('h2', { class: 'wrap', text: e.name }),
    h('dl', { class: 'facts' },
      row('Path', h('span', { class: 'mono wrap', text: path })),
      row('Type', e.type),
      row('Size', `${bytes(e.size)} (${num(e.size)} bytes)`),
      row('Modified', when(fromNanos(e.mtime))),
      row('Mode', h('span', { class: 'mono', text: modeString(e) })),
      row('Owner', `${e.user || '?'}:${e.group || '?'}`),
      e.target ? row('Target', h('span', { class: 'mono wrap', text: e.target })) : null),
    can('operator') ? h('div', { class: 'card-actions' },
      e.type === 'file' ? h('a', { class: 'btn primary', href: dl, download: '', text: 'Download' }) : null,
      h('button', { type: 'button', class: 'btn', text: 'Restore this file…', on: { click: () => openRestore({ repo, snapshot: id, include: [path] }) } })) : null);
  box.querySelector('h2').setAttribute('tabindex', '-1');
  box.querySelector('h2').focus();
}

/** 0o100644 → "-rw-r--r-- (644)". */
function modeString(e) {
  const m = e.mode & 0o7777;
  const t = { dir: 'd', symlink: 'l', fifo: 'p', chardev: 'c', blockdev: 'b', socket: 's' }[e.type] || '-';
  let s = '';
  for (let i = 8; i >= 0; i--) s += m & (1 << i) ? 'rwx'[(8 - i) % 3] : '-';
  return `${t}${s} (${m.toString(8)})`;
}

// ---- diff ------------------------------------------------------------------------------

const CHANGE = { added: ['plus', 'ok'], removed: ['minus', 'bad'], modified: ['edit', 'warn'], metadata: ['dot', 'neutral'], type: ['alert', 'warn'] };

export async function renderDiff(ctx) {
  const { page, repo, query } = ctx;
  fill(page, pageTitle('Compare snapshots', ctx.repoPicker('diff')), loading());
  if (!repo) return;
  const list = await api(repoPath(repo, 'snapshots'), { query: { limit: 200 } });
  if (!ctx.alive()) return;
  const snaps = list.snapshots;
  const to = query.get('to') || (snaps[0] && snaps[0].id);
  const from = query.get('from') || (snaps[1] && snaps[1].id);
  const select = (id, label, value) => {
    const opts = snaps.map((s) => h('option', { value: s.id, text: `${s.short_id} · ${localTime(s.time)} · ${s.host}${s.flagged ? ' ⚠' : ''}`, selected: s.id === value || s.short_id === value }));
    // A snapshot from the address that is not among the newest 200 is still offered.
    if (value && !snaps.some((s) => s.id === value || s.short_id === value)) opts.unshift(h('option', { value, text: value.slice(0, 8), selected: true }));
    return h('div', {}, h('label', { htmlFor: id, text: label }), h('select', { id, name: id }, opts));
  };
  const form = h('form', { class: 'filters wide', attrs: { 'aria-label': 'Choose two snapshots' } },
    select('diff-from', 'From (older)', from), select('diff-to', 'To (newer)', to),
    h('button', { type: 'submit', class: 'btn primary', text: 'Compare' }));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    location.hash = link(['diff', repo], { from: form.elements['diff-from'].value, to: form.elements['diff-to'].value });
  });
  const out = h('div', { dataset: { testid: 'diff' } });
  fill(page, pageTitle('Compare snapshots', ctx.repoPicker('diff')), form, out);
  if (!from || !to) return void out.append(h('p', { class: 'muted', text: 'Two snapshots are needed to compare.' }));
  if (!query.get('from')) return void out.append(h('p', { class: 'muted', text: 'Choose two snapshots and press Compare to see what changed between them.' }));
  fill(out, loading('Comparing…'));
  const d = await api(repoPath(repo, 'diff'), { query: { from, to, limit: 2000 } });
  if (!ctx.alive()) return;
  const st = d.stats || {};
  fill(out,
    h('div', { class: 'stats' },
      stat('Added', `${num(st.added_files)} files`, bytes(st.added_bytes)),
      stat('Removed', `${num(st.removed_files)} files`, bytes(st.removed_bytes)),
      stat('Modified', `${num(st.modified_files)} files`),
      stat('Metadata only', `${num(st.metadata_changed)}`)),
    d.total > d.changes.length ? h('p', { class: 'muted', text: `Showing the first ${num(d.changes.length)} of ${num(d.total)} changes.` }) : null,
    d.changes.length ? table('Changes', ['Change', 'Path', 'Type', 'Old size', 'New size'], d.changes.map((c) => {
      const [sym, cls] = CHANGE[c.change] || ['?', 'neutral'];
      return h('tr', {},
        h('td', {}, h('span', { class: 'badge ' + cls }, icon(sym), c.change)),
        h('td', { class: 'mono wrap', text: c.path }), h('td', { text: c.type }),
        h('td', { class: 'num', text: c.change === 'added' ? '–' : bytes(c.old_size) }),
        h('td', { class: 'num', text: c.change === 'removed' ? '–' : bytes(c.new_size) }));
    })) : h('p', { class: 'muted', text: 'No differences.' }));
}

function stat(label, value, sub) {
  return h('div', { class: 'stat card' }, h('div', { class: 'stat-label', text: label }), h('div', { class: 'stat-value', text: value }), sub ? h('div', { class: 'muted small', text: sub }) : null);
}

// ---- the restore dialog ----------------------------------------------------------------

let restoreCtx = null;
let stopWatch = null;

/** Opens the restore dialog for a snapshot, with paths to restore (all when empty). */
export async function openRestore({ repo, snapshot, include = [] }) {
  const $ = (id) => document.getElementById(id);
  restoreCtx = { repo };
  $('restore-title').textContent = `Restore from ${repo}`;
  $('restore-snapshot').value = snapshot;
  $('restore-include').value = include.join('\n');
  $('restore-verify').checked = false;
  $('restore-progress').hidden = true;
  $('restore-start').disabled = false;
  openDialog($('restore-dialog'), $('restore-target'));
  let roots = null;
  try {
    roots = await optional('/restore-roots');
  } catch {
    roots = null;
  }
  if (roots && roots.length) {
    const stamp = localTime(new Date()).replace(/[-: ]/g, '').slice(0, 12);
    $('restore-target').value = `${roots[0].replace(/\/$/, '')}/restore-${String(snapshot).slice(0, 8)}-${stamp}`;
    $('restore-roots').textContent = 'Allowed under: ' + roots.join(', ');
  } else {
    $('restore-roots').textContent = 'The directory must lie under one of the daemon\'s restore roots.';
  }
  $('restore-target').select();
}

export function initRestoreDialog() {
  const $ = (id) => document.getElementById(id);
  const dlg = $('restore-dialog');
  $('restore-close').addEventListener('click', () => dlg.close());
  dlg.addEventListener('close', () => {
    // Closing the dialog does not stop the restore; it goes on and shows under operations.
    if (stopWatch) stopWatch();
    stopWatch = null;
  });
  $('restore-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const include = $('restore-include').value.split('\n').map((s) => s.trim()).filter(Boolean);
    const body = { snapshot: $('restore-snapshot').value.trim(), target: $('restore-target').value.trim(), include, verify: $('restore-verify').checked };
    const box = $('restore-progress');
    $('restore-start').disabled = true;
    try {
      const op = await api(repoPath(restoreCtx.repo, 'restores'), { method: 'POST', body });
      renderOperation(box, op, cancelOperation);
      stopWatch = watchOperation(op.id, (o, err) => {
        if (o) renderOperation(box, o, cancelOperation);
        else if (err) fill(box, h('p', { class: 'error', text: err.message }));
        if (o && o.state !== 'running') {
          $('restore-start').disabled = false;
          $('restore-close').focus();
        }
      });
    } catch (err) {
      $('restore-start').disabled = false;
      box.hidden = false;
      box.dataset.state = 'error';
      fill(box, h('p', { class: 'error', attrs: { role: 'alert' }, text: err.status === 404 || err.status === 405 ? `This daemon cannot start restores from the dashboard (${err.message}).` : err.message }));
    }
  });
}
