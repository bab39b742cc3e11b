// Charts of a repository (uPlot, loaded as the global `uPlot`): its size over time, and per
// backup the bytes added and duration, the files changed, and the anomaly score.
//
// Each chart's container has a stable data-testid and, once uPlot has drawn, `data-points`
// (points of its main series) so that a test can tell a drawn chart from an empty box. The
// size chart also has `data-forecast-points` (forecast days drawn, 0 without a forecast) and,
// without one, a note `[data-testid="forecast-note"]` saying why.

import { api, repoPath } from './api.js';
import { bytes, duration, fill, h, localTime, num, pageTitle } from './ui.js';

const HEIGHT = 240;

/** Colors come from the stylesheet, so that charts follow its light and dark themes. */
function color(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

export async function renderCharts(ctx) {
  const { page, repo } = ctx;
  fill(page, pageTitle('Charts', ctx.repoPicker('charts')));
  if (!repo) return void page.append(h('p', { class: 'muted', text: 'No repository is configured.' }));
  const series = await api(repoPath(repo, 'series'));
  if (!ctx.alive()) return;

  // A repository may hold several sources (host + paths); their backups are charted apart.
  const sources = [...new Set(series.backups.map(sourceKey))];
  const grid = h('div', { class: 'charts' });
  const picker = sources.length > 1 ? sourcePicker(sources, (key) => drawBackups(key)) : null;
  page.append(h('div', { class: 'toolbar' }, h('span', { class: 'muted', text: `Repository ${repo}: ${series.backups.length} backups.` }), picker), grid);

  const charts = [];
  ctx.cleanup(() => charts.forEach((c) => c.destroy()));
  const sizeBox = chartBox('chart-size', 'Repository size', series.forecast
    ? `Bytes stored in the repository after each change; dashed, the forecast for the next ${series.forecast.times.length} days.`
    : 'Bytes stored in the repository after each change.');
  const addedBox = chartBox('chart-added', 'Bytes added and duration', 'Per backup: new data stored (bars) and how long it took (line).');
  const filesBox = chartBox('chart-files', 'Files changed', 'Per backup: files new, changed and deleted.');
  const scoreBox = chartBox('chart-anomaly', 'Anomaly score', 'Per backup: how much it looked like ransomware or mass deletion; flagged backups are marked ⚠ in red.');
  grid.append(sizeBox.figure, addedBox.figure, filesBox.figure, scoreBox.figure);

  charts.push(sizeChart(sizeBox, series));
  let backupCharts = [];
  function drawBackups(key) {
    backupCharts.forEach((c) => c.destroy());
    const rows = series.backups.filter((b) => !key || sourceKey(b) === key);
    backupCharts = [addedChart(addedBox.plot, rows), filesChart(filesBox.plot, rows), scoreChart(scoreBox.plot, rows)];
  }
  drawBackups(sources.length > 1 ? sources[0] : null);
  ctx.cleanup(() => backupCharts.forEach((c) => c.destroy()));
}

function sourceKey(b) {
  return `${b.host}: ${(b.paths || []).join(', ')}`;
}

function sourcePicker(sources, onChange) {
  const sel = h('select', { id: 'source-picker', on: { change: () => onChange(sel.value) } },
    sources.map((s) => h('option', { value: s, text: s })));
  return h('div', { class: 'repo-picker' }, h('label', { htmlFor: 'source-picker', text: 'Source ' }), sel);
}

function chartBox(testid, title, desc) {
  const plot = h('div', { class: 'plot', dataset: { testid, points: '0' } });
  const figure = h('figure', { class: 'card chart' },
    h('figcaption', {}, h('h2', { text: title }), h('p', { class: 'muted small', text: desc })), plot);
  return { figure, plot };
}

const secs = (t) => new Date(t).getTime() / 1000;

/**
 * Draws a uPlot chart into `el` and keeps it as wide as its box. `count` is what is put in
 * data-points after each draw; `extra` lets a chart add more data-* facts (flagged points).
 */
function chart(el, { data, series, axes, scales, bands, count, extra, empty, padX = false, markerFill, hooks = {} }) {
  el.replaceChildren();
  if (!data[0].length) {
    el.dataset.points = '0';
    el.append(h('p', { class: 'muted empty', text: empty || 'No data yet.' }));
    return { destroy() {} };
  }
  const fg = color('--fg-muted');
  const grid = color('--grid');
  const axis = (o) => ({ stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, ...o });
  // A single point gives uPlot an empty x range: widen it by a day each way.
  // Bars need half a gap of room at each end, or the first and last are cut in half.
  const xs = data[0];
  let xRange = xs.length === 1 ? [xs[0] - 86400, xs[0] + 86400] : null;
  if (padX && xs.length > 1) {
    const gap = Math.min(...xs.slice(1).map((x, i) => x - xs[i]).filter((g) => g > 0), (xs[xs.length - 1] - xs[0]) / 10);
    xRange = [xs[0] - gap * 0.6, xs[xs.length - 1] + gap * 0.6];
  }
  const opts = {
    width: Math.max(280, el.clientWidth || 600),
    height: HEIGHT,
    series: [{ label: 'Time', value: (u, v) => (v === null ? '–' : localTime(new Date(v * 1000))) }, ...series],
    axes: [axis({}), ...axes.map(axis)],
    scales: { x: { time: true, ...(xRange ? { range: xRange } : {}) }, ...scales },
    bands,
    cursor: { points: { size: 8 } },
    legend: { live: true, ...(markerFill ? { markers: { fill: markerFill } } : {}) },
    hooks: {
      ...hooks,
      draw: [(u) => {
        el.dataset.points = String(count(u));
        if (extra) Object.assign(el.dataset, extra(u));
      }],
    },
  };
  const u = new uPlot(opts, data, el);
  const ro = new ResizeObserver(() => {
    const w = Math.max(280, el.clientWidth);
    if (Math.abs(w - u.width) > 4) u.setSize({ width: w, height: HEIGHT });
  });
  ro.observe(el);
  return { destroy() { ro.disconnect(); u.destroy(); } };
}

/** Non-null values of series `i`. */
const nonNull = (u, i) => u.data[i].filter((v) => v !== null && v !== undefined).length;

// Dots on every point while they can be told apart; uPlot hides them when crowded.
const dots = (n, size = 6) => ({ show: n <= 400, size });

/**
 * Size over time, and its forecast when there is one: series 1 is the measured size (null
 * over the forecast days), 2 the forecast point (dashed), 3 and 4 the upper and lower bounds
 * of its interval, joined by a band. The x values are the union of both, so the x axis runs
 * to the last forecast day. The forecast starts from the last measured point (where its
 * interval is nil) so that the dashed line continues the measured one.
 */
function sizeSeries(points, forecast) {
  const stored = color('--c1');
  // Stepped: the size holds from one change to the next.
  const stepped = uPlot.paths && uPlot.paths.stepped ? uPlot.paths.stepped({ align: 1 }) : undefined;
  const series = [{ label: 'Stored', stroke: stored, fill: color('--c1-fill'), width: 2, paths: stepped,
    points: dots(points.length), value: (u, v) => bytes(v) }];
  const fc = forecastRows(points, forecast);
  if (!fc.length) {
    return { data: [points.map((p) => secs(p.time)), points.map((p) => p.bytes)], series, bands: [], days: 0 };
  }

  // Rows by time: [x, measured, point, upper, lower].
  const rows = new Map();
  const row = (x) => rows.get(x) || rows.set(x, [x, null, null, null, null]).get(x);
  for (const p of points) row(secs(p.time))[1] = p.bytes;
  for (const f of fc) Object.assign(row(f.x), { 2: f.point, 3: f.upper, 4: f.lower });
  const sorted = [...rows.values()].sort((a, b) => a[0] - b[0]);
  const data = [0, 1, 2, 3, 4].map((i) => sorted.map((r) => r[i]));

  const line = color('--forecast');
  const edge = color('--forecast-edge');
  const band = color('--forecast-fill');
  const pct = `${Math.round((forecast.level || 0.95) * 100)}%`;
  series.push(
    { label: 'Forecast', stroke: line, width: 2, dash: [8, 5], points: { show: false }, value: (u, v) => bytes(v) },
    // The interval's legend entry stands for both bounds: "lower – upper".
    { label: `${pct} interval`, stroke: edge, width: 1, points: { show: false },
      value: (u, v, si, i) => (v === null || v === undefined || i === null ? '–' : `${bytes(u.data[4][i])} – ${bytes(v)}`) },
    { label: `${pct} lower`, class: 'legend-hidden', stroke: edge, width: 1, points: { show: false }, value: (u, v) => bytes(v) },
  );
  const days = fc.filter((f) => !f.anchor).length;
  return { data, series, bands: [{ series: [3, 4], fill: band }], days, bandFill: band };
}

/** The forecast's days as rows, after a first one anchored at the last measured point. */
function forecastRows(points, forecast) {
  if (!forecast || !Array.isArray(forecast.times) || !forecast.times.length) return [];
  const days = forecast.times.map((t, i) => ({ x: secs(t), point: forecast.point[i], lower: forecast.lower[i], upper: forecast.upper[i] }))
    .filter((f) => Number.isFinite(f.x) && [f.point, f.lower, f.upper].every(Number.isFinite));
  const last = points[points.length - 1];
  if (!days.length || !last || !(secs(last.time) < days[0].x)) return days;
  return [{ x: secs(last.time), point: last.bytes, lower: last.bytes, upper: last.bytes, anchor: true }, ...days];
}

function sizeChart(box, { size, forecast, forecast_error: error }) {
  const el = box.plot;
  const { data, series, bands, days, bandFill } = sizeSeries(size, forecast);
  box.figure.querySelector('.forecast-note')?.remove();
  el.dataset.forecastPoints = '0';
  if (!days && error) {
    box.figure.append(h('p', { class: 'muted small forecast-note', dataset: { testid: 'forecast-note' }, text: `No forecast: ${error}` }));
  }
  return chart(el, {
    data, series, bands,
    axes: [{ values: (u, vals) => vals.map(bytes), size: 70 }],
    scales: { y: { range: (u, min, max) => [0, max * 1.1 || 1] } },
    count: (u) => nonNull(u, 1),
    extra: (u) => ({ forecastPoints: String(days && u.series[2]?.show ? days : 0) }),
    // The interval's legend marker shows the band's shade.
    markerFill: bandFill ? (u, i) => (i === 3 ? bandFill : seriesFill(u, i)) : undefined,
    // Its entry toggles both bounds.
    hooks: days ? { setSeries: [(u, i, o) => { if (i === 3 && o && 'show' in o) u.setSeries(4, { show: o.show }); }] } : {},
    empty: 'No size recorded yet.',
  });
}

/** A series' own fill, as uPlot's default legend marker shows it. */
function seriesFill(u, i) {
  const f = u.series[i].fill;
  return (typeof f === 'function' ? f(u, i) : f) || null;
}

function addedChart(el, rows) {
  const x = rows.map((b) => secs(b.time));
  const bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.6, 40, 5] }) : undefined;
  return chart(el, {
    data: [x, rows.map((b) => b.bytes_added), rows.map((b) => b.duration_ms / 1000)],
    series: [
      { label: 'Added', stroke: color('--c1'), fill: color('--c1-fill'), paths: bars, points: { show: false }, value: (u, v) => bytes(v), scale: 'y' },
      { label: 'Duration', stroke: color('--c2'), width: 2, dash: [6, 3], points: dots(x.length), value: (u, v) => (v === null ? '–' : duration(v)), scale: 'dur' },
    ],
    axes: [
      { scale: 'y', values: (u, vals) => vals.map(bytes), size: 70 },
      { scale: 'dur', side: 1, values: (u, vals) => vals.map((v) => duration(v)), size: 60, grid: { show: false } },
    ],
    scales: { y: { range: (u, min, max) => [0, max * 1.1 || 1] }, dur: { range: (u, min, max) => [0, max * 1.2 || 1] } },
    count: (u) => nonNull(u, 1),
    empty: 'No backups yet.',
    padX: true,
  });
}

function filesChart(el, rows) {
  const x = rows.map((b) => secs(b.time));
  const line = (label, c, dash) => ({ label, stroke: color(c), width: 2, dash, points: dots(x.length, 5), value: (u, v) => num(v) });
  return chart(el, {
    data: [x, rows.map((b) => b.files_new), rows.map((b) => b.files_changed), rows.map((b) => b.files_deleted)],
    series: [line('New', '--c3'), line('Changed', '--c2', [6, 3]), line('Deleted', '--c4', [2, 3])],
    axes: [{ values: (u, vals) => vals.map((v) => num(v)), size: 55 }],
    scales: { y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
    count: (u) => nonNull(u, 1),
    empty: 'No backups yet.',
  });
}

function scoreChart(el, rows) {
  const x = rows.map((b) => secs(b.time));
  const score = rows.map((b) => (b.score === null || b.score === undefined ? null : b.score));
  // Flagged backups as a second series drawn as large red points only (no line), so that they
  // stand out by size and legend label as well as by color.
  const flagged = rows.map((b) => (b.flagged ? b.score ?? 0 : null));
  const red = color('--bad');
  return chart(el, {
    data: [x, score, flagged],
    series: [
      { label: 'Score', stroke: color('--c1'), width: 2, spanGaps: true, points: dots(x.length, 5), value: (u, v) => (v === null ? '–' : v.toFixed(2)) },
      { label: '⚠ Flagged', stroke: red, fill: red, width: 0, paths: () => null,
        points: { show: true, size: 14, width: 2, stroke: red, fill: red }, value: (u, v) => (v === null ? '–' : v.toFixed(2)) },
    ],
    axes: [{ values: (u, vals) => vals.map((v) => v.toFixed(1)), size: 45 }],
    scales: { y: { range: (u, min, max) => [0, Math.max(1, (max || 0) * 1.15)] } },
    count: (u) => nonNull(u, 1),
    extra: (u) => ({ flagged: String(nonNull(u, 2)) }),
    empty: 'No backups yet.',
  });
}
