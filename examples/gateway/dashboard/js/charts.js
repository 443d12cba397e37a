// Charts drawn by the vendored uPlot, each in a <figure> with its numbers as a table too
// (for screen readers, and for reading exact values).

import { h, table } from './dom.js';

export const COLORS = {
  succeeded: '#2e7d32',
  failed: '#c62828',
  canceled: '#6d6d6d',
  running: '#1565c0',
  p50: '#1565c0',
  p95: '#ef6c00',
  cpu: '#6a1b9a',
  rss: '#00838f',
};

const PALETTE = ['#1565c0', '#ef6c00', '#2e7d32', '#6a1b9a', '#c62828', '#00838f', '#5d4037'];

export function paletteColor(i) {
  return PALETTE[i % PALETTE.length];
}

/** Axis text sized like the page's, which grows on a wall screen (canvas text does not). */
function axisFont() {
  const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 15;
  return {
    font: `${Math.round(rem * 0.8)}px system-ui, sans-serif`,
    size: Math.round(rem * 6),
    // Time labels take two lines (time, then the date under the first).
    timeSize: Math.round(rem * 3.4),
    // Room between time labels, so larger text does not make them overlap.
    space: Math.round(rem * 7),
  };
}

/** Keep a chart as wide as its container. */
function fitWidth(plot, holder, height) {
  const observer = new ResizeObserver(() => {
    const width = Math.max(240, Math.floor(holder.clientWidth));
    if (width !== plot.width) plot.setSize({ width, height });
  });
  observer.observe(holder);
}

function figure(title, holder, dataTable) {
  return h('figure', { class: 'chart' },
    h('figcaption', {}, title),
    holder,
    h('details', {}, h('summary', {}, 'Numbers'), dataTable));
}

function empty(title, message) {
  return h('figure', { class: 'chart' }, h('figcaption', {}, title), h('p', { class: 'muted empty' }, message));
}

/**
 * Lines over time. `x`: unix seconds; `series`: [{label, values, color}]; `format(v)` for
 * axis and table values; `span`: [first, last] unix seconds the x axis covers.
 */
export function timeChart(title, x, series, format = String, span = null, height = 220) {
  if (!x.length) return empty(title, 'Nothing ended in this window.');
  const holder = h('div', { class: 'plot' });
  const rows = x.map((t, i) => h('tr', {},
    h('td', {}, new Date(t * 1000).toLocaleString()),
    series.map((s) => h('td', { class: 'num' }, format(s.values[i])))));
  const node = figure(title, holder, table(null, ['time', ...series.map((s) => s.label)], rows));
  requestAnimationFrame(() => {
    const plot = new uPlot({
      width: Math.max(240, holder.clientWidth),
      height,
      series: [{}, ...series.map((s) => ({
        label: s.label, stroke: s.color, fill: `${s.color}22`, width: 2,
        points: { show: x.length < 60 },
        value: (_, v) => (v === null || v === undefined ? '–' : format(v)),
      }))],
      axes: [{ font: axisFont().font, space: axisFont().space, size: axisFont().timeSize },
        { values: (_, ticks) => ticks.map(format), font: axisFont().font, size: axisFont().size }],
      scales: {
        x: span ? { range: () => span } : {},
        y: { range: (_, min, max) => [0, max > 0 ? max * 1.1 : 1] },
      },
    }, [x, ...series.map((s) => s.values)], holder);
    fitWidth(plot, holder, height);
  });
  return node;
}

/** Bars per category (an app): one or two `series` [{label, values, color}], side by side. */
export function categoryBars(title, categories, series, format = String, height = 220) {
  if (!categories.length) return empty(title, 'Nothing ended in this window.');
  const holder = h('div', { class: 'plot' });
  const rows = categories.map((c, i) => h('tr', {},
    h('th', { scope: 'row' }, c),
    series.map((s) => h('td', { class: 'num' }, format(s.values[i])))));
  const node = figure(title, holder, table(null, ['app', ...series.map((s) => s.label)], rows));
  const x = categories.map((_, i) => i);
  requestAnimationFrame(() => {
    const plot = new uPlot({
      width: Math.max(240, holder.clientWidth),
      height,
      scales: { x: { time: false, range: [-0.5, categories.length - 0.5] },
        y: { range: (_, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      series: [{ value: (_, i) => categories[i] ?? '' }, ...series.map((s, k) => ({
        label: s.label, stroke: s.color, fill: s.color, width: 0, points: { show: false },
        value: (_, v) => (v === null || v === undefined ? '–' : format(v)),
        // Two series sit left and right of the category's tick; one sits on it.
        paths: uPlot.paths.bars(series.length === 1
          ? { size: [0.6, 120], align: 0 }
          : { size: [0.4, 80], align: k === 0 ? -1 : 1 }),
      }))],
      axes: [
        { values: (_, ticks) => ticks.map((t) => (Number.isInteger(t) ? categories[t] ?? '' : '')),
          splits: () => x, gap: 6, font: axisFont().font },
        { values: (_, ticks) => ticks.map(format), font: axisFont().font, size: axisFont().size },
      ],
      cursor: { points: { show: false } },
    }, [x, ...series.map((s) => s.values.map((v) => v ?? null))], holder);
    fitWidth(plot, holder, height);
  });
  return node;
}
