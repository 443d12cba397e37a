// The live feed: GET /v1/stream read with fetch (EventSource cannot send the read token),
// parsed as server-sent events, and reopened by itself whenever it ends.

import { askToken, authHeaders, url } from './api.js';

const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 5000;

/**
 * Open the stream; `onEvent(event)` gets each stored event, `onState(state, detail)` hears
 * 'open', 'lagged' and 'retrying'. Returns a function that closes it for good.
 */
export function openStream(params, onEvent, onState) {
  const abort = new AbortController();
  let retry = RETRY_FIRST_MS;
  const run = async () => {
    while (!abort.signal.aborted) {
      try {
        const response = await fetch(url('/v1/stream', params), {
          headers: { Accept: 'text/event-stream', ...authHeaders() },
          signal: abort.signal,
        });
        if (response.status === 401) {
          await askToken(Boolean(authHeaders().Authorization));
          continue;
        }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        onState('open');
        retry = RETRY_FIRST_MS;
        await readEvents(response.body, (type, data) => {
          if (type === 'event') onEvent(JSON.parse(data));
          else if (type === 'lagged') onState('lagged', JSON.parse(data).missed);
        });
        throw new Error('the gateway closed the stream');
      } catch (error) {
        if (abort.signal.aborted) return;
        onState('retrying', error.message);
        await new Promise((resolve) => setTimeout(resolve, retry));
        retry = Math.min(retry * 2, RETRY_MAX_MS);
      }
    }
  };
  run();
  return () => abort.abort();
}

async function readEvents(body, deliver) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) type = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length) deliver(type, data.join('\n'));
    }
  }
}
