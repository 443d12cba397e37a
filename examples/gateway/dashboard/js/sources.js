// Sources view: the same window read from the managed store and from every configured
// external source, side by side.

import { getJson } from './api.js';
import { paletteColor, timeChart } from './charts.js';
import { h, replace, table } from './dom.js';
import * as fmt from './format.js';
import { windowControls, windowRange } from './history.js';
import { navigate } from './main.js';

const BUCKETS = 30;

export function mount(main, params) {
  const windowPart = windowControls(params.has('window') ? params : new URLSearchParams({ window: '1h' }));
  const site = h('input', { id: 's-site', name: 'site', size: 8, value: params.get('site') || '' });
  const app = h('input', { id: 's-app', name: 'app', size: 12, value: params.get('app') || '' });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Source comparison filters' },
    windowPart.nodes,
    h('label', { for: 's-site' }, 'Site'), site,
    h('label', { for: 's-app' }, 'App'), app,
    h('button', { type: 'submit' }, 'Compare'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    navigate('sources', { ...windowPart.read(), site: site.value.trim(), app: app.value.trim() });
  });
  const body = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Reading every source…'));
  replace(main, h('h1', {}, 'Sources'),
    h('p', { class: 'muted small' }, 'The managed store and each external source the gateway is configured to read, over the same window.'),
    form, body);
  const [start, end] = windowRange(params.has('window') ? params : new URLSearchParams({ window: '1h' }));
  getJson('/v1/sources/compare', { start, end, site: site.value.trim(), app: app.value.trim(), buckets: BUCKETS })
    .then((answer) => show(body, answer))
    .catch((error) => replace(body, h('p', { class: 'error', role: 'alert' }, error.message)))
    .finally(() => body.removeAttribute('aria-busy'));
  return null;
}

function health(source) {
  if (!source.ok) return h('span', { class: 'badge status-failed' }, `cannot be read: ${source.error}`);
  const notes = [];
  if (source.incomplete) notes.push(`incomplete: ${source.incomplete}`);
  if (source.truncated) notes.push('more events than one comparison reads; the earliest are compared');
  return h('span', {}, h('span', { class: 'badge status-succeeded' }, 'ok'),
    notes.length ? h('span', { class: 'muted' }, ` ${notes.join('; ')}`) : null);
}

function show(body, answer) {
  const x = answer.buckets.map((t) => Date.parse(t) / 1000);
  const readable = answer.sources.filter((s) => s.ok);
  const overview = table('Each source over the window',
    ['Source', 'Type', 'Health', 'Events', 'Only in this source', 'Read in'],
    answer.sources.map((s) => h('tr', { 'data-source': s.name },
      h('th', { scope: 'row' }, s.name),
      h('td', {}, s.type),
      h('td', {}, health(s)),
      h('td', { class: 'num' }, s.ok ? fmt.number(s.total) : '–'),
      h('td', { class: 'num' }, s.ok && readable.length > 1 ? fmt.number(s.only_here) : '–'),
      h('td', { class: 'num' }, `${fmt.number(s.read_ms)} ms`))),
    { id: 'sources-table' });
  const chart = timeChart(`Events per ${fmt.duration(answer.bucket_s)}, by source`, x,
    readable.map((s, i) => ({ label: s.name, color: paletteColor(i), values: s.counts })),
    (v) => fmt.number(v), [x[0], Date.parse(answer.end) / 1000]);
  const onlyOne = readable.filter((s) => s.only_here > 0);
  replace(body,
    h('section', { 'aria-label': 'Sources side by side' },
      h('p', { class: 'muted small' }, `${fmt.time(answer.start)} to ${fmt.time(answer.end)}`),
      overview,
      readable.length ? chart : null),
    h('section', { 'aria-labelledby': 'only-title' },
      h('h2', { id: 'only-title' }, 'Events present in only one source'),
      readable.length < 2
        ? h('p', { class: 'muted' }, 'Needs at least two readable sources to compare.')
        : onlyOne.length === 0
          ? h('p', {}, 'Every event in this window is held by more than one source.')
          : onlyOne.map((s) => h('div', { class: 'scroll' }, table(
            `Only in ${s.name}: ${fmt.number(s.only_here)} event${s.only_here === 1 ? '' : 's'}${s.only_here > s.only_here_sample.length ? ` (first ${s.only_here_sample.length} shown)` : ''}`,
            ['Time', 'Site', 'App', 'Entity', 'Event', 'Id'],
            s.only_here_sample.map((e) => h('tr', {},
              h('td', {}, fmt.time(e.time)),
              h('td', {}, e.site),
              h('td', {}, e.app && e.app.name),
              h('td', {}, e.entity ? `${e.entity.key || e.entity.name || e.entity.id} (${e.entity.kind})` : ''),
              h('td', {}, e.kind),
              h('td', {}, h('code', {}, e.id)))))))));
}
