// Anomalies (findings, restore the clean point, dismiss), Integrity (check results, scrub
// coverage, start a check) and the Audit log (admin).

import { api, can, optional, repoPath } from './api.js';
import {
  badge, bytes, cancelOperation, icon, setAnomalyCount, duration, fill, h, link, loading, meter, notify, pageTitle, pct,
  prompt, renderOperation, showError, table, watchOperation, when,
} from './ui.js';
import { openRestore } from './snapshots.js';
import { loadOverview } from './overview.js';

// ---- anomalies -------------------------------------------------------------------------

/** The standing findings' count beside "Anomalies" in the navigation. */
export async function refreshAnomalyCount(repos) {
  try {
    setAnomalyCount((await loadOverview(repos)).anomalies);
  } catch {
    setAnomalyCount(0);
  }
}

export async function renderAnomalies(ctx) {
  const { page, repos, query } = ctx;
  const all = query.get('all') === '1';
  const toggle = h('label', { class: 'check' },
    h('input', { type: 'checkbox', checked: all, on: { change: (e) => { location.hash = link(['anomalies'], { all: e.target.checked ? '1' : '' }); } } }),
    ' Show dismissed findings too');
  const body = h('div', {}, loading());
  fill(page, pageTitle('Anomalies', toggle),
    h('p', { class: 'muted', text: 'Backups that looked like ransomware or mass deletion. The flagged snapshot and the last clean one before it are protected from deletion until the finding is dismissed.' }),
    body);
  const lists = await Promise.all(repos.map((r) => api(repoPath(r.name, 'anomalies'), { query: { all: all ? 'true' : '' } })));
  if (!ctx.alive()) return;
  const cards = [];
  repos.forEach((r, i) => lists[i].forEach((f) => cards.push(findingCard(r.name, f, ctx))));
  fill(body, cards.length ? h('div', { class: 'findings' }, cards)
    : h('div', { class: 'banner ok' }, h('strong', {}, icon('check'), 'No standing anomalies.')));
}

function findingCard(repo, f, ctx) {
  const s = f.snapshot;
  const dismissed = f.dismissed;
  const row = (k, v) => h('div', {}, h('dt', { text: k }), h('dd', {}, v));
  return h('article', { class: 'card finding' + (dismissed ? '' : ' is-bad'), dataset: { testid: 'finding', snapshot: s.id } },
    h('header', { class: 'card-head' },
      h('h2', {}, dismissed ? null : icon('alert', 'bad'),
        dismissed ? 'Dismissed finding' : 'Suspected ransomware or mass deletion'),
      dismissed ? badge('dismissed') : badge('flagged', `score ${Number(f.score).toFixed(2)}`)),
    h('dl', { class: 'facts' },
      row('Snapshot', h('span', {}, h('a', { class: 'mono', href: link(['snapshots', repo, s.id]), text: s.short_id }), ' in ', repo)),
      row('Time', when(s.time)),
      row('Source', `${s.host}: ${s.paths.join(', ')}`),
      row('Score', Number(f.score).toFixed(2)),
      row('Clean point', f.clean_point
        ? h('a', { class: 'mono', href: link(['snapshots', repo, f.clean_point]), text: f.clean_point.slice(0, 8) })
        : h('span', { class: 'muted', text: 'none found' }))),
    h('h3', { text: 'Why' }),
    h('ul', { class: 'reasons' }, f.reasons.map((r) => h('li', { text: r }))),
    f.affected.length ? [h('h3', { text: 'Most affected' }), h('ul', { class: 'affected' }, f.affected.map((p) => h('li', { class: 'mono wrap', text: p })))] : null,
    dismissed ? h('p', { class: 'muted' }, `Dismissed by ${String(dismissed.by || '?').replace(/^user:/, '')} `, when(dismissed.time),
      dismissed.reason ? `: “${dismissed.reason}”` : '') : null,
    h('div', { class: 'card-actions' },
      can('operator') && f.clean_point ? h('button', { type: 'button', class: 'btn primary', text: 'Restore last clean snapshot',
        on: { click: () => openRestore({ repo, snapshot: f.clean_point }) } }) : null,
      f.clean_point ? h('a', { class: 'btn', href: link(['diff', repo], { from: f.clean_point, to: s.id }), text: 'What changed' }) : null,
      can('operator') && !dismissed ? h('button', { type: 'button', class: 'btn danger', text: 'Dismiss…',
        on: { click: () => dismiss(repo, f, ctx) } }) : null));
}

async function dismiss(repo, f, ctx) {
  const reason = await prompt({
    title: `Dismiss finding ${f.snapshot.short_id}`,
    text: 'Call this a false alarm. Its protection and that of the clean point lift.',
    label: 'Reason (kept in the audit log)',
    ok: 'Dismiss finding',
  });
  if (!reason) return;
  try {
    await api(repoPath(repo, 'anomalies', f.snapshot.id, 'dismiss'), { method: 'POST', body: { reason } });
    notify(`Finding ${f.snapshot.short_id} dismissed.`);
    ctx.refresh();
  } catch (e) {
    showError(e, 'Dismiss');
  }
}

// ---- integrity -------------------------------------------------------------------------

// The last check started from this page, per repository: its outcome stays shown after the
// page reloads to list the new result.
const lastCheck = new Map();

export async function renderIntegrity(ctx) {
  const { page, repo } = ctx;
  fill(page, pageTitle('Integrity', ctx.repoPicker('integrity')), loading());
  if (!repo) return;
  const info = ctx.repos.find((r) => r.name === repo);
  const checks = await api(repoPath(repo, 'history'), { query: { kind: 'check', limit: 100 } });
  if (!ctx.alive()) return;
  const s = info.stats || {};
  const last = s.last_check || (checks[0] && { time: checks[0].time, ok: checks[0].result === 'ok', errors: checks[0].errors, read_data: checks[0].check && checks[0].check.read_data });
  const progress = h('div', { class: 'op-box', hidden: true, dataset: { testid: 'check-progress' } });
  if (lastCheck.has(repo)) renderOperation(progress, lastCheck.get(repo), cancelOperation);
  fill(page,
    pageTitle('Integrity', ctx.repoPicker('integrity')),
    h('div', { class: 'stats' },
      h('div', { class: 'stat card' }, h('div', { class: 'stat-label', text: 'Scrub coverage' }),
        h('div', { class: 'stat-value', text: pct(s.scrub_coverage) }), meter(s.scrub_coverage, { cls: 'info' }),
        h('div', { class: 'muted small', text: 'of the data verified in the last 30 days' })),
      h('div', { class: 'stat card' }, h('div', { class: 'stat-label', text: 'Last check' }),
        last ? h('div', { class: 'stat-value' }, badge(last.ok ? 'ok' : 'failed', last.ok ? 'passed' : `${last.errors} errors`)) : h('div', { class: 'stat-value muted', text: 'none' }),
        last ? h('div', { class: 'muted small' }, when(last.time), last.read_data ? ' · data read' : ' · structure only') : null),
      h('div', { class: 'stat card' }, h('div', { class: 'stat-label', text: 'Checks recorded' }),
        h('div', { class: 'stat-value', text: String(checks.length) }),
        h('div', { class: 'muted small', text: `${checks.filter((c) => c.result !== 'ok').length} not ok` }))),
    can('operator') ? checkForm(repo, progress, ctx) : null,
    progress,
    h('h2', { text: 'Check results' }),
    checks.length ? table('Check results', ['Time', 'Result', 'Errors', 'Warnings', 'Data read', 'Packs read', 'Bytes read', 'Duration'],
      checks.map(checkRow), { cls: 'checks' }) : h('p', { class: 'muted', text: 'No check has been recorded yet.' }));
}

function checkRow(c) {
  const k = c.check || {};
  return h('tr', { class: c.result === 'ok' ? '' : 'is-bad' },
    h('td', {}, when(c.time)),
    h('td', {}, badge(c.result)),
    h('td', { class: 'num', text: String(c.errors ?? 0) }),
    h('td', { class: 'num', text: String(k.warnings ?? 0) }),
    h('td', { text: k.read_data ? (k.subset ? `subset ${k.subset}` : 'all') : 'no' }),
    h('td', { class: 'num', text: k.packs_total ? `${k.packs_read ?? 0} of ${k.packs_total}` : String(k.packs_read ?? '–') }),
    h('td', { class: 'num', text: bytes(k.bytes_read ?? c.bytes) }),
    h('td', { class: 'num', text: duration((c.duration_ms || 0) / 1000) }));
}

function checkForm(repo, progress, ctx) {
  const radio = (value, label, checked) => h('label', { class: 'check' }, h('input', { type: 'radio', name: 'mode', value, checked }), ' ' + label);
  const subset = h('input', { id: 'check-subset', name: 'subset', value: '5%', size: 6, attrs: { 'aria-label': 'Share of the data to read' } });
  const btn = h('button', { type: 'submit', class: 'btn primary', text: 'Start check' });
  const form = h('form', { class: 'card check-form', attrs: { 'aria-labelledby': 'check-h' } },
    h('h2', { id: 'check-h', text: 'Run a check' }),
    h('fieldset', {}, h('legend', { text: 'What to verify' }),
      radio('structure', 'Structure only (fast)', false),
      h('span', { class: 'inline' }, radio('subset', 'Read a share of the data:', true), ' ', subset),
      radio('all', 'Read all data (slow)', false)),
    btn);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const mode = form.elements.mode.value;
    const body = mode === 'all' ? { read_data: true } : mode === 'subset' ? { read_data: true, subset: subset.value.trim() } : { read_data: false };
    btn.disabled = true;
    try {
      const op = await api(repoPath(repo, 'checks'), { method: 'POST', body });
      renderOperation(progress, op, cancelOperation);
      const stop = watchOperation(op.id, (o) => {
        if (!o || !ctx.alive()) return;
        renderOperation(progress, o, cancelOperation);
        lastCheck.set(repo, o);
        if (o.state !== 'running') {
          btn.disabled = false;
          notify(`Check ${o.state}.`);
          // Show the new result in the table (the operation box is kept on top by a re-render).
          setTimeout(() => ctx.alive() && ctx.refresh(), 1500);
        }
      });
      ctx.cleanup(stop);
    } catch (err) {
      btn.disabled = false;
      showError(err, 'Start check');
    }
  });
  return form;
}

// ---- audit log -------------------------------------------------------------------------

/** Snapshot ids (64 hex digits) shortened to their first 8, as everywhere else. */
function shortIds(text) {
  return String(text || '').replace(/\b([0-9a-f]{8})[0-9a-f]{56}\b/g, '$1…');
}

export async function renderAudit(ctx) {
  const { page, query } = ctx;
  const days = Number(query.get('days')) || 30;
  const daysSel = h('select', { id: 'audit-days', on: { change: () => { location.hash = link(['audit'], { days: daysSel.value }); } } },
    [1, 7, 30, 90, 365].map((d) => h('option', { value: d, text: d === 1 ? 'last day' : `last ${d} days`, selected: d === days })));
  const filter = h('input', { id: 'audit-filter', type: 'search', placeholder: 'user, action, path…', autocomplete: 'off' });
  const body = h('div', {}, loading());
  fill(page, pageTitle('Audit log'),
    h('div', { class: 'filters' },
      h('div', {}, h('label', { htmlFor: 'audit-days', text: 'Period' }), daysSel),
      h('div', {}, h('label', { htmlFor: 'audit-filter', text: 'Filter' }), filter)),
    body);
  const entries = await optional('/audit', { query: { days, limit: 1000 } });
  if (!ctx.alive()) return;
  if (entries === null) return void fill(body, h('p', { class: 'muted', text: 'This daemon has no audit log API.' }));
  const rows = entries.map((e) => {
    const tr = h('tr', { class: e.result === 'ok' ? '' : 'is-bad', dataset: { action: e.action } },
      h('td', {}, when(e.time)),
      h('td', { text: String(e.actor || '').replace(/^user:/, '') }),
      h('td', { class: 'mono', text: e.action }),
      h('td', { class: 'wrap', text: shortIds(e.target), title: e.target || '' }),
      h('td', { text: e.repository || '' }),
      h('td', { class: 'mono small', text: e.remote || '' }),
      h('td', { class: 'num', text: e.status ?? '' }),
      h('td', {}, badge(e.result || 'ok')),
      h('td', { class: 'small wrap', text: shortIds(e.detail), title: e.detail || '' }));
    tr.dataset.search = [e.actor, e.action, e.target, e.repository, e.remote, e.detail].join(' ').toLowerCase();
    return tr;
  });
  const count = h('p', { class: 'muted', text: `${entries.length} entries` });
  filter.addEventListener('input', () => {
    const q = filter.value.trim().toLowerCase();
    let shown = 0;
    for (const tr of rows) {
      tr.hidden = q && !tr.dataset.search.includes(q);
      if (!tr.hidden) shown++;
    }
    count.textContent = q ? `${shown} of ${entries.length} entries` : `${entries.length} entries`;
  });
  fill(body, count, entries.length
    ? h('div', { dataset: { testid: 'audit-table' } }, table('Audit entries', ['Time', 'Who', 'Action', 'Target', 'Repository', 'From', 'Status', 'Result', 'Detail'], rows, { cls: 'audit' }))
    : h('p', { class: 'muted', text: 'No entries in this period.' }));
}
