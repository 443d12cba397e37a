// Headless Chromium through playwright-core: the system's Chromium (no browser download),
// pages that record every console error and uncaught page error, and failure screenshots.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

import { REPO_ROOT } from './processes.mjs';

export const SCREENSHOT_DIR = join(REPO_ROOT, 'target/browser-screenshots');

export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // Tests run as root in CI containers, where Chromium's sandbox cannot start. The rest
    // keep Chromium from reaching for Google's services on a closed network: refused
    // connections there are slow and noisy.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * A new page with `errors`: every console message of type error and every uncaught
 * exception ('pageerror'), as text, in the order they happened.
 */
export async function newRecordedPage(browser) {
  const page = await browser.newPage();
  const errors = [];
  page.on('console', (message) => {
    if (message.type() === 'error') {
      const where = message.location()?.url;
      errors.push(`console.error: ${message.text()}${where ? ` (${where})` : ''}`);
    }
  });
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  return { page, errors };
}

/** A file name from a test name: anything but letters, digits, '.', '_' and '-' becomes '-'. */
function fileNameOf(testName) {
  return testName.replace(/[^\w.-]+/g, '-').replace(/^-+|-+$/g, '') || 'test';
}

/** Full-page screenshot to target/browser-screenshots/<test name>.png; returns its path. */
export async function saveScreenshot(page, testName) {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${fileNameOf(testName)}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
