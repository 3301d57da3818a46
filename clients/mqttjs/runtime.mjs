// The runtime of the MQTT.js column: one Node.js process per MQTT.js version per run, every cell
// of that version in it (the protocol: clients/README.md, "Runtimes").
//
//   node clients/mqttjs/runtime.mjs --lib target/clients/mqttjs/<version> [--threads N]
//
// It listens on 127.0.0.1, port 0, and prints `runtime: 127.0.0.1:PORT` once ready. Each TCP
// connection is a cell: the harness writes the cell's environment as `NAME=VALUE` lines and an
// empty line; hold.mjs's `hold` runs a fresh client with it, every line the hold program would
// print is written back, then `exit: N`, and the connection is closed. The harness ending a cell
// closes its side: the cell's client is then closed at once (its stream destroyed, as a killed
// process's would be), its timers cleared, and nothing more is written. A bad header gets
// `error: <what>` and `exit: 2`. EOF on stdin (the harness is gone) ends the process at once.
//
// The cells run on N worker threads (`--threads`, default THREADS), each with its own event
// loop and its own copy of MQTT.js; a new cell goes to the thread with the fewest open cells.
// The main thread only reads headers and passes lines. Why: on one event loop, 64 cells (the
// debian set 8 times over at ×30) shared one thread's share of a busy machine's CPU, where a
// JVM's cells each have threads of their own; the last ones' keepalives came 1.5 s (real) late
// and their answers to the brokers' PINGs after the brokers' 10 s window (0.33 s real).
//
// Each cell runs in an AsyncLocalStorage context of its own on its thread, so an exception
// thrown from any of its callbacks (ours or the library's) reaches `uncaughtException` with its
// cell: that cell ends with `error: <exception>` and exit 2, as the hold program would, and no
// other notices. A thread that ends ends the runtime (status 70, its last words on stderr): its
// cells are gone with it, and the harness makes every open cell ERROR with those words.
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

import { HEADER_MAX, parseHeader as parseLines } from '../node-runtime/header.mjs';
import { hold, libArg, loadMqtt, oneLine } from './hold.mjs';

/** How many threads run cells when `--threads` does not say. */
const THREADS = 4;

/** The `--threads N` of an argv (1 to 64), THREADS when absent, or what is wrong. */
function threadsArg(args) {
  const at = args.indexOf('--threads');
  if (at < 0) return { n: THREADS };
  const n = Number(args[at + 1]);
  return Number.isInteger(n) && n >= 1 && n <= 64 ? { n } : { bad: `--threads takes a whole number from 1 to 64, not ${JSON.stringify(args[at + 1] ?? '')}` };
}

function die(words, code) {
  process.stderr.write('error: ' + oneLine(words) + '\n');
  process.exit(code);
}

// ---- a worker thread: runs the cells it is given ----

function worker() {
  let lib;
  try {
    lib = loadMqtt(workerData.lib);
  } catch (e) {
    // The main thread has loaded the same folder already; say it all the same.
    throw new Error(`cannot load mqtt in a worker thread: ${e.message}`);
  }
  const cells = new Map();
  const context = new AsyncLocalStorage();
  function uncaught(e) {
    const words = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    const cell = context.getStore();
    if (cell && cell.handle) cell.handle.fail(words);
    else parentPort.postMessage({ stray: oneLine(words) });
  }
  process.on('uncaughtException', uncaught);
  process.on('unhandledRejection', uncaught);

  parentPort.on('message', (m) => {
    if (m.cancel !== undefined) {
      const cell = cells.get(m.cancel);
      cells.delete(m.cancel);
      if (cell && cell.handle) cell.handle.cancel();
      return;
    }
    const { id, env } = m;
    const cell = { handle: null };
    cells.set(id, cell);
    const line = (text) => {
      if (cells.has(id)) parentPort.postMessage({ id, line: text });
    };
    const exit = (code) => {
      if (!cells.delete(id)) return;
      parentPort.postMessage({ id, exit: code });
    };
    context.run(cell, () => {
      cell.handle = hold(lib, env, { out: line, err: line }, exit, { shared: true });
    });
  });
  warmUp(lib, () => parentPort.postMessage({ ready: true }));
}

// Before a thread takes cells, one connection as a cell would make, to a peer of the thread's
// own on 127.0.0.1 (port 0): its 101, a CONNACK, then its end. MQTT.js requires its WebSocket
// transport, the ws library and its parsers only at the first connect, from disk, and compiles
// them then: measured at ×30 with 8 copies, the event loop of a runtime without this stood
// still 0.86 s (real) as its first cells connected, and three of them sent no upgrade request
// before the broker's 10 s (0.33 s real) handshake timeout. Bounded by WARM_UP_MS; a warm-up
// that fails costs nothing but its time.
const WARM_UP_MS = 3000;
function warmUp(lib, done) {
  const peer = net.createServer((socket) => {
    let head = '';
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      if (head === null) return;
      head += chunk.toString('latin1');
      const key = /sec-websocket-key:\s*(\S+)/i.exec(head);
      if (!head.includes('\r\n\r\n') || !key) return;
      head = null;
      const accept = createHash('sha1').update(key[1] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n`);
      // CONNACK, session not present, accepted; then the end.
      socket.end(Buffer.from([0x82, 0x04, 0x20, 0x02, 0x00, 0x00]));
    });
  });
  let over = false;
  const finish = (client) => {
    if (over) return;
    over = true;
    clearTimeout(bound);
    if (client) client.end(true);
    peer.close();
    done();
  };
  const bound = setTimeout(() => finish(null), WARM_UP_MS);
  peer.on('error', () => finish(null));
  peer.listen(0, '127.0.0.1', () => {
    let client;
    try {
      client = lib.mqtt.connect(`ws://127.0.0.1:${peer.address().port}/mqtt`, { clientId: 'warm-up', reconnectPeriod: 0, keepalive: 0 });
    } catch {
      finish(null);
      return;
    }
    client.on('error', () => {});
    client.once('close', () => finish(client));
  });
}

// ---- the main thread: headers in, lines out ----

/** The environment in a header, or what is wrong: MQTT.js needs MATRIX_URL too. */
function parseHeader(text) {
  const parsed = parseLines(text);
  if (parsed.env && !parsed.env.MATRIX_URL) return { bad: 'the header has no MATRIX_URL' };
  return parsed;
}

function main() {
  const args = process.argv.slice(2);
  const lib = libArg(args);
  try {
    loadMqtt(lib);
  } catch (e) {
    die(`cannot load mqtt (give --lib target/clients/mqttjs/<version>): ${e.message}`, 2);
  }
  const { n, bad } = threadsArg(args);
  if (bad) die(bad, 2);

  // Per thread: its Worker and its open cells (id -> { line(text), exit(code) }).
  const threads = [];
  let nextId = 0;
  let waiting = n;
  const server = net.createServer({ allowHalfOpen: false }, serve);

  for (let i = 0; i < n; i += 1) {
    const w = new Worker(new URL(import.meta.url), { workerData: { lib } });
    const thread = { w, open: new Map() };
    threads.push(thread);
    w.on('message', (m) => {
      if (m.ready) {
        waiting -= 1;
        if (waiting === 0) listen();
        return;
      }
      if (m.stray !== undefined) {
        process.stderr.write(`runtime: uncaught outside any cell on thread ${i + 1}: ${m.stray}\n`);
        return;
      }
      const cell = thread.open.get(m.id);
      if (!cell) return;
      if (m.line !== undefined) cell.line(m.line);
      else if (m.exit !== undefined) {
        thread.open.delete(m.id);
        cell.exit(m.exit);
      }
    });
    // A thread that ends (an error outside any cell, memory) takes its cells with it: the
    // runtime ends, and the harness makes its open cells ERROR with these words.
    w.on('error', (e) => die(`runtime: worker thread ${i + 1} of ${n} ended: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, 70));
    w.on('exit', (code) => die(`runtime: worker thread ${i + 1} of ${n} exited ${code}`, 70));
  }

  function listen() {
    server.listen(0, '127.0.0.1', () => {
      process.stdout.write(`runtime: 127.0.0.1:${server.address().port}\n`);
      // After the ready line: a probe with stdin at its end still reads it.
      process.stdin.on('end', () => process.exit(0));
      process.stdin.on('error', () => process.exit(0));
      process.stdin.resume();
    });
  }

  function serve(socket) {
    socket.setNoDelay(true);
    let buf = Buffer.alloc(0);
    let started = false;
    let over = false;
    let placed = null; // { thread, id } once the cell is on a thread
    const write = (line) => {
      if (!over) socket.write(line + '\n');
    };
    const exit = (code) => {
      if (over) return;
      write(`exit: ${code}`);
      over = true;
      // Closed, not half-closed: once `exit:` is flushed, the connection is gone.
      socket.end(() => socket.destroy());
    };
    const cancel = () => {
      if (over) return;
      over = true;
      if (placed) {
        placed.thread.open.delete(placed.id);
        placed.thread.w.postMessage({ cancel: placed.id });
      }
      socket.destroy();
    };
    socket.on('data', (chunk) => {
      if (started || over) return; // nothing is read after the header
      buf = Buffer.concat([buf, chunk]);
      // The header ends at its first empty line: a leading "\n", or "\n\n".
      const end = buf[0] === 0x0a ? 0 : buf.indexOf('\n\n');
      if (end < 0 || end > HEADER_MAX) {
        if (end > HEADER_MAX || buf.length > HEADER_MAX) {
          write(`error: no empty line within the header's ${HEADER_MAX} bytes`);
          exit(2);
        }
        return;
      }
      started = true;
      const { env, bad } = end === 0 ? { bad: 'the header has no MATRIX_URL' } : parseHeader(buf.subarray(0, end).toString('utf8'));
      buf = null;
      if (bad) {
        write(`error: ${bad}`);
        exit(2);
        return;
      }
      // The thread with the fewest open cells (the first of them on a tie).
      const thread = threads.reduce((a, b) => (b.open.size < a.open.size ? b : a));
      const id = nextId;
      nextId += 1;
      placed = { thread, id };
      thread.open.set(id, { line: write, exit });
      thread.w.postMessage({ id, env });
    });
    // The harness ends a cell by closing (or half-closing) its side.
    socket.on('end', cancel);
    socket.on('close', cancel);
    socket.on('error', cancel);
  }
}

if (isMainThread) main();
else worker();
