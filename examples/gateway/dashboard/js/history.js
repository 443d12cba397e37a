// History view: a time window and filters (kept in the URL), charts over the window, and a
// paged job table that exports as CSV.

import { getJson } from './api.js';
import { COLORS, categoryBars, timeChart } from './charts.js';
import { h, replace } from './dom.js';
import * as fmt from './format.js';
import { navigate } from './main.js';

export const WINDOWS = { '1h': 3_600_000, '6h': 21_600_000, '24h': 86_400_000, '7d': 604_800_000 };
const PAGE_SIZE = 50;
/** Bucket widths the stats API takes (they divide a day), smallest first. */
const BUCKETS_S = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
const BUCKETS_PER_CHART = 30;

/** About 30 buckets over the window: 2 min for an hour, 1 h for a day, 6 h for a week. */
function bucketFor(start, end) {
  const span = ((end ? Date.parse(end) : Date.now()) - Date.parse(start)) / 1000;
  // A little slack: "the last hour" is a few milliseconds more than 3600 s by now.
  return BUCKETS_S.find((b) => b * BUCKETS_PER_CHART >= span * 0.99) || BUCKETS_S.at(-1);
}
const STATUSES = ['running', 'succeeded', 'failed', 'canceled'];
const FILTERS = ['site', 'app', 'status', 'kind', 'q'];

/** [start, end] ISO strings for the URL's window (`end` null means "until now"). */
export function windowRange(params) {
  const window = params.get('window') || '24h';
  if (window === 'custom') {
    const start = params.get('start');
    const end = params.get('end');
    if (start) return [start, end || null];
  }
  const span = WINDOWS[window] || WINDOWS['24h'];
  return [new Date(Date.now() - span).toISOString(), null];
}

/** `<input type=datetime-local>` value for an ISO time, in local time. */
function localInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function windowControls(params) {
  const window = params.get('window') || '24h';
  const select = h('select', { id: 'f-window', name: 'window' },
    [...Object.keys(WINDOWS), 'custom'].map((w) =>
      h('option', { value: w, selected: w === window }, w === 'custom' ? 'custom…' : `last ${w}`)));
  const start = h('input', { id: 'f-start', name: 'start', type: 'datetime-local', value: localInput(params.get('start')) });
  const end = h('input', { id: 'f-end', name: 'end', type: 'datetime-local', value: localInput(params.get('end')) });
  const custom = h('span', { class: 'custom-range', hidden: window !== 'custom' },
    h('label', { for: 'f-start' }, 'From'), start, h('label', { for: 'f-end' }, 'to'), end);
  select.addEventListener('change', () => { custom.hidden = select.value !== 'custom'; });
  const read = () => {
    const out = { window: select.value };
    if (select.value === 'custom' && start.value) {
      out.start = new Date(start.value).toISOString();
      if (end.value) out.end = new Date(end.value).toISOString();
    }
    return out;
  };
  return { nodes: [h('label', { for: 'f-window' }, 'Window'), select, custom], read };
}

export function mount(main, params) {
  const [start, end] = windowRange(params);
  const filters = Object.fromEntries(FILTERS.map((f) => [f, params.get(f) || '']));
  const windowPart = windowControls(params);
  const input = (name, label, attrs = {}) => [
    h('label', { for: `f-${name}` }, label),
    h('input', { id: `f-${name}`, name, value: filters[name], ...attrs }),
  ];
  const status = h('select', { id: 'f-status', name: 'status' },
    h('option', { value: '' }, 'any'),
    STATUSES.map((s) => h('option', { value: s, selected: filters.status === s }, s)));
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'History filters' },
    windowPart.nodes,
    input('site', 'Site', { size: 8 }),
    input('app', 'App', { size: 12 }),
    h('label', { for: 'f-status' }, 'Status'), status,
    input('kind', 'Kind', { size: 8, placeholder: 'lot, wafer…' }),
    input('q', 'Business key', { type: 'search', size: 14, placeholder: 'e.g. LOT-1001' }),
    h('button', { type: 'submit' }, 'Apply'),
    h('button', { type: 'button', class: 'secondary', onclick: () => navigate('history', {}) }, 'Reset'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const chosen = { ...windowPart.read() };
    for (const name of FILTERS) chosen[name] = form.elements[name].value.trim();
    navigate('history', chosen);
  });

  const charts = h('div', { class: 'charts', 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading charts…'));
  const jobsSection = h('section', { 'aria-labelledby': 'jobs-title' });
  replace(main,
    h('h1', {}, 'History'),
    form,
    h('section', { 'aria-labelledby': 'charts-title' },
      h('h2', { id: 'charts-title' }, 'Over the window'),
      h('p', { class: 'muted small' }, 'Charts count jobs that ended in the window; the status and business key filters apply to the table only.'),
      charts),
    jobsSection);

  loadCharts(charts, { site: filters.site, app: filters.app, kind: filters.kind, start, end,
    bucket_s: bucketFor(start, end) });
  const jobQuery = { site: filters.site, app: filters.app, status: filters.status, kind: filters.kind,
    q: filters.q, start, end, limit: PAGE_SIZE };
  showJobs(jobsSection, jobQuery);
  return null;
}

async function loadCharts(holder, query) {
  let stats;
  try {
    stats = await getJson('/v1/stats', query);
  } catch (error) {
    replace(holder, h('p', { class: 'error', role: 'alert' }, error.message));
    holder.removeAttribute('aria-busy');
    return;
  }
  // Every bucket of the window, summed over apps; buckets with nothing ended count zero.
  const width = stats.bucket_s;
  const buckets = new Map();
  const first = Math.floor(Date.parse(stats.start) / 1000 / width) * width;
  const last = Math.floor((Date.parse(stats.end) / 1000 - 0.001) / width) * width;
  for (let t = first; t <= last; t += width) buckets.set(t, { succeeded: 0, failed: 0, canceled: 0 });
  for (const row of stats.hours) {
    const sum = buckets.get(Date.parse(row.hour) / 1000);
    if (!sum) continue;
    sum.succeeded += row.succeeded;
    sum.failed += row.failed;
    sum.canceled += row.canceled;
  }
  const x = [...buckets.keys()];
  const count = (v) => fmt.number(v);
  const apps = stats.apps.map((a) => a.app);
  replace(holder,
    h('p', { class: 'totals' },
      `${fmt.number(stats.totals.ended)} jobs ended: ${fmt.number(stats.totals.succeeded)} succeeded, `,
      `${fmt.number(stats.totals.failed)} failed, ${fmt.number(stats.totals.canceled)} canceled; `,
      `${fmt.number(stats.running)} running.`),
    timeChart(`Jobs ended per ${fmt.duration(width)}, by status`, x,
      ['succeeded', 'failed', 'canceled'].map((s) => ({ label: s, color: COLORS[s], values: x.map((t) => buckets.get(t)[s]) })),
      count, [first, last + width]),
    categoryBars('Duration per app (p50 and p95)', apps, [
      { label: 'p50', color: COLORS.p50, values: stats.apps.map((a) => a.p50_duration_s) },
      { label: 'p95', color: COLORS.p95, values: stats.apps.map((a) => a.p95_duration_s) },
    ], fmt.duration),
    categoryBars('CPU time per job, mean per app', apps, [
      { label: 'CPU', color: COLORS.cpu, values: stats.apps.map((a) => a.mean_cpu_s) },
    ], fmt.duration),
    categoryBars('Peak memory (RSS) per app', apps, [
      { label: 'peak RSS', color: COLORS.rss, values: stats.apps.map((a) => a.peak_rss_bytes) },
    ], fmt.bytes));
  holder.removeAttribute('aria-busy');
}

const COLUMNS = [
  ['Job', (j) => fmt.entityLabel(j)],
  ['Kind', (j) => j.kind],
  ['App', (j) => j.app],
  ['Site', (j) => j.site],
  ['Status', (j) => j.status],
  ['Progress %', (j) => (Number.isFinite(j.progress) ? j.progress.toFixed(0) : '')],
  ['Started', (j) => j.started_at || ''],
  ['Ended', (j) => j.ended_at || ''],
  ['Duration s', (j) => (Number.isFinite(j.duration_s) ? j.duration_s.toFixed(3) : '')],
  ['CPU s', (j) => (Number.isFinite(j.cpu_s) ? j.cpu_s.toFixed(3) : '')],
  ['Peak RSS bytes', (j) => (Number.isFinite(j.max_rss_bytes) ? String(j.max_rss_bytes) : '')],
  ['Events', (j) => String(j.event_count)],
  ['Id', (j) => j.id],
  ['Message', (j) => j.message || ''],
];

function jobRow(job) {
  const link = new URLSearchParams({ site: job.site, id: job.id });
  return h('tr', { 'data-job': job.id },
    h('th', { scope: 'row' }, h('a', { href: `#/job?${link}` }, fmt.entityLabel(job))),
    h('td', {}, job.kind),
    h('td', {}, job.app),
    h('td', {}, job.site),
    h('td', {}, fmt.statusBadge(job.status)),
    h('td', { class: 'num' }, Number.isFinite(job.progress) ? `${job.progress.toFixed(0)} %` : '–'),
    h('td', {}, fmt.time(job.started_at)),
    h('td', { class: 'num' }, fmt.duration(job.duration_s)),
    h('td', { class: 'num' }, fmt.duration(job.cpu_s)),
    h('td', { class: 'num' }, fmt.bytes(job.max_rss_bytes)),
    h('td', { class: 'detail' }, job.message || ''));
}

/** RFC 4180 quoting; a leading formula character is defused for spreadsheet users. */
function csvCell(text) {
  let value = String(text);
  if (/^[=+\-@]/.test(value) && !/^-?\d/.test(value)) value = `'${value}`;
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function toCsv(jobs) {
  const lines = [COLUMNS.map(([name]) => csvCell(name)).join(',')];
  for (const job of jobs) lines.push(COLUMNS.map(([, get]) => csvCell(get(job))).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

function download(name, text) {
  const link = h('a', { href: URL.createObjectURL(new Blob([text], { type: 'text/csv' })), download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

function showJobs(section, query) {
  const cursors = [null];
  let page = 0;
  let shown = [];
  const status = h('p', { class: 'muted', role: 'status', id: 'jobs-status' }, 'Loading jobs…');
  const body = h('tbody');
  const previous = h('button', { type: 'button', class: 'secondary', disabled: true }, '← Newer');
  const next = h('button', { type: 'button', class: 'secondary', disabled: true }, 'Older →');
  const csv = h('button', { type: 'button', id: 'export-csv', disabled: true }, 'Download CSV');
  replace(section,
    h('h2', { id: 'jobs-title' }, 'Jobs'),
    h('div', { class: 'toolbar' }, previous, next, csv, status),
    h('div', { class: 'scroll' }, h('table', { id: 'jobs-table' },
      h('thead', {}, h('tr', {}, ['Job', 'Kind', 'App', 'Site', 'Status', 'Progress', 'Started', 'Duration', 'CPU', 'Peak RSS', 'Message']
        .map((t) => h('th', { scope: 'col' }, t)))),
      body)));

  const load = async () => {
    section.setAttribute('aria-busy', 'true');
    previous.disabled = true;
    next.disabled = true;
    try {
      const answer = await getJson('/v1/jobs', { ...query, cursor: cursors[page] });
      shown = answer.jobs;
      cursors[page + 1] = answer.next_cursor;
      replace(body, shown.length ? shown.map(jobRow)
        : h('tr', {}, h('td', { colspan: 11, class: 'muted' }, 'No jobs match these filters in this window.')));
      status.textContent = shown.length
        ? `Page ${page + 1}: ${shown.length} job${shown.length === 1 ? '' : 's'}${answer.next_cursor ? ', more on the next page' : ''}.`
        : '';
      previous.disabled = page === 0;
      next.disabled = !answer.next_cursor;
      csv.disabled = shown.length === 0;
    } catch (error) {
      replace(body, h('tr', {}, h('td', { colspan: 11, class: 'error', role: 'alert' }, error.message)));
      status.textContent = '';
    }
    section.removeAttribute('aria-busy');
  };
  previous.addEventListener('click', () => { page -= 1; load(); });
  next.addEventListener('click', () => { page += 1; load(); });
  csv.addEventListener('click', () => {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
    download(`wafermon-jobs-${stamp}.csv`, toCsv(shown));
  });
  load();
}
