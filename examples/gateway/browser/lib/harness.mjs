// What a browser test of the gateway's dashboard stands on: a fresh gateway (SQLite in a temp
// dir, the feeder's JSONL folder as the external source `fab-files`), the fab feeder's seed
// in it, and headless Chromium. `browserTest` wires it up and always tears it down; on a
// failure it saves a screenshot and prints the processes' log tail and the page's errors.
//
//   import { browserTest } from '../lib/harness.mjs';
//   browserTest('lots are listed', async (fab) => {
//     const { page, response, errors } = await fab.open('/');
//     ...
//   });

import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { launchBrowser, newRecordedPage, saveScreenshot } from './browser.mjs';
import {
  Feeder,
  ProcessLog,
  freePort,
  makeTempDir,
  startGateway,
  stopProcess,
  withTimeout,
  writeGatewayConfig,
} from './processes.mjs';

export * from './browser.mjs';
export * from './processes.mjs';

const DEFAULT_TEST_TIMEOUT_MS = 60_000;
// Room for teardown after a test's own timeout, before node:test gives up on it.
const TEARDOWN_MS = 30_000;

/** One test's gateway, feeder and browser. Every part is optional in `stop`. */
export class Fab {
  constructor() {
    this.pages = [];
  }

  /** Options: `readToken` and `ingestToken` configure the gateway (the feeder gets the latter). */
  static async start(options = {}) {
    const fab = new Fab();
    try {
      await fab.#start(options);
    } catch (error) {
      error.fab = fab; // so the caller can still print the log tail, then stop it
      throw error;
    }
    return fab;
  }

  async #start({ readToken, ingestToken } = {}) {
    this.dir = await makeTempDir();
    this.filesDir = join(this.dir, 'files');
    this.log = new ProcessLog(join(this.dir, 'processes.log'));
    this.port = await freePort();
    const configPath = await writeGatewayConfig(this.dir, {
      port: this.port,
      readToken,
      ingestToken,
    });
    this.configPath = configPath;
    const gateway = await startGateway({ configPath, port: this.port, log: this.log });
    this.gateway = gateway.child;
    this.url = gateway.url;
    this.feeder = await Feeder.start({
      gatewayUrl: this.url,
      filesDir: this.filesDir,
      token: ingestToken,
      log: this.log,
    });
    this.browser = await launchBrowser();
  }

  /**
   * Open `path` of the gateway in a new page. Returns the page, the navigation's response
   * and the page's live list of console and page errors.
   */
  async open(path = '/', { waitUntil = 'load' } = {}) {
    const { page, errors } = await newRecordedPage(this.browser);
    this.pages.push({ page, errors });
    const response = await page.goto(new URL(path, this.url).href, { waitUntil });
    return { page, response, errors };
  }

  /** Stop the gateway; `restartGateway` brings it back on the same port and store. */
  async stopGateway() {
    await stopProcess(this.gateway);
    this.gateway = null;
  }

  async restartGateway() {
    if (this.gateway) await this.stopGateway();
    const gateway = await startGateway({ configPath: this.configPath, port: this.port, log: this.log });
    this.gateway = gateway.child;
  }

  /** Every console and page error of every page opened so far. */
  get errors() {
    return this.pages.flatMap((p) => p.errors);
  }

  /** Screenshot of the last page, the page errors and the processes' log tail, on stderr. */
  async reportFailure(testName) {
    const last = this.pages.at(-1);
    if (last && !last.page.isClosed()) {
      try {
        const path = await saveScreenshot(last.page, testName);
        console.error(`screenshot of '${testName}': ${path}`);
      } catch (error) {
        console.error(`no screenshot of '${testName}': ${error.message}`);
      }
    }
    if (this.errors.length > 0) {
      console.error(`page errors:\n  ${this.errors.join('\n  ')}`);
    }
    if (this.log) {
      console.error(`gateway and feeder log (${this.log.path}), last lines:\n${await this.log.tail()}`);
    }
  }

  /** Browser, then feeder (it still delivers to the gateway), then gateway, then the files. */
  async stop() {
    const steps = [
      () => this.browser?.close(),
      () => this.feeder?.quit(),
      () => stopProcess(this.gateway),
      () => this.log?.close(),
      () => this.dir && rm(this.dir, { recursive: true, force: true }),
    ];
    for (const step of steps) {
      try {
        await step();
      } catch (error) {
        console.error(`teardown: ${error.message}`);
      }
    }
  }
}

/**
 * A node:test test with a started Fab. The test's own timeout (default 60 s) ends the body
 * early so teardown and the failure report still run.
 */
export function browserTest(name, body, { timeout = DEFAULT_TEST_TIMEOUT_MS, ...fabOptions } = {}) {
  test(name, { timeout: timeout + TEARDOWN_MS }, async () => {
    let fab;
    try {
      fab = await Fab.start(fabOptions).catch((error) => {
        fab = error.fab;
        throw error;
      });
      await withTimeout(body(fab), timeout, `test '${name}'`);
    } catch (error) {
      await fab?.reportFailure(name);
      throw error;
    } finally {
      await fab?.stop();
    }
  });
}
