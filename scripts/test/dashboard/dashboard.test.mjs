// Browser test of the ibars dashboard: Debian's Chromium driven by playwright-core, against a
// running daemon. See README.md for the environment it reads and how to run it.
//
// Each step logs "ok" or "FAIL" with the reason and leaves a screenshot; the script ends with
// "N passed, N failed" and exits non-zero if any step failed.
import { chromium } from 'playwright-core';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`missing environment variable ${name} (see scripts/test/dashboard/README.md)`);
    process.exit(2);
  }
  return v;
}

const URL_ = need('IBARS_URL').replace(/\/$/, '');
const USER = need('IBARS_USER');
const PASSWORD = need('IBARS_USER_PASSWORD');
const REPO = need('IBARS_REPO');
const FAILED_JOB = need('IBARS_FAILED_JOB');
const DOWNLOAD_PATH = need('IBARS_DOWNLOAD_PATH');
const DOWNLOAD_SHA256 = need('IBARS_DOWNLOAD_SHA256').toLowerCase();
const RESTORE_TARGET = need('IBARS_RESTORE_TARGET');
const SHOTS = need('IBARS_SHOTS');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// Slow machines: generous waits, but always for a condition, never a fixed sleep.
const TIMEOUT = Number(process.env.IBARS_TEST_TIMEOUT_MS || 60_000);
const OP_TIMEOUT = Number(process.env.IBARS_TEST_OP_TIMEOUT_MS || 600_000);

fs.mkdirSync(SHOTS, { recursive: true });

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
context.setDefaultTimeout(TIMEOUT);
const page = await context.newPage();

// Script errors and CSP violations fail the run: the page must work under its policy.
const pageProblems = [];
page.on('pageerror', (e) => pageProblems.push('page error: ' + e.message));
page.on('console', (m) => {
  if (/Content Security Policy|Refused to/i.test(m.text())) pageProblems.push('CSP: ' + m.text());
});

let passed = 0;
let failed = 0;
async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.message.split('\n').slice(0, 6).join('\n     ')}`);
    await page.screenshot({ path: path.join(SHOTS, `fail-${name.replace(/\W+/g, '-')}.png`), fullPage: true }).catch(() => {});
  }
}

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

const shot = (name) => page.screenshot({ path: path.join(SHOTS, name), fullPage: true });

/** Goes to a page by its navigation link (as a person would) and waits for its heading. */
async function openNav(label, heading) {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label }).click();
  await page.getByRole('heading', { level: 1, name: heading }).waitFor();
  await page.waitForSelector('#page .loading', { state: 'detached' });
}

const enc = encodeURIComponent;

// ---------------------------------------------------------------------------------------

await step('1 log in through the form', async () => {
  await page.goto(URL_ + '/');
  await page.getByLabel('User name').fill(USER);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#who').filter({ hasText: USER }).waitFor();
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
});

await step('2 overview shows the failed job as failed', async () => {
  const card = page.locator(`[data-testid="job-${FAILED_JOB}"]`);
  await card.waitFor();
  const status = await card.getAttribute('data-status');
  check(status === 'failed', `job ${FAILED_JOB} shows status ${status}, expected failed`);
  // Not by color alone: the word is there too.
  await card.locator('.badge', { hasText: /failed|timed out|interrupted/ }).first().waitFor();
  await page.locator('[data-testid="status-banner"]', { hasText: FAILED_JOB }).waitFor();
  await shot('overview.png');
});

await step('2b overview fits a phone screen', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.locator(`[data-testid="job-${FAILED_JOB}"]`).waitFor();
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  check(width <= 390, `the page is ${width}px wide at a 390px screen (horizontal scrolling)`);
  await shot('overview-phone.png');
  await page.setViewportSize({ width: 1280, height: 900 });
});

await step('3 charts draw their points (and a flagged one)', async () => {
  await openNav('Charts', 'Charts');
  for (const id of ['chart-size', 'chart-added', 'chart-files', 'chart-anomaly']) {
    await page.waitForFunction((sel) => Number(document.querySelector(sel)?.dataset.points) > 0,
      `[data-testid="${id}"]`, { timeout: TIMEOUT }).catch(async () => {
      const n = await page.locator(`[data-testid="${id}"]`).getAttribute('data-points').catch(() => 'none');
      throw new Error(`${id}: data-points is ${n}, expected > 0`);
    });
    check(await page.locator(`[data-testid="${id}"] canvas`).count() > 0, `${id} has no canvas`);
  }
  const flagged = Number(await page.locator('[data-testid="chart-anomaly"]').getAttribute('data-flagged'));
  check(flagged > 0, `the anomaly chart marks ${flagged} flagged points, expected at least 1`);
  await shot('charts.png');
});

// A history long enough gives a forecast band; a short one (the scratch's week) a note saying why.
await step('3b size chart shows a forecast band, or why there is none', async () => {
  const size = page.locator('[data-testid="chart-size"]');
  const note = page.locator('[data-testid="forecast-note"]');
  const days = Number(await size.getAttribute('data-forecast-points'));
  const band = days > 0 && await size.locator('.u-legend', { hasText: /\d+% interval/ }).count() > 0;
  const noted = await note.count() > 0 && /^No forecast: \S/.test(await note.innerText());
  if (process.env.IBARS_EXPECT_FORECAST === '1') {
    check(days > 0, `data-forecast-points is ${days}, expected > 0 (IBARS_EXPECT_FORECAST=1)` +
      (noted ? `; the page says "${await note.innerText()}"` : ''));
    check(band, 'the size chart has no "% interval" legend entry for its band');
  } else {
    check(band || noted, `the size chart shows neither a forecast band (data-forecast-points ${days}) nor a "No forecast" note`);
  }
  check(!(band && noted), 'the size chart shows both a forecast band and a "No forecast" note');
});

await step('4 browse the latest snapshot and download a file', async () => {
  await openNav('Snapshots', 'Snapshots');
  await shot('snapshots.png');
  // Newest first: the first row is the latest snapshot.
  await page.locator('table.snapshots tbody tr').first().getByRole('link', { name: /Browse snapshot/ }).click();
  await page.locator('[data-testid="breadcrumbs"]').waitFor();
  const parts = DOWNLOAD_PATH.split('/').filter(Boolean);
  const file = parts.pop();
  for (const dir of parts) {
    await findEntry(dir).then((e) => e.click());
    await page.locator('[data-testid="breadcrumbs"] [aria-current]', { hasText: dir }).waitFor();
  }
  const entry = await findEntry(file);
  await entry.click();
  await page.locator('[data-testid="file-details"] h2', { hasText: file }).waitFor();
  const row = page.locator('table.tree tbody tr', { has: page.locator(`[data-entry="${file}"]`) });
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: TIMEOUT }),
    row.getByRole('link', { name: 'Download ' + file }).click(),
  ]);
  const failure = await download.failure();
  check(!failure, `the download failed: ${failure}`);
  const got = crypto.createHash('sha256').update(fs.readFileSync(await download.path())).digest('hex');
  check(got === DOWNLOAD_SHA256, `downloaded ${file} has sha256 ${got}, expected ${DOWNLOAD_SHA256}`);
  check(download.suggestedFilename() === file, `suggested file name ${download.suggestedFilename()}`);
});

/** An entry of the listed directory, paging forward when the directory has many pages. */
async function findEntry(name) {
  for (;;) {
    await page.locator('table.tree, .listing p.muted').first().waitFor();
    const e = page.locator(`table.tree [data-entry="${name.replace(/["\\]/g, '\\$&')}"]`);
    if (await e.count()) return e.first();
    const next = page.locator('.pager a[rel="next"]');
    if (!(await next.count())) throw new Error(`no entry ${name} in ${await page.locator('[data-testid="breadcrumbs"]').innerText()}`);
    const shown = await page.locator('.pager span.muted').first().innerText();
    await next.first().click();
    await page.waitForFunction((before) => document.querySelector('.pager span.muted')?.innerText !== before, shown);
  }
}

await step('5 restore from the dialog and follow it to the end', async () => {
  const dir = path.posix.dirname(DOWNLOAD_PATH);
  // Open the download's directory of the latest snapshot (step 4 left the page there, unless it failed).
  if (!(await page.locator('[data-testid="breadcrumbs"] [aria-current]', { hasText: path.posix.basename(dir) }).count())) {
    await page.goto(`${URL_}/#/snapshots/${enc(REPO)}/latest/${dir.split('/').filter(Boolean).map(enc).join('/')}`);
  }
  await page.getByRole('button', { name: 'Restore this directory…' }).click();
  const dialog = page.locator('#restore-dialog');
  await dialog.waitFor();
  try {
    await restoreInDialog(dir, dialog);
  } finally {
    // A modal left open would block every later step.
    if (await dialog.isVisible()) await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'hidden' });
  }
});

async function restoreInDialog(dir, dialog) {
  check(await page.getByLabel(/^Only these paths/).inputValue() === dir, 'the include field is not the current directory');
  await page.getByLabel(/^Target directory/).fill(RESTORE_TARGET);
  await dialog.getByRole('button', { name: 'Start restore' }).click();
  const progress = page.locator('#restore-progress');
  await page.waitForFunction(() => {
    const s = document.querySelector('#restore-progress')?.dataset.state;
    return s && s !== 'running';
  }, null, { timeout: OP_TIMEOUT });
  const state = await progress.getAttribute('data-state');
  await shot('restore.png');
  check(state === 'succeeded', `the restore ended ${state}: ${await progress.innerText()}`);
  await progress.getByText('succeeded').waitFor();
  // When the daemon runs on this machine, the restored file is there and whole.
  if (fs.existsSync(RESTORE_TARGET)) {
    const restored = [path.join(RESTORE_TARGET, DOWNLOAD_PATH), path.join(RESTORE_TARGET, path.basename(DOWNLOAD_PATH))].find((p) => fs.existsSync(p));
    check(restored, `no restored ${DOWNLOAD_PATH} under ${RESTORE_TARGET}`);
    const sum = crypto.createHash('sha256').update(fs.readFileSync(restored)).digest('hex');
    check(sum === DOWNLOAD_SHA256, `restored ${restored} has sha256 ${sum}`);
  }
}

await step('6 dismiss the anomaly, then find it in the audit log', async () => {
  await openNav(/^Anomalies/, 'Anomalies');
  const findings = page.locator('[data-testid="finding"]');
  await findings.first().waitFor();
  check(await findings.count() === 1, `${await findings.count()} standing findings, expected 1`);
  await shot('anomalies.png');
  await findings.first().getByRole('button', { name: 'Dismiss…' }).click();
  const dialog = page.locator('#prompt-dialog');
  await dialog.getByLabel(/^Reason/).fill('browser test: known bulk re-encryption');
  await dialog.getByRole('button', { name: 'Dismiss finding' }).click();
  await page.getByText('No standing anomalies.').waitFor();
  check(await findings.count() === 0, 'the finding is still listed after dismissing');

  await openNav('Audit log', 'Audit log');
  await page.locator('[data-testid="audit-table"] tr[data-action="anomaly.dismiss"]').first().waitFor();
  await shot('audit.png');
});

await step('7 integrity page, with a check run when allowed', async () => {
  await openNav('Integrity', 'Integrity');
  await page.locator('.stat-label', { hasText: 'Scrub coverage' }).waitFor();
  const start = page.getByRole('button', { name: 'Start check' });
  if (await start.count()) {
    await start.click();
    const box = page.locator('[data-testid="check-progress"]');
    await page.waitForFunction(() => {
      const s = document.querySelector('[data-testid="check-progress"]')?.dataset.state;
      return s && s !== 'running';
    }, null, { timeout: OP_TIMEOUT });
    const state = await box.getAttribute('data-state');
    check(state === 'succeeded', `the check ended ${state}: ${await box.innerText()}`);
    await page.locator('table.checks tbody tr').first().waitFor();
  }
  await shot('integrity.png');
});

await step('8 no script errors or CSP violations', async () => {
  check(pageProblems.length === 0, pageProblems.join('\n'));
});

await browser.close();
console.log(`screenshots in ${SHOTS}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
