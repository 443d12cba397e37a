// The page's shell: which view the URL names (everything after '#', so a view and its
// filters can be bookmarked and shared), the navigation, and the shared status line.

import * as live from './live.js';
import * as history from './history.js';
import * as detail from './detail.js';
import * as sources from './sources.js';

const VIEWS = { live, history, job: detail, sources };

const main = document.getElementById('main');
let unmount = null;

/** '#/history?app=x' -> {name: 'history', params: URLSearchParams}. */
export function currentRoute() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [name, query = ''] = hash.split('?');
  return { name: VIEWS[name] ? name : 'live', params: new URLSearchParams(query) };
}

/** Go to a view with these parameters (empty ones left out). */
export function navigate(name, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') query.set(key, value);
  }
  const text = query.toString();
  location.hash = `#/${name}${text ? `?${text}` : ''}`;
}

export function setConnection(text, state) {
  const node = document.getElementById('connection');
  node.textContent = text;
  node.dataset.state = state;
}

function render() {
  const { name, params } = currentRoute();
  if (unmount) unmount();
  unmount = null;
  for (const link of document.querySelectorAll('nav a[data-view]')) {
    const active = link.dataset.view === name || (name === 'job' && link.dataset.view === 'history');
    if (active) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  main.replaceChildren();
  try {
    unmount = VIEWS[name].mount(main, params) || null;
  } catch (error) {
    main.replaceChildren(Object.assign(document.createElement('p'), {
      className: 'error', textContent: `This view could not be shown: ${error.message}`,
    }));
  }
}

window.addEventListener('hashchange', () => {
  render();
  main.focus({ preventScroll: true });
});
window.addEventListener('unhandledrejection', (event) => {
  const notice = document.getElementById('notice');
  notice.textContent = `Something went wrong: ${event.reason && event.reason.message ? event.reason.message : event.reason}`;
  notice.hidden = false;
});
render();
