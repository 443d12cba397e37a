// Smoke tests: the dashboard loads cleanly and shows the seed; the harness itself works
// (the read API, rendered by Chromium, has the seeded lot).

import assert from 'node:assert/strict';

import { browserTest } from '../lib/harness.mjs';

browserTest('dashboard loads without errors and shows the running LOT-3001', async (fab) => {
  const { page, response } = await fab.open('/');
  assert.equal(response.status(), 200, `GET / answered ${response.status()}`);
  // The live view fetches what runs after load: wait for the lot rather than guess a delay.
  await page.getByText('LOT-3001').first().waitFor({ timeout: 10_000 });
  assert.deepEqual(fab.errors, [], 'console or page errors');
});

browserTest('the read API rendered in Chromium lists the seeded lots', async (fab) => {
  assert.ok(fab.feeder.seededEvents > 0, 'the feeder reported no seeded events');
  const { page, response } = await fab.open('/v1/jobs?kind=lot');
  assert.equal(response.status(), 200);
  const text = await page.locator('body').innerText();
  for (const key of ['LOT-1001', 'LOT-2001', 'LOT-2002', 'LOT-3001']) {
    assert.ok(text.includes(key), `${key} missing from the page`);
  }
  // A JSON document cannot declare an icon, so Chromium asks for /favicon.ico, which the
  // API does not have; any other error still fails the test.
  const errors = fab.errors.filter((e) => !e.includes('/favicon.ico'));
  assert.deepEqual(errors, [], 'console or page errors');
});

browserTest('a lot started by the feeder appears in the read API', async (fab) => {
  const { eventId, sentAtMs } = await fab.feeder.startLot('LOT-4242');
  assert.match(eventId, /^[0-9a-f-]{36}$/);
  assert.ok(sentAtMs > 0);
  const { page } = await fab.open('/v1/jobs?kind=lot&status=running');
  const text = await page.locator('body').innerText();
  assert.ok(text.includes('LOT-4242'), 'the new lot is not running in the read API');
  assert.equal(await fab.feeder.finishLot('LOT-4242'), 'finished LOT-4242');
});
