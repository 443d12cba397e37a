// How numbers, times and states read on the page.

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole} s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return whole % 60 ? `${minutes} min ${whole % 60} s` : `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  return `${hours} h ${minutes % 60} min`;
}

export function bytes(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = value;
  let unit = 0;
  while (v >= 1024 && unit < units.length - 1) {
    v /= 1024;
    unit += 1;
  }
  return `${v.toFixed(v < 10 && unit > 0 ? 1 : 0)} ${units[unit]}`;
}

export function number(value, digits = 0) {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  return value.toLocaleString(undefined, { maximumFractionDigits: digits });
}

/** A time from the API (RFC 3339) in the browser's local time, to the second. */
export function time(text) {
  if (!text) return '–';
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) return text;
  return date.toLocaleString(undefined, {
    year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

export function clock(text) {
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) return text || '–';
  return date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** A job's status as a labelled badge (colour is never the only signal). */
export function statusBadge(status) {
  const span = document.createElement('span');
  span.className = `badge status-${status}`;
  span.textContent = status || 'unknown';
  return span;
}

/** A labelled progress bar; `value` is 0..100 or null. */
export function progressBar(value, label) {
  const bar = document.createElement('progress');
  bar.max = 100;
  if (Number.isFinite(value)) bar.value = value;
  bar.setAttribute('aria-label', label);
  bar.title = Number.isFinite(value) ? `${value.toFixed(0)} %` : 'no progress reported';
  return bar;
}

/** Entity label a person recognises: business key, else name, else id. */
export function entityLabel(job) {
  return job.key || job.name || job.id;
}
