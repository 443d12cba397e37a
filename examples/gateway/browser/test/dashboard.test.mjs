// The dashboard as an operator uses it, in headless Chromium, against a gateway fed by the
// real SDK (the fab feeder's seed: LOT-1001 with wafers and steps at litho-cell, LOT-2001
// and LOT-2002 at etch-cell, LOT-3001 still running at cmp-cell in fab2).

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';

import { browserTest } from '../lib/harness.mjs';

const FIGURES = [];
function figure(name, value) {
  FIGURES.push(`${name}: ${value}`);
  console.log(`figure: ${name}: ${value}`);
}

/** The first cells of the jobs table's rows (the job labels shown). */
async function tableJobs(page) {
  return page.locator('#jobs-table tbody tr th').allInnerTexts();
}

/** Wait until `predicate(labels)` holds for the jobs table; fail saying what it showed. */
async function waitForJobs(page, predicate, what) {
  const deadline = Date.now() + 10_000;
  let labels = [];
  while (Date.now() < deadline) {
    if (!(await page.locator('section[aria-busy] #jobs-table').count())) {
      labels = (await tableJobs(page)).map((t) => t.trim());
      if (predicate(labels)) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what}; the table shows ${JSON.stringify(labels)}`);
}

browserTest('live view: loads without errors, shows the running lot, and a new event within a second', async (fab) => {
  const opened = Date.now();
  const { page, response } = await fab.open('/');
  assert.equal(response.status(), 200);
  await page.locator('#running-jobs').getByText('LOT-3001').waitFor({ timeout: 10_000 });
  const shownAfter = Date.now() - opened;
  const timing = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    return { domContentLoaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd };
  });
  figure('page load (navigation start to load event)', `${timing.load.toFixed(0)} ms`);
  figure('first data shown (goto to running lot visible)', `${shownAfter} ms`);
  await page.getByText('Live: connected').waitFor({ timeout: 5_000 });

  const { eventId, sentAtMs } = await fab.feeder.startLot('LOT-5001');
  const row = page.locator(`#newest-events tr[data-event-id="${eventId}"]`);
  await row.waitFor({ timeout: 5_000 });
  // From the event's own timestamp (taken by the SDK at emit) to the row being added: the
  // whole way, SDK -> gateway -> store -> stream -> page. Same machine, same clock.
  const emittedAt = Number(await row.getAttribute('data-emitted-at'));
  const receivedAt = Number(await row.getAttribute('data-received-at'));
  const latency = receivedAt - emittedAt;
  figure('live update (emit in the SDK to row in the page)', `${latency} ms`);
  assert.ok(emittedAt <= sentAtMs, 'the event was emitted before the feeder\'s flush returned');
  assert.ok(latency < 1000, `the new event took ${latency} ms to show up`);
  await page.locator('#running-jobs').getByText('LOT-5001').waitFor({ timeout: 2_000 });
  assert.match(await row.innerText(), /LOT-5001/);

  await fab.feeder.finishLot('LOT-5001');
  await page.locator('#running-jobs').getByText('LOT-5001').waitFor({ state: 'detached', timeout: 5_000 });
  assert.deepEqual(fab.errors, [], 'console or page errors');
});

browserTest('live view reconnects by itself when the gateway restarts', async (fab) => {
  const { page } = await fab.open('/#/live');
  await page.getByText('Live: connected').waitFor({ timeout: 10_000 });
  await fab.stopGateway();
  await page.getByText('Live: reconnecting').waitFor({ timeout: 10_000 });
  await fab.restartGateway();
  await page.getByText('Live: connected').waitFor({ timeout: 15_000 });
  const { eventId } = await fab.feeder.startLot('LOT-6001');
  await page.locator(`#newest-events tr[data-event-id="${eventId}"]`).waitFor({ timeout: 5_000 });
});

browserTest('history: a filter narrows the table, is kept in the URL and survives a reload', async (fab) => {
  const { page } = await fab.open('/#/history?kind=lot');
  await waitForJobs(page, (l) => ['LOT-1001', 'LOT-2001', 'LOT-2002', 'LOT-3001'].every((k) => l.includes(k)),
    'the four seeded lots are not all listed');
  // Keyboard only: type into the app field and press Enter.
  await page.locator('#f-app').fill('etch-cell');
  await page.locator('#f-app').press('Enter');
  await waitForJobs(page, (l) => l.length === 2 && l.includes('LOT-2001') && l.includes('LOT-2002'),
    'app=etch-cell should leave LOT-2001 and LOT-2002');
  assert.match(page.url(), /app=etch-cell/);
  await page.reload();
  await waitForJobs(page, (l) => l.length === 2 && l.includes('LOT-2001') && l.includes('LOT-2002'),
    'after a reload the filter should still hold');
  assert.equal(await page.locator('#f-app').inputValue(), 'etch-cell');

  await page.locator('#f-status').selectOption('failed');
  await page.getByRole('button', { name: 'Apply' }).press('Enter');
  await waitForJobs(page, (l) => l.length === 1 && l[0] === 'LOT-2002', 'status=failed should leave LOT-2002');

  await fab.open('/#/history?q=lot-100');
  const search = fab.pages.at(-1).page;
  await waitForJobs(search, (l) => l.length === 1 && l[0] === 'LOT-1001', 'the business key search should find LOT-1001 alone');
  // The charts are drawn from the stats API, with their numbers as tables.
  assert.ok(await search.locator('figure.chart canvas').count() >= 4, 'the four charts are drawn');
  assert.deepEqual(fab.errors, [], 'console or page errors');
});

browserTest('job detail shows the subtree, a timeline and the events', async (fab) => {
  const { page } = await fab.open('/#/history?kind=lot&app=litho-cell');
  await waitForJobs(page, (l) => l.includes('LOT-1001'), 'LOT-1001 is not listed');
  const link = page.locator('#jobs-table').getByRole('link', { name: 'LOT-1001' });
  await link.focus();
  await page.keyboard.press('Enter');
  const tree = page.locator('#subtree');
  await tree.waitFor({ timeout: 10_000 });
  // lot -> wafer -> step: the steps are nested two levels below the lot.
  for (const wafer of ['W01', 'W02', 'W03']) {
    await tree.getByRole('link', { name: wafer }).waitFor();
  }
  const nestedSteps = await page.locator('#subtree li li li a').allInnerTexts();
  for (const step of ['litho', 'etch', 'clean']) {
    assert.ok(nestedSteps.includes(step), `step ${step} missing under a wafer: ${nestedSteps}`);
  }
  assert.ok(await page.locator('.timeline li').count() >= 1 + 3 + 8, 'every entity on the timeline');
  assert.ok(await page.locator('#events-table tbody tr').count() >= 2, 'the lot has its started and finished events');
  assert.match(await page.locator('#subtree').innerText(), /failed/);
  assert.deepEqual(fab.errors, [], 'console or page errors');
});

browserTest('CSV export downloads the rows shown', async (fab) => {
  const { page } = await fab.open('/#/history?kind=wafer');
  await waitForJobs(page, (l) => l.length === 3, 'the three wafers are not listed');
  const shown = await tableJobs(page);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.locator('#export-csv').click(),
  ]);
  assert.match(download.suggestedFilename(), /^wafermon-jobs-.*\.csv$/);
  const text = await readFile(await download.path(), 'utf8');
  const lines = text.trim().split(/\r\n/);
  assert.equal(lines[0].split(',')[0], 'Job');
  const rows = lines.slice(1).map((l) => l.split(',')[0]);
  assert.deepEqual(rows, shown);
  assert.ok(lines.some((l) => l.includes('failed')), 'W02 failed, and its status is exported');
  assert.deepEqual(fab.errors, [], 'console or page errors');
});

browserTest('sources view lists the filesystem source beside the managed store', async (fab) => {
  const { page } = await fab.open('/#/sources');
  const managed = page.locator('#sources-table tr[data-source="managed"]');
  const files = page.locator('#sources-table tr[data-source="fab-files"]');
  await managed.waitFor({ timeout: 10_000 });
  await files.waitFor();
  assert.match(await files.innerText(), /filesystem/);
  assert.match(await files.innerText(), /ok/);
  const count = async (row) => Number((await row.locator('td').nth(2).innerText()).replace(/\D/g, ''));
  assert.ok(await count(managed) > 0, 'the managed store has events in the window');
  assert.ok(await count(files) > 0, 'the files have events in the window');
  assert.ok(await page.locator('figure.chart canvas').count() === 1, 'counts over time are drawn');
  assert.deepEqual(fab.errors, [], 'console or page errors');
});

browserTest('the read token is asked once per browser session, and a wrong one is refused in plain words', async (fab) => {
  const { page } = await fab.open('/#/history?kind=lot');
  const dialog = page.getByRole('dialog', { name: 'Read token' });
  await dialog.waitFor({ timeout: 10_000 });
  await page.locator('#token-input').fill('not-the-token');
  await page.locator('#token-input').press('Enter');
  await page.getByText('That token was not accepted').waitFor({ timeout: 5_000 });
  await page.locator('#token-input').fill('reader-secret');
  await page.locator('#token-input').press('Enter');
  await waitForJobs(page, (l) => l.includes('LOT-1001'), 'the lots after the token');
  await page.reload();
  await waitForJobs(page, (l) => l.includes('LOT-1001'), 'the lots after a reload');
  assert.equal(await dialog.isVisible(), false, 'the token is asked only once per session');
  // The refused token's 401 is logged by Chromium; nothing else may be.
  const errors = fab.errors.filter((e) => !e.includes('401'));
  assert.deepEqual(errors, [], 'console or page errors');
}, { readToken: 'reader-secret' });

browserTest('an unreachable gateway is explained in the page, not left blank', async (fab) => {
  const { page } = await fab.open('/#/live');
  await page.getByText('Live: connected').waitFor({ timeout: 10_000 });
  await fab.stopGateway();
  await page.evaluate(() => { location.hash = '#/history?kind=lot'; });
  await page.getByRole('alert').filter({ hasText: 'cannot be reached' }).first().waitFor({ timeout: 10_000 });
});

browserTest('a custom window is kept in the URL and bounds the table', async (fab) => {
  const { page } = await fab.open('/#/history?kind=lot');
  await waitForJobs(page, (l) => l.length === 4, 'the four seeded lots');
  // datetime-local takes local time: let the page's own clock write the values.
  const [from, to, before] = await page.evaluate(() => {
    const local = (ms) => {
      const d = new Date(ms);
      const pad = (n) => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
    };
    const now = Date.now();
    return [local(now - 2 * 3_600_000), local(now + 3_600_000), local(now - 3_600_000)];
  });
  await page.locator('#f-window').selectOption('custom');
  await page.locator('#f-start').fill(from);
  await page.locator('#f-end').fill(to);
  await page.getByRole('button', { name: 'Apply' }).press('Enter');
  await waitForJobs(page, (l) => l.length === 4, 'the lots inside the custom window');
  assert.match(page.url(), /window=custom&start=[^&]+&end=/);
  await page.reload();
  assert.equal(await page.locator('#f-start').inputValue(), from);
  await waitForJobs(page, (l) => l.length === 4, 'the custom window after a reload');

  // A window that ended an hour ago holds none of them, and says so.
  await page.locator('#f-end').fill(before);
  await page.getByRole('button', { name: 'Apply' }).press('Enter');
  await page.getByText('No jobs match these filters in this window.').waitFor({ timeout: 10_000 });
  assert.deepEqual(fab.errors, [], 'console or page errors');
});

browserTest('the views are reachable from the keyboard alone', async (fab) => {
  const { page } = await fab.open('/');
  await page.getByText('Live: connected').waitFor({ timeout: 10_000 });
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');
  // Skip link, then Live, History, Sources.
  for (let i = 0; i < 3; i += 1) await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Sources');
  await page.keyboard.press('Enter');
  await page.locator('#sources-table').waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('nav a[aria-current="page"]').innerText(), 'Sources');
  assert.equal(await page.locator('h1').innerText(), 'Sources');
  assert.deepEqual(fab.errors, [], 'console or page errors');
});
