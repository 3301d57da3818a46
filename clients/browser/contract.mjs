// What the browser column's two ways of running a cell share: hold.mjs (a
// process per cell, under the command contract) and serve.mjs --runtime (every
// cell of a run in the run's one browser, under the runtime protocol). Both
// read the contract's variables into the page's settings here, and turn what
// the page reports (window.matrixReport) into the contract's lines and exit
// statuses here, so that a cell says the same words either way.

const oneLine = (text) => String(text).split(/\s+/).filter(Boolean).join(' ');

// The page's settings from the contract's variables (`env`: process.env, or a
// runtime cell's header). Throws an Error that says which variable is wrong.
export function configFrom(env) {
  const get = (name, fallback) => {
    const value = env[name];
    if (value === undefined || value === '') {
      if (fallback !== undefined) return fallback;
      throw new Error(`${name} is not set`);
    }
    return value;
  };
  const number = (name, fallback) => {
    const raw = get(name, fallback);
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0) throw new Error(`${name}=${JSON.stringify(raw)} is not a non-negative number`);
    return value;
  };
  const transport = get('MATRIX_TRANSPORT');
  if (transport === 'tcp') {
    throw new Error('MATRIX_TRANSPORT=tcp: a browser has no plain-TCP MQTT, this client is WebSocket only (ws)');
  }
  if (transport !== 'ws') throw new Error(`MATRIX_TRANSPORT=${transport} is not ws`);
  const host = get('MATRIX_HOST');
  const port = Number.parseInt(get('MATRIX_PORT'), 10);
  if (!Number.isInteger(port)) throw new Error('MATRIX_PORT is not an integer');
  const path = env.MATRIX_PATH || '/mqtt';
  const keepalive = Number.parseInt(get('MATRIX_KEEPALIVE_SECS'), 10);
  if (!Number.isInteger(keepalive)) throw new Error('MATRIX_KEEPALIVE_SECS is not an integer');
  const clientId = get('MATRIX_CLIENT_ID');
  // Contract v3: wss:// on a TLS route, the run's CA trusted by the browser's
  // switch (chromium.mjs caSwitches: a browser of its own takes it from this
  // environment, the run's browser from its own at launch).
  const scheme = env.MATRIX_CA_FILE ? 'wss' : 'ws';
  return {
    url: `${scheme}://${host}:${port}${path}`,
    port,
    username: get('MATRIX_USERNAME'),
    password: env.MATRIX_PASSWORD ?? '',
    clientId,
    keepalive,
    holdSecs: number('MATRIX_HOLD_SECS'),
    roundTripSecs: number('MATRIX_ROUND_TRIP_SECS', '10'),
    topic: get('MATRIX_TOPIC'),
    payload: `alive ${clientId}`,
  };
}

// How long a cell may go without an outcome from its page before it is ended
// (hold + round trip + CONNACK/SUBACK waits + slack), in seconds of the
// cell's clock: the page bounds every wait itself, this is the last resort.
export const guardSecs = (cfg) => cfg.holdSecs + 3 * cfg.roundTripSecs + 15;

// What a report of the page means for the cell: nothing yet (null), or its end
// as { code, line } (a contract line on stdout) or { code: 2, error } (words
// for stderr). `consoleWords` is the browser's last words about a failed
// WebSocket, added to a `lost:` that does not already say them.
export function outcome(kind, text, consoleWords) {
  switch (kind) {
    case 'connack': case 'suback': case 'publish': return null;
    case 'done': return { code: 0, line: `done: round trip ${text} ms` };
    case 'refused': return { code: 1, line: `refused: ${text}` };
    case 'lost': {
      const words = consoleWords && !text.includes(consoleWords) ? `${text}; browser console: ${consoleWords}` : text;
      return { code: 1, line: `lost: ${words}` };
    }
    default: return { code: 2, error: oneLine(`page: ${text}`) };
  }
}
