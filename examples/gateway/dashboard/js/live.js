// Live view: what runs now and what just happened, pushed over /v1/stream (no polling).

import { getJson } from './api.js';
import { h, replace } from './dom.js';
import * as fmt from './format.js';
import { setConnection } from './main.js';
import { openStream } from './stream.js';

const NEWEST_SHOWN = 50;
const RUNNING_SHOWN = 100;
const RATE_WINDOW_MS = 10_000;
const HOUR_MS = 3_600_000;

export function mount(main) {
  const running = new Map();
  const arrivals = [];
  // site/id -> when it failed, so a failure seen in both the snapshot and the stream counts once.
  const failures = new Map();
  // Events that arrive while a snapshot loads wait here and are applied on top of it.
  let pending = null;
  const mountedAt = Date.now();

  const runningCount = h('dd', { id: 'running-count' }, '–');
  const rate = h('dd', { id: 'event-rate' }, '–');
  const failedCount = h('dd', { id: 'failures-hour' }, '–');
  const runningBody = h('tbody');
  const runningMore = h('p', { class: 'muted' });
  const newestBody = h('tbody', { id: 'newest-events' });
  const problem = h('p', { class: 'error', role: 'alert', hidden: true });

  replace(main,
    h('h1', {}, 'Live'),
    problem,
    h('dl', { class: 'cards' },
      h('div', {}, h('dt', {}, 'Running now'), runningCount),
      h('div', {}, h('dt', {}, 'Events per second'), rate),
      h('div', {}, h('dt', {}, 'Failures, last hour'), failedCount)),
    h('section', { 'aria-labelledby': 'running-title' },
      h('h2', { id: 'running-title' }, 'Running jobs'),
      h('table', { id: 'running-jobs' },
        h('thead', {}, h('tr', {}, ['Job', 'Kind', 'App', 'Site', 'Progress', 'Started']
          .map((t) => h('th', { scope: 'col' }, t)))),
        runningBody),
      runningMore),
    h('section', { 'aria-labelledby': 'newest-title' },
      h('h2', { id: 'newest-title' }, 'Newest events'),
      h('table', {},
        h('thead', {}, h('tr', {}, ['Time', 'Site', 'App', 'Entity', 'Event', 'Detail']
          .map((t) => h('th', { scope: 'col' }, t)))),
        newestBody)));
  newestBody.append(h('tr', { class: 'placeholder' }, h('td', { colspan: 6, class: 'muted' },
    'New events appear here the moment the gateway stores them.')));

  let drawPending = false;
  const drawRunning = () => {
    if (drawPending) return;
    drawPending = true;
    requestAnimationFrame(() => {
      drawPending = false;
      const jobs = [...running.values()].sort((a, b) =>
        (a.parent ? 1 : 0) - (b.parent ? 1 : 0) || String(a.started_at).localeCompare(String(b.started_at)));
      runningCount.textContent = fmt.number(jobs.length);
      replace(runningBody, jobs.length
        ? jobs.slice(0, RUNNING_SHOWN).map((job) => runningRow(job, running))
        : h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'Nothing is running.')));
      runningMore.textContent = jobs.length > RUNNING_SHOWN
        ? `and ${jobs.length - RUNNING_SHOWN} more running` : '';
    });
  };

  const tick = () => {
    const now = Date.now();
    while (arrivals.length && arrivals[0] < now - RATE_WINDOW_MS) arrivals.shift();
    for (const [key, at] of failures) if (at < now - HOUR_MS) failures.delete(key);
    const span = Math.min(RATE_WINDOW_MS, Math.max(1000, now - mountedAt));
    rate.textContent = fmt.number(arrivals.length / (span / 1000), 1);
    failedCount.textContent = fmt.number(failures.size);
  };
  const timer = setInterval(tick, 1000);

  const apply = (event) => {
    const key = `${event.site}/${event.entity.id}`;
    if (['finished', 'failed', 'canceled'].includes(event.kind)) {
      running.delete(key);
      if (event.kind === 'failed') failures.set(key, new Date(event.time).getTime() || Date.now());
    } else if (event.status === 'running') {
      const job = running.get(key) || fromEvent(event);
      if (event.kind === 'progress' && Number.isFinite(event.progress)) job.progress = event.progress;
      running.set(key, job);
    }
  };

  const onEvent = (event) => {
    const now = Date.now();
    arrivals.push(now);
    showNewest(newestBody, event, now);
    if (pending) pending.push(event);
    else apply(event);
    drawRunning();
  };

  // A snapshot on every (re)connection: what ended while the stream was down must not stay
  // "running" on the page.
  let loads = 0;
  const load = async () => {
    const generation = ++loads;
    pending = pending || [];
    try {
      const since = new Date(Date.now() - HOUR_MS).toISOString();
      const [now, failed] = await Promise.all([
        getJson('/v1/jobs', { status: 'running', limit: 1000 }),
        getJson('/v1/jobs', { status: 'failed', start: since, limit: 1000 }),
      ]);
      // A newer connection's snapshot supersedes this one.
      if (generation !== loads) return;
      running.clear();
      for (const job of now.jobs) running.set(`${job.site}/${job.id}`, job);
      failures.clear();
      for (const job of failed.jobs) {
        failures.set(`${job.site}/${job.id}`, new Date(job.ended_at || job.last_event_at).getTime());
      }
      problem.hidden = true;
    } catch (error) {
      if (generation !== loads) return;
      problem.textContent = error.message;
      problem.hidden = false;
    }
    for (const event of pending) apply(event);
    pending = null;
    drawRunning();
    tick();
  };

  // Subscribe first so nothing stored between the snapshot and the subscription is missed.
  const close = openStream({}, onEvent, (state, detail) => {
    if (state === 'open') {
      setConnection('Live: connected', 'open');
      load();
    } else if (state === 'lagged') {
      setConnection(`Live: this page fell behind and missed ${detail} events`, 'lagged');
    } else {
      setConnection('Live: reconnecting to the gateway…', 'retrying');
    }
  });
  return () => {
    close();
    clearInterval(timer);
    setConnection('', '');
  };
}

function fromEvent(event) {
  return {
    site: event.site,
    id: event.entity.id,
    app: event.app.name,
    kind: event.entity.kind,
    key: event.entity.key,
    name: event.entity.name,
    parent: event.entity.parent,
    progress: null,
    started_at: event.time,
  };
}

function jobLink(job) {
  const query = new URLSearchParams({ site: job.site, id: job.id });
  return h('a', { href: `#/job?${query}` }, fmt.entityLabel(job));
}

function runningRow(job, running) {
  const parent = job.parent && running.get(`${job.site}/${job.parent}`);
  return h('tr', { 'data-job': job.id },
    h('td', {}, jobLink(job), parent ? h('span', { class: 'muted' }, ` in ${fmt.entityLabel(parent)}`) : null),
    h('td', {}, job.kind),
    h('td', {}, job.app),
    h('td', {}, job.site),
    h('td', { class: 'progress-cell' },
      fmt.progressBar(job.progress, `progress of ${fmt.entityLabel(job)}`),
      h('span', { class: 'num' }, Number.isFinite(job.progress) ? ` ${job.progress.toFixed(0)} %` : '')),
    h('td', {}, fmt.clock(job.started_at || job.first_event_at)));
}

function showNewest(body, event, receivedAt) {
  const placeholder = body.querySelector('.placeholder');
  if (placeholder) placeholder.remove();
  const entity = { site: event.site, id: event.entity.id, key: event.entity.key, name: event.entity.name };
  const detail = event.message
    || (Number.isFinite(event.progress) ? `${event.progress.toFixed(0)} %` : '')
    || Object.entries(event.metrics || {}).slice(0, 2).map(([k, v]) => `${k} ${fmt.number(v, 2)}`).join(', ');
  const row = h('tr', { 'data-event-id': event.id, 'data-received-at': receivedAt,
    'data-emitted-at': Date.parse(event.time) },
    h('td', {}, fmt.clock(event.time)),
    h('td', {}, event.site),
    h('td', {}, event.app.name),
    h('td', {}, jobLink(entity), ` (${event.entity.kind})`),
    h('td', {}, h('span', { class: `badge kind-${event.kind}` }, event.kind)),
    h('td', { class: 'detail' }, detail));
  body.prepend(row);
  while (body.rows.length > NEWEST_SHOWN) body.deleteRow(-1);
}
