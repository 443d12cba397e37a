// Job detail: the entity, its subtree (lot -> wafer -> step, any depth), a timeline of its
// subjobs and its events.

import { getJson } from './api.js';
import { h, replace, table } from './dom.js';
import * as fmt from './format.js';

const TIMELINE_SHOWN = 200;

function link(job) {
  const query = new URLSearchParams({ site: job.site, id: job.id });
  return h('a', { href: `#/job?${query}` }, fmt.entityLabel(job));
}

export function mount(main, params) {
  const id = params.get('id');
  const site = params.get('site');
  replace(main, h('h1', {}, 'Job'), h('p', { class: 'muted', 'aria-busy': 'true' }, 'Loading…'));
  if (!id) {
    replace(main, h('h1', {}, 'Job'), h('p', { class: 'error', role: 'alert' }, 'No job was named in the address.'));
    return null;
  }
  getJson(`/v1/jobs/${encodeURIComponent(id)}`, { site })
    .then((answer) => show(main, answer))
    .catch((error) => replace(main, h('h1', {}, `Job ${id}`),
      h('p', { class: 'error', role: 'alert' }, error.message),
      h('p', {}, h('a', { href: '#/history' }, 'Back to history'))));
  return null;
}

function show(main, { job, subtree, events }) {
  const facts = [
    ['Status', fmt.statusBadge(job.status)],
    ['Kind', job.kind],
    ['App', job.app],
    ['Site', job.site],
    ['Business key', job.key || '–'],
    ['Id', h('code', {}, job.id)],
    ['Parent', job.parent ? h('a', { href: `#/job?${new URLSearchParams({ site: job.site, id: job.parent })}` }, job.parent) : '–'],
    ['Progress', Number.isFinite(job.progress) ? `${job.progress.toFixed(0)} %` : '–'],
    ['Started', fmt.time(job.started_at)],
    ['Ended', fmt.time(job.ended_at)],
    ['Duration', fmt.duration(job.duration_s)],
    ['CPU', fmt.duration(job.cpu_s)],
    ['Peak RSS', fmt.bytes(job.max_rss_bytes)],
    ['Events', fmt.number(job.event_count)],
  ];
  replace(main,
    h('p', { class: 'crumbs' }, h('a', { href: '#/history' }, 'History'), ' / ', fmt.entityLabel(job)),
    h('h1', {}, `${job.kind} ${fmt.entityLabel(job)} `, fmt.statusBadge(job.status)),
    job.message ? h('p', { class: job.status === 'failed' ? 'error' : '' }, job.message) : null,
    h('dl', { class: 'facts' }, facts.map(([name, value]) => h('div', {}, h('dt', {}, name), h('dd', {}, value)))),
    h('section', { 'aria-labelledby': 'tree-title' },
      h('h2', { id: 'tree-title' }, `Subtree (${subtree.length} below)`),
      subtree.length ? tree(job, subtree) : h('p', { class: 'muted' }, 'No subjobs.')),
    h('section', { 'aria-labelledby': 'timeline-title' },
      h('h2', { id: 'timeline-title' }, 'Timeline'),
      timeline(job, subtree)),
    h('section', { 'aria-labelledby': 'events-title' },
      h('h2', { id: 'events-title' }, `Events (${events.length})`),
      eventTable(events)));
}

function tree(root, subtree) {
  const children = new Map();
  for (const job of subtree) {
    if (!children.has(job.parent)) children.set(job.parent, []);
    children.get(job.parent).push(job);
  }
  const branch = (parentId, depth) => {
    const kids = children.get(parentId) || [];
    if (!kids.length || depth > 64) return null;
    return h('ul', {}, kids.map((job) => h('li', { 'data-job': job.id },
      link(job), ' ', h('span', { class: 'muted' }, job.kind), ' ', fmt.statusBadge(job.status),
      ' ', h('span', { class: 'muted' }, fmt.duration(job.duration_s)),
      branch(job.id, depth + 1))));
  };
  return h('div', { class: 'tree', id: 'subtree' }, h('ul', {}, h('li', {},
    h('strong', {}, fmt.entityLabel(root)), ' ', h('span', { class: 'muted' }, root.kind), ' ',
    fmt.statusBadge(root.status), branch(root.id, 0))));
}

function timeline(root, subtree) {
  const jobs = [root, ...subtree].filter((j) => j.started_at || j.first_event_at);
  const startOf = (j) => Date.parse(j.started_at || j.first_event_at);
  const endOf = (j) => Date.parse(j.ended_at || j.last_event_at);
  const t0 = Math.min(...jobs.map(startOf));
  const t1 = Math.max(...jobs.map(endOf), t0 + 1);
  const rows = jobs.sort((a, b) => startOf(a) - startOf(b)).slice(0, TIMELINE_SHOWN).map((job) => {
    const bar = h('span', { class: `bar status-${job.status}`,
      title: `${fmt.entityLabel(job)}: ${fmt.time(job.started_at)} – ${job.ended_at ? fmt.time(job.ended_at) : 'running'}` });
    // CSSOM, not a style attribute: the page's content security policy forbids inline styles.
    bar.style.left = `${((startOf(job) - t0) / (t1 - t0)) * 100}%`;
    bar.style.width = `${Math.max(0.4, ((endOf(job) - startOf(job)) / (t1 - t0)) * 100)}%`;
    return h('li', {},
      h('span', { class: 'label' }, link(job), ' ', h('span', { class: 'muted' }, job.kind)),
      h('span', { class: 'track' }, bar),
      h('span', { class: 'num' }, fmt.duration(job.duration_s)));
  });
  return h('div', {},
    h('p', { class: 'muted small' }, `${fmt.time(new Date(t0).toISOString())} to ${fmt.time(new Date(t1).toISOString())}`),
    h('ol', { class: 'timeline' }, rows),
    jobs.length > TIMELINE_SHOWN ? h('p', { class: 'muted' }, `First ${TIMELINE_SHOWN} of ${jobs.length} shown.`) : null);
}

function eventTable(events) {
  if (!events.length) return h('p', { class: 'muted' }, 'No events stored.');
  return h('div', { class: 'scroll' }, table(null, ['Time', 'Event', 'Status', 'Progress', 'Message', 'Metrics'],
    events.map((e) => h('tr', { 'data-event-id': e.id },
      h('td', {}, fmt.time(e.time)),
      h('td', {}, h('span', { class: `badge kind-${e.kind}` }, e.kind)),
      h('td', {}, fmt.statusBadge(e.status)),
      h('td', { class: 'num' }, Number.isFinite(e.progress) ? `${e.progress.toFixed(0)} %` : ''),
      h('td', { class: 'detail' }, e.message || ''),
      h('td', { class: 'detail' }, Object.entries(e.metrics || {}).map(([k, v]) => `${k} ${fmt.number(v, 3)}`).join(', ')))),
    { id: 'events-table' }));
}
