// Talking to the gateway's read API: the read token (asked once per browser session) and
// errors turned into sentences an operator can act on.

const TOKEN_KEY = 'wafermon.readToken';

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

export function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

let pendingToken = null;

/** Ask for the read token; concurrent callers share one dialog. */
export function askToken(wasRejected) {
  if (pendingToken) return pendingToken;
  const dialog = document.getElementById('token-dialog');
  const form = document.getElementById('token-form');
  const input = document.getElementById('token-input');
  const error = document.getElementById('token-error');
  error.textContent = wasRejected ? 'That token was not accepted. Check it and try again.' : '';
  pendingToken = new Promise((resolve) => {
    const submitted = (event) => {
      event.preventDefault();
      const token = input.value.trim();
      if (!token) return;
      sessionStorage.setItem(TOKEN_KEY, token);
      form.removeEventListener('submit', submitted);
      dialog.close();
      pendingToken = null;
      resolve();
    };
    form.addEventListener('submit', submitted);
    // Escape must not leave the page without a way back to the prompt.
    dialog.addEventListener('cancel', (event) => event.preventDefault(), { once: true });
    dialog.showModal();
    input.focus();
  });
  return pendingToken;
}

/** A URL for `path` with the non-empty `params`. */
export function url(path, params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') query.set(name, value);
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/** GET (or POST with `body`) JSON from the API, asking for the token when it is needed. */
export async function getJson(path, params = {}, body = undefined) {
  let rejected = false;
  for (;;) {
    let response;
    try {
      response = await fetch(url(path, params), {
        method: body === undefined ? 'GET' : 'POST',
        headers: { Accept: 'application/json', ...authHeaders(),
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(
        `The gateway at ${location.host} cannot be reached. It may be restarting or the network is down; try again in a moment.`, 0);
    }
    if (response.status === 401) {
      if (sessionStorage.getItem(TOKEN_KEY)) {
        sessionStorage.removeItem(TOKEN_KEY);
        rejected = true;
      }
      await askToken(rejected);
      continue;
    }
    const text = await response.text();
    let parsed = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    if (!response.ok) throw new ApiError(explain(response.status, parsed, text), response.status);
    if (parsed === null) {
      throw new ApiError('The gateway sent an answer this page cannot read (not JSON).', response.status);
    }
    return parsed;
  }
}

function explain(status, parsed, text) {
  const detail = (parsed && parsed.error) || text.slice(0, 200) || 'no detail given';
  switch (status) {
    case 400: return `The gateway did not accept this request: ${detail}.`;
    case 404: return `Not found: ${detail}.`;
    case 408: return 'The gateway took too long to answer. Try a shorter time window.';
    case 502: return `An external source could not be read: ${detail}.`;
    case 503: return `The gateway's store is unavailable right now (${detail}). The page will work again once it is back.`;
    default: return `The gateway answered with an error (HTTP ${status}): ${detail}.`;
  }
}
