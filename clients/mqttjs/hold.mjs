// Hold program for MQTT.js (npm package `mqtt`, pinned in package.json).
//
// Implements the mosquitto-matrix command-client contract v3 (the README's "The
// command contract"): connect with MQTT 3.1.1 or 5 (MATRIX_PROTOCOL) over WebSocket, over
// WebSocket in TLS (wss://, trusting only MATRIX_CA_FILE through the `ca` option) or TCP,
// subscribe to MATRIX_TOPIC, hold for MATRIX_HOLD_SECS from CONNACK with only
// the library's own keepalive traffic, then publish one QoS-0 message and
// wait for it to come back. reconnectPeriod: 0 disables reconnecting.
//
// `node clients/mqttjs/hold.mjs --version` prints only the `client:` line.
// `--lib DIR` loads MQTT.js from DIR's node_modules: one folder per version, each with its own
// package-lock.json (clients/setup.sh installs clients/mqttjs/5.16.0 into
// target/clients/mqttjs/5.16.0), one program for them all.
//
// The body is `hold(lib, env, sink, exit, options)`: one cell, a function of its environment,
// where its lines go and how it ends. Run as a program, this file calls it once with the process
// environment, stdout/stderr and process.exit; clients/mqttjs/runtime.mjs imports it and calls
// it once per connection, many cells in one Node.js process.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

export const oneLine = (text) => String(text).split(/\s+/).filter(Boolean).join(' ');

/** MQTT.js from DIR's node_modules (`--lib DIR`), else from beside this file: { mqtt, version }. */
export function loadMqtt(dir) {
  const require = dir ? createRequire(resolve(dir, 'package.json')) : createRequire(import.meta.url);
  const version = require('mqtt/package.json').version;
  return { mqtt: require('mqtt'), version };
}

/** The `--lib DIR` of an argv, if any. */
export function libArg(args) {
  const at = args.indexOf('--lib');
  return at >= 0 && args[at + 1] ? args[at + 1] : undefined;
}

// Thrown out of the set-up once a contract end has been given (a process has exited by then).
const STOP = Symbol('stop');

/**
 * One cell. `env`: its MATRIX_* variables; `sink`: { out(line), err(line) } for the lines the
 * contract prints on stdout and stderr; `exit(code)`: called once, when the program would exit.
 * `options.shared` (the runtime): the client is closed abruptly before `exit` is called, as a
 * process exit would close it, and an exception thrown by the set-up is the cell's `error:`
 * and exit 1 (a program dies of it with status 1).
 * Returns { cancel(), fail(message) }: cancel ends the cell at once (its connection closed,
 * its timers cleared, nothing more written, `exit` not called); fail ends it with `error:`.
 */
export function hold(lib, env, sink, exit, options = {}) {
  const shared = Boolean(options.shared);
  const { mqtt, version } = lib;
  let finished = false;
  let client = null;
  let timer = null;
  let bail = null;

  function teardown() {
    clearTimeout(timer);
    clearTimeout(bail);
    if (!client) return;
    try {
      client.end(true);
    } catch {
      // already ended
    }
    if (client.stream && typeof client.stream.destroy === 'function') client.stream.destroy();
  }
  function finish(code, stdoutLine, stderrLine) {
    if (finished) return;
    finished = true;
    if (stdoutLine !== undefined) sink.out(stdoutLine);
    if (stderrLine !== undefined) sink.err('error: ' + oneLine(stderrLine));
    if (shared) teardown();
    exit(code);
  }
  const fail = (message) => finish(2, undefined, message);
  // In the set-up: fail, and stop right there.
  const stop = (message) => {
    fail(message);
    throw STOP;
  };
  const handle = {
    cancel() {
      if (finished) return;
      finished = true;
      teardown();
    },
    fail,
  };

  function envOf(name, fallback) {
    const value = env[name];
    if (value === undefined || value === '') {
      if (fallback !== undefined) return fallback;
      stop(`${name} is not set`);
    }
    return value;
  }
  function envNumber(name, fallback) {
    const raw = envOf(name, fallback);
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0) stop(`${name}=${JSON.stringify(raw)} is not a non-negative number`);
    return value;
  }

  try {
    sink.out(`client: mqtt.js ${version}`);
    setUp();
  } catch (err) {
    if (err === STOP) return handle;
    // A program dies of it with status 1 (the handler below is not yet in place); a runtime
    // ends the cell so.
    if (!shared) throw err;
    finish(1, undefined, `${err.name}: ${err.message}`);
  }
  return handle;

  function setUp() {
    const transport = envOf('MATRIX_TRANSPORT');
    if (transport !== 'ws' && transport !== 'tcp') stop(`MATRIX_TRANSPORT=${transport} is neither ws nor tcp`);
    const host = envOf('MATRIX_HOST');
    const port = Number.parseInt(envOf('MATRIX_PORT'), 10);
    if (!Number.isInteger(port)) stop('MATRIX_PORT is not an integer');
    const path = env.MATRIX_PATH || '/mqtt';
    const username = envOf('MATRIX_USERNAME');
    const password = env.MATRIX_PASSWORD ?? '';
    const clientId = envOf('MATRIX_CLIENT_ID');
    const keepalive = Number.parseInt(envOf('MATRIX_KEEPALIVE_SECS'), 10);
    if (!Number.isInteger(keepalive)) stop('MATRIX_KEEPALIVE_SECS is not an integer');
    const holdSecs = envNumber('MATRIX_HOLD_SECS');
    const roundTripSecs = envNumber('MATRIX_ROUND_TRIP_SECS', '10');
    // Contract v2: the bound on connect + upgrade + CONNACK and on SUBACK, on this clock.
    const setupSecs = envNumber('MATRIX_SETUP_SECS', '20');
    const topic = envOf('MATRIX_TOPIC');
    const payload = `alive ${clientId}`;

    // Contract v3: a TLS route names the only CA to trust.
    const caFile = env.MATRIX_CA_FILE || '';
    let ca;
    if (caFile) {
      try {
        ca = readFileSync(caFile);
      } catch (err) {
        stop(`MATRIX_CA_FILE=${caFile}: ${err.message}`);
      }
    }
    const scheme = ca ? 'wss' : 'ws';
    const url = transport === 'ws' ? `${scheme}://${host}:${port}${path}` : `mqtt://${host}:${port}`;
    // The `ca` option reaches the wss socket through wsOptions (ws hands it to tls.connect,
    // which checks the certificate against the host, an IP address it names).
    const tlsOptions = ca ? { ca, rejectUnauthorized: true } : {};

    // The library's own words for the latest failure: errors it emits, and
    // errors on its stream that it swallows (those without an error code).
    let lastError = null;
    const note = (err) => { if (err && err.message) lastError = oneLine(err.message); };
    const lostWords = (what) => (lastError ? `${what}: ${lastError}` : what);

    let phase = 'connect'; // connect -> subscribe -> hold -> roundtrip -> closing
    let sentAt = 0;

    // Contract v2: MATRIX_PROTOCOL picks the MQTT version (3.1.1 when unset).
    const protocol = env.MATRIX_PROTOCOL || '3.1.1';
    if (protocol !== '3.1.1' && protocol !== '5') stop(`MATRIX_PROTOCOL=${protocol} is neither 3.1.1 nor 5`);
    client = mqtt.connect(url, {
      protocolVersion: protocol === '5' ? 5 : 4,
      clean: true,
      clientId,
      username,
      password,
      keepalive,
      reconnectPeriod: 0,
      connectTimeout: Math.max(1, setupSecs) * 1000,
      // ws: mqtt.js asks for subprotocol 'mqtt' itself, for protocolVersion 4 and 5.
      wsOptions: { ...tlsOptions },
      ...tlsOptions,
    });
    if (client.stream && typeof client.stream.on === 'function') client.stream.on('error', note);

    client.on('error', (err) => {
      note(err);
      if (phase === 'connect') {
        // CONNACK with a non-zero return code: the error carries it as .code.
        if (typeof err.code === 'number' && err.code > 0) finish(1, `refused: ${oneLine(err.message)}`);
        else finish(1, `lost: ${oneLine(err.message)}`);
      }
    });

    client.on('close', () => {
      if (phase === 'closing') return;
      // mqtt.js's 'close' event carries no reason; add the last error it gave.
      finish(1, `lost: ${lastError ? `connection closed: ${lastError}` : "connection closed ('close' event, no error given)"}`);
    });

    client.on('connect', (connack) => {
      if (phase !== 'connect') return;
      const t0 = performance.now();
      if (connack && connack.returnCode) {
        finish(1, `refused: return code ${connack.returnCode}`);
        return;
      }
      phase = 'subscribe';
      clearTimeout(timer);
      timer = setTimeout(() => finish(1, `lost: no SUBACK within ${setupSecs} s`), setupSecs * 1000);
      client.subscribe(topic, { qos: 0 }, (err, granted) => {
        if (finished) return;
        clearTimeout(timer);
        if (err) {
          if (phase !== 'subscribe') return;
          finish(1, `lost: ${oneLine(err.message)}`);
          return;
        }
        if (!granted || !granted[0] || granted[0].qos >= 0x80) {
          fail(`subscription to ${topic} refused by the broker`);
          return;
        }
        phase = 'hold';
        const left = Math.max(0, holdSecs * 1000 - (performance.now() - t0));
        timer = setTimeout(roundTrip, left);
      });
    });

    function roundTrip() {
      phase = 'roundtrip';
      timer = setTimeout(() => finish(1, `lost: no round trip within ${roundTripSecs} s`), roundTripSecs * 1000);
      sentAt = performance.now();
      client.publish(topic, payload, { qos: 0 }, (err) => {
        if (err && !finished) finish(1, `lost: ${oneLine(err.message)}`);
      });
    }

    client.on('message', (t, message) => {
      if (phase !== 'roundtrip' || t !== topic || message.toString() !== payload) return;
      const ms = performance.now() - sentAt;
      clearTimeout(timer);
      phase = 'closing';
      // end(false) sends MQTT DISCONNECT, then closes the stream.
      bail = setTimeout(() => finish(0, `done: round trip ${Math.round(ms)} ms`), 2000);
      client.end(false, {}, () => {
        clearTimeout(bail);
        finish(0, `done: round trip ${Math.round(ms)} ms`);
      });
    });

    // Bound the wait for CONNACK (mqtt.js also has connectTimeout).
    timer = setTimeout(() => {
      if (phase === 'connect') finish(1, `lost: ${lostWords(`no CONNACK within ${setupSecs} s`)}`);
    }, setupSecs * 1000 + 500);
  }
}

/** The program: one cell on the process's environment, stdout/stderr and exit status. */
function main() {
  const args = process.argv.slice(2);
  const out = (line) => process.stdout.write(line + '\n');
  const err = (line) => process.stderr.write(line + '\n');
  let lib;
  try {
    lib = loadMqtt(libArg(args));
  } catch (e) {
    err('error: ' + oneLine(`cannot load mqtt (give --lib target/clients/mqttjs/<version>): ${e.message}`));
    process.exit(2);
  }
  if (args.includes('--version')) {
    out(`client: mqtt.js ${lib.version}`);
    process.exit(0);
  }
  // stdout/stderr writes to pipes and files are synchronous on Linux, so exiting right after
  // the last line loses nothing.
  const cell = hold(lib, process.env, { out, err }, (code) => process.exit(code));
  process.on('uncaughtException', (e) => cell.fail(`${e.name}: ${e.message}`));
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main();
