// The overview: is every backup healthy? Jobs, repositories, standing anomalies and recent
// operations, refreshed while the page is open.

import { api, can, optional, repoPath } from './api.js';
import {
  badge, bytes, duration, fill, h, meter, notify, pageTitle, pct, renderOperation,
  showError, watchOperation, when, cancelOperation, link, icon, table, setAnomalyCount,
} from './ui.js';

const FAILED = new Set(['failed', 'timed_out', 'interrupted']);

/** What a job's card says first: failed, overdue, anomaly, running, ok or never run. */
export function jobStatus(job) {
  const outcome = job.last_run && job.last_run.outcome;
  if (job.state === 'running') return 'running';
  if (FAILED.has(outcome)) return 'failed';
  if (job.overdue) return 'overdue';
  if (outcome === 'anomaly') return 'anomaly';
  if (job.state === 'retrying') return 'retrying';
  if (outcome === 'partial' || outcome === 'skipped') return outcome;
  return outcome ? 'ok' : 'never';
}

export async function renderOverview(ctx) {
  const { page } = ctx;
  const body = h('div', { class: 'overview' });
  fill(page, pageTitle('Overview', h('span', { class: 'muted small', id: 'refreshed' })), body);
  // Job runs this page started and follows, by job name: {stop, op} (the last state seen).
  const following = new Map();
  ctx.cleanup(() => following.forEach((f) => f.stop()));

  let timer = null;
  const load = async () => {
    const [ov, ops] = await Promise.all([loadOverview(ctx.repos), optional('/operations').catch(() => null)]);
    if (!ctx.alive()) return false;
    const { jobs } = ov;
    setAnomalyCount(ov.anomalies);
    // append_only is only in the repository list.
    const info = new Map(ctx.repos.map((r) => [r.name, r]));
    const restore = keepUiState(body);
    fill(body,
      statusBanner(jobs, ov.anomalies),
      h('section', { attrs: { 'aria-labelledby': 'jobs-h' } },
        h('h2', { id: 'jobs-h', text: 'Jobs' }),
        jobs.length ? h('div', { class: 'grid jobs' }, jobs.map((j) => jobCard(j, following, () => schedule(1000))))
          : h('p', { class: 'muted', text: 'No jobs are configured.' })),
      h('section', { attrs: { 'aria-labelledby': 'repos-h' } },
        h('h2', { id: 'repos-h', text: 'Repositories' }),
        h('div', { class: 'grid repos' }, ov.repositories.map((r) => repoCard(r, info.get(r.name) || {})))),
      ops && ops.length ? operationsSection(ops.slice(0, 8)) : null);
    restore();
    document.getElementById('refreshed').textContent = 'updated ' + new Date().toLocaleTimeString();
    return jobs.some((j) => j.state !== 'idle') || (ops || []).some((o) => o.state === 'running');
  };
  // Refresh often while something runs, rarely otherwise.
  const schedule = (ms) => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      if (!ctx.alive()) return;
      try {
        schedule((await load()) ? 2000 : 15000);
      } catch (e) {
        if (ctx.alive()) schedule(15000);
      }
    }, ms);
  };
  ctx.cleanup(() => clearTimeout(timer));
  schedule((await load()) ? 2000 : 15000);
}

/**
 * Notes what a redraw of `root` would lose (the focused control, open "Recent runs") and
 * returns a function that puts it back in the new content: refreshes must not pull focus
 * from under a keyboard user.
 */
function keepUiState(root) {
  const a = document.activeElement;
  const card = (el) => el && el.closest('[data-testid]');
  const focus = root.contains(a) && a !== root
    ? { card: card(a) && card(a).dataset.testid, label: a.getAttribute('aria-label'), text: a.textContent, tag: a.tagName }
    : null;
  const open = [...root.querySelectorAll('details[open]')].map((d) => card(d) && card(d).dataset.testid);
  return () => {
    for (const id of open) {
      const d = id && root.querySelector(`[data-testid="${CSS.escape(id)}"] details`);
      if (d) d.open = true;
    }
    if (!focus) return;
    const scope = focus.card ? root.querySelector(`[data-testid="${CSS.escape(focus.card)}"]`) : root;
    const same = scope && [...scope.querySelectorAll(focus.tag)].find((el) =>
      (focus.label ? el.getAttribute('aria-label') === focus.label : el.textContent === focus.text));
    if (same) same.focus({ preventScroll: true });
  };
}

/**
 * Jobs, repositories and counts in one answer (GET /overview); from /jobs and each
 * repository's anomalies where the daemon predates it.
 */
export async function loadOverview(repos) {
  const ov = await optional('/overview');
  if (ov) return ov;
  const [jobs, findings] = await Promise.all([
    api('/jobs'),
    Promise.all(repos.map((r) => api(repoPath(r.name, 'anomalies')).catch(() => []))),
  ]);
  return {
    jobs,
    repositories: repos.map((r, i) => ({ ...r, snapshots: r.stats ? r.stats.snapshots : null, anomalies: findings[i].length })),
    anomalies: findings.flat().length,
  };
}

function statusBanner(jobs, anomalies) {
  const failed = jobs.filter((j) => jobStatus(j) === 'failed');
  const overdue = jobs.filter((j) => j.overdue);
  const problems = [];
  if (failed.length) problems.push(h('li', {}, badge('failed'), ` ${failed.length} job${failed.length > 1 ? 's' : ''} failed: ${failed.map((j) => j.name).join(', ')}`));
  if (overdue.length) problems.push(h('li', {}, badge('overdue'), ` ${overdue.length} overdue: ${overdue.map((j) => j.name).join(', ')}`));
  if (anomalies) {
    problems.push(h('li', { dataset: { testid: 'anomaly-count', count: anomalies } }, badge('anomaly'), ' ',
      h('a', { href: '#/anomalies', text: `${anomalies} standing anomal${anomalies > 1 ? 'ies' : 'y'}` }), ' to review'));
  }
  if (!problems.length) {
    return h('div', { class: 'banner ok', dataset: { testid: 'status-banner' } },
      h('strong', {}, icon('check'), 'All backups healthy'),
      h('span', { class: 'muted', text: ` · ${jobs.length} jobs · no standing anomalies` }));
  }
  return h('div', { class: 'banner bad', dataset: { testid: 'status-banner' } },
    h('strong', { text: 'Needs attention' }), h('ul', {}, problems));
}

function jobCard(job, following, soon) {
  const status = jobStatus(job);
  const run = job.last_run;
  const bad = ['failed', 'overdue', 'anomaly'].includes(status);
  const opBox = h('div', { class: 'op-box', hidden: true });
  const card = h('article', {
    class: 'card job' + (bad ? ' is-bad' : status === 'partial' || status === 'retrying' ? ' is-warn' : ''),
    dataset: { testid: 'job-' + job.name, status },
  },
  h('header', { class: 'card-head' },
    h('h3', { text: job.name }),
    h('span', { class: 'tag', text: job.kind }),
    statusBadge(status, job)),
  problemLine(job, status),
  h('dl', { class: 'facts' },
    fact('Repository', h('a', { href: link(['snapshots', job.repository]), text: job.repository })),
    fact('Schedule', h('span', {}, h('code', { text: job.schedule }), ' ' + job.time_zone)),
    fact('Last run', run ? h('span', {}, when(run.started), ' ', badge(run.outcome),
      h('span', { class: 'muted', text: ` ${duration((new Date(run.ended) - new Date(run.started)) / 1000)}, ${run.trigger}` })) : 'never'),
    job.state === 'running' && job.running ? fact('Running', h('span', {}, 'since ', when(job.running.started))) : null,
    job.retry_at ? fact('Retry', when(job.retry_at)) : null,
    fact('Next run', when(job.next_run)),
    fact('Last success', when(job.last_success)),
    job.missed_total ? fact('Missed', String(job.missed_total)) : null),
  ageLine(job),
  opBox,
  h('div', { class: 'card-actions' },
    can('operator')
      ? // aria-disabled rather than disabled: a disabled button drops keyboard focus.
      h('button', { type: 'button', class: 'btn', attrs: { 'aria-disabled': job.state === 'running' ? 'true' : null }, text: job.state === 'running' ? 'Running…' : 'Run now',
        attrs: { 'aria-label': 'Run job ' + job.name + ' now' }, on: { click: (e) => runNow(job, e.currentTarget, opBox, following, soon) } })
      : null,
    historyDetails(job)));
  // A run this page started keeps its live progress across refreshes.
  const f = following.get(job.name);
  if (f && f.op) renderOperation(opBox, f.op, cancelOperation);
  return card;
}

function statusBadge(status, job) {
  if (status === 'never') return badge('idle', 'never run');
  if (status === 'ok') return badge('ok');
  if (status === 'running') return badge('running');
  return badge(status === 'overdue' ? 'overdue' : status, status === 'failed' ? job.last_run.outcome.replace('_', ' ') : undefined);
}

function problemLine(job, status) {
  const run = job.last_run;
  if (status === 'failed') return h('p', { class: 'problem', text: run.message || `exit code ${run.exit_code}` });
  if (status === 'overdue') return h('p', { class: 'problem', text: `No good backup within its maximum age${job.last_success ? '' : ' (never succeeded)'}.` });
  if (status === 'anomaly') return h('p', { class: 'problem' }, 'The last backup looks like ransomware or mass deletion. ', h('a', { href: '#/anomalies', text: 'Review' }));
  if (run && run.message && status !== 'ok') return h('p', { class: 'muted', text: run.message });
  return null;
}

/** "age 3 h of 26 h" with a bar that turns amber past 75 % and red past the limit. */
function ageLine(job) {
  if (!job.max_age_seconds) return null;
  const max = job.max_age_seconds;
  if (!job.last_success) {
    return h('div', { class: 'age' }, h('span', { class: 'age-text', text: `no good backup yet (max age ${duration(max)})` }), meter(1, { cls: 'bad', label: 'no good backup' }));
  }
  const age = (Date.now() - new Date(job.last_success)) / 1000;
  const share = age / max;
  const cls = share >= 1 ? 'bad' : share >= 0.75 ? 'warn' : 'ok';
  const text = `age ${age < 60 ? 'under a minute' : duration(age)} of ${duration(max)}`;
  return h('div', { class: 'age', dataset: { testid: 'age' } },
    h('span', { class: 'age-text' }, share >= 1 ? icon('clock') : null, text),
    meter(share, { cls, label: text }));
}

function fact(name, value) {
  return h('div', {}, h('dt', { text: name }), h('dd', {}, value));
}

async function runNow(job, btn, opBox, following, soon) {
  if (btn.getAttribute('aria-disabled') === 'true') return;
  btn.setAttribute('aria-disabled', 'true');
  try {
    const r = await api('/jobs/' + encodeURIComponent(job.name) + '/run', { method: 'POST' });
    notify(`Job ${job.name} started.`);
    const id = r && r.operation && (r.operation.id || r.operation);
    if (id) {
      if (following.has(job.name)) following.get(job.name).stop();
      // Follow it here; the box is found again by job name after each refresh. The finished
      // run stays shown (with its summary) until the page is left.
      const f = { op: null, stop: () => {} };
      following.set(job.name, f);
      f.stop = watchOperation(id, (op) => {
        if (!op) return;
        f.op = op;
        const box = document.querySelector(`[data-testid="job-${CSS.escape(job.name)}"] .op-box`);
        if (box) renderOperation(box, op, cancelOperation);
        if (op.state !== 'running') soon();
      });
    }
    soon();
  } catch (e) {
    btn.removeAttribute('aria-disabled');
    showError(e, 'Run ' + job.name);
  }
}

/** The job's recent runs, loaded when opened. */
function historyDetails(job) {
  const list = h('div', {}, h('p', { class: 'muted', text: 'Loading…' }));
  const det = h('details', { class: 'history' }, h('summary', { text: 'Recent runs' }), list);
  det.addEventListener('toggle', async () => {
    if (!det.open || det.dataset.loaded) return;
    det.dataset.loaded = '1';
    try {
      const runs = await api('/jobs/' + encodeURIComponent(job.name) + '/history');
      fill(list, runs.length ? h('ul', { class: 'runs' }, runs.slice(0, 10).map((r) => h('li', {},
        when(r.started), ' ', badge(r.outcome), r.message ? h('span', { class: 'muted', text: ' ' + r.message }) : null)))
        : h('p', { class: 'muted', text: 'No runs yet.' }));
    } catch (e) {
      fill(list, h('p', { class: 'error', text: e.message }));
    }
  });
  return det;
}

function repoCard(repo, info) {
  const s = repo.stats;
  const check = s && s.last_check;
  const standing = repo.anomalies;
  return h('article', { class: 'card repo' + (standing || repo.error ? ' is-bad' : ''), dataset: { testid: 'repo-' + repo.name } },
    h('header', { class: 'card-head' }, h('h3', { text: repo.name }),
      info.append_only ? h('span', { class: 'tag', text: 'append-only' }) : null,
      standing ? h('a', { href: '#/anomalies', class: 'badge bad' }, icon('alert'), `${standing} anomal${standing > 1 ? 'ies' : 'y'}`) : null),
    h('p', { class: 'muted small mono wrap', text: repo.location }),
    repo.error ? h('p', { class: 'problem' }, icon('x'), ' Cannot be read: ' + repo.error) : null,
    s ? h('dl', { class: 'facts' },
      fact('Size', bytes(s.total_bytes)),
      fact('Snapshots', String(repo.snapshots ?? s.snapshots)),
      repo.latest ? fact('Newest', when(repo.latest)) : null,
      fact('Packs', `${s.packs}${s.parity_bytes ? ` (+${bytes(s.parity_bytes)} parity)` : ''}`),
      fact('Last check', check ? h('span', {}, when(check.time), ' ', badge(check.ok ? 'ok' : 'failed'),
        check.errors ? ` ${check.errors} errors` : '', check.read_data ? ' · data read' : ' · structure') : h('span', { class: 'muted', text: 'none recorded' })))
      : h('p', { class: 'muted', text: 'Not measured yet.' }),
    s ? h('div', { class: 'age' }, h('span', { class: 'age-text', text: `scrub coverage ${pct(s.scrub_coverage)} (data verified in the last 30 days)` }),
      meter(s.scrub_coverage, { cls: 'info', label: 'scrub coverage ' + pct(s.scrub_coverage) })) : null,
    h('div', { class: 'card-actions' },
      h('a', { class: 'btn', href: link(['charts', repo.name]), text: 'Charts' }),
      h('a', { class: 'btn', href: link(['snapshots', repo.name]), text: 'Snapshots' }),
      h('a', { class: 'btn', href: link(['integrity', repo.name]), text: 'Integrity' })));
}

/** Restores, checks and job runs of the last while: what, state, when, who, and the outcome. */
function operationsSection(ops) {
  const what = (op) => ({ restore: 'Restore', check: 'Check', job: 'Job ' + (op.job || '') }[op.kind] || op.kind);
  const rows = ops.map((op) => {
    const out = h('div', { class: 'op-box bare' });
    renderOperation(out, op, cancelOperation, { compact: true });
    return h('tr', { class: op.state === 'failed' ? 'is-bad' : '' },
      h('td', {}, h('strong', { text: what(op) }), h('div', { class: 'muted small', text: op.repository })),
      h('td', {}, badge(op.state)),
      h('td', {}, when(op.started)),
      h('td', { text: String(op.by).replace(/^user:/, '') }),
      h('td', { class: 'wrap' }, out));
  });
  return h('section', { attrs: { 'aria-labelledby': 'ops-h' } },
    h('h2', { id: 'ops-h', text: 'Recent operations' }),
    table('Recent operations', ['Operation', 'State', 'Started', 'By', 'Progress or result'], rows, { cls: 'ops' }));
}
