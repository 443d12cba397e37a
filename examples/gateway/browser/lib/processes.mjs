// The gateway and the fab feeder as child processes: free ports, temp dirs, config, start,
// readiness, and a stop that always ends them (SIGTERM, then SIGKILL).

import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
export const GATEWAY_BIN =
  process.env.WAFERMON_GATEWAY_BIN || join(REPO_ROOT, 'target/release/wafermon-gateway');
export const FAB_FEED_BIN =
  process.env.WAFERMON_FAB_FEED_BIN || join(REPO_ROOT, 'target/release/examples/fab_feed');

// Generous: CI machines are shared and the gateway opens its store before it listens.
const START_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 5_000;

// Children still running, so a crash or timeout of the test process cannot leak them.
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A TCP port nothing listens on right now (the OS picks it; small race, fine for tests). */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

export function makeTempDir() {
  return mkdtemp(join(tmpdir(), 'wafermon-browser-'));
}

/**
 * The gateway's JSON config in `dir`: SQLite store in `dir`, and the feeder's JSONL folder
 * `dir/files` as the external source `fab-files`. Returns the config's path.
 */
export async function writeGatewayConfig(dir, { port, readToken, ingestToken } = {}) {
  const filesDir = join(dir, 'files');
  await mkdir(filesDir, { recursive: true });
  const config = {
    listen: `127.0.0.1:${port}`,
    database_url: `sqlite://${join(dir, 'gw.sqlite3')}`,
    sources: [{ name: 'fab-files', type: 'filesystem', path: filesDir }],
  };
  if (readToken) config.read_token = readToken;
  if (ingestToken) config.ingest_token = ingestToken;
  const path = join(dir, 'gateway.json');
  await writeFile(path, JSON.stringify(config, null, 2));
  return path;
}

/** One log file both processes write their stderr (and the gateway its stdout) into. */
export class ProcessLog {
  constructor(path) {
    this.path = path;
    this.stream = createWriteStream(path, { flags: 'a' });
  }

  follow(label, readable) {
    createInterface({ input: readable }).on('line', (line) => {
      this.stream.write(`[${label}] ${line}\n`);
    });
  }

  async tail(lines = 40) {
    // Let pending writes land first, so the tail includes the last words of a crash.
    await new Promise((done) => this.stream.write('', done));
    const text = await readFile(this.path, 'utf8').catch(() => '');
    return text.split('\n').slice(-lines - 1).join('\n');
  }

  close() {
    return new Promise((done) => this.stream.end(done));
  }
}

function launch(label, bin, args, log) {
  const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  running.add(child);
  child.exited = new Promise((done) => {
    child.on('exit', (code, signal) => {
      running.delete(child);
      log.stream.write(`[${label}] exited (code ${code}, signal ${signal})\n`);
      done({ code, signal });
    });
    // A missing binary is an 'error' without an 'exit'.
    child.on('error', (error) => {
      running.delete(child);
      log.stream.write(`[${label}] could not run ${bin}: ${error.message}\n`);
      done({ code: null, signal: null, error });
    });
  });
  // Writing to a feeder that died raises EPIPE here; the exit itself is reported above.
  child.stdin.on('error', () => {});
  log.follow(label, child.stderr);
  return child;
}

/** SIGTERM, and SIGKILL if it has not exited within the grace period. */
export async function stopProcess(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await child.exited;
  clearTimeout(timer);
}

function sleep(ms) {
  return new Promise((done) => setTimeout(done, ms));
}

/** Resolves with `promise`, or rejects saying what did not happen in time. */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Start the gateway and wait until `/v1/health` answers 200. */
export async function startGateway({ configPath, port, log }) {
  const child = launch('gateway', GATEWAY_BIN, ['--config', configPath], log);
  log.follow('gateway', child.stdout);
  const url = `http://127.0.0.1:${port}`;
  let exited = null;
  child.exited.then((how) => (exited = how));
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`the gateway exited before it was healthy (${GATEWAY_BIN})`);
    try {
      const response = await fetch(`${url}/v1/health`);
      if (response.ok) return { child, url };
    } catch {
      // Not listening yet.
    }
    await sleep(100);
  }
  await stopProcess(child);
  throw new Error(`the gateway was not healthy within ${START_TIMEOUT_MS} ms`);
}

/**
 * The fab feeder (examples/gateway/examples/fab_feed.rs): started, its seed delivered
 * (`seeded N events` read), then driven one command and one answer line at a time.
 */
export class Feeder {
  constructor(child) {
    this.child = child;
    this.lines = [];
    this.waiting = [];
    createInterface({ input: child.stdout }).on('line', (line) => {
      const waiter = this.waiting.shift();
      if (waiter) waiter(line);
      else this.lines.push(line);
    });
    // An exit answers every waiter with null, so nobody waits on a dead feeder.
    child.exited.then(() => {
      for (const waiter of this.waiting.splice(0)) waiter(null);
    });
  }

  static async start({ gatewayUrl, filesDir, token, log }) {
    const args = ['--gateway', gatewayUrl, '--files', filesDir];
    if (token) args.push('--token', token);
    const feeder = new Feeder(launch('feeder', FAB_FEED_BIN, args, log));
    const line = await withTimeout(feeder.nextLine(), START_TIMEOUT_MS, 'fab_feed seed');
    const match = /^seeded (\d+) events$/.exec(line ?? '');
    if (!match) {
      await stopProcess(feeder.child);
      throw new Error(`fab_feed did not seed: first line was ${JSON.stringify(line)}`);
    }
    feeder.seededEvents = Number(match[1]);
    return feeder;
  }

  nextLine() {
    if (this.lines.length > 0) return Promise.resolve(this.lines.shift());
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      return Promise.resolve(null);
    }
    return new Promise((done) => this.waiting.push(done));
  }

  /** Send one command, return its answer line; an `error ...` answer throws. */
  async send(command) {
    this.child.stdin.write(`${command}\n`);
    const line = await withTimeout(this.nextLine(), START_TIMEOUT_MS, `fab_feed '${command}'`);
    if (line === null) throw new Error(`fab_feed exited instead of answering '${command}'`);
    if (line.startsWith('error ')) throw new Error(`fab_feed '${command}': ${line}`);
    return line;
  }

  /** `lot KEY`: a new running lot; returns its start event's id and when it was delivered. */
  async startLot(key) {
    const [, eventId, sentAtMs] = (await this.send(`lot ${key}`)).split(' ');
    return { eventId, sentAtMs: Number(sentAtMs) };
  }

  async finishLot(key) {
    return this.send(`finish ${key}`);
  }

  /** `quit`, then wait for a clean exit (killed if it does not come). */
  async quit() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.stdin.end('quit\n');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), START_TIMEOUT_MS);
    await this.child.exited;
    clearTimeout(timer);
  }
}
