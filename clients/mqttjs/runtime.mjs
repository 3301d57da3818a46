// The runtime of the MQTT.js column: one Node.js process per MQTT.js version per run, every cell
// of that version in it (the protocol: clients/README.md, "Runtimes").
//
//   node clients/mqttjs/runtime.mjs --lib target/clients/mqttjs/<version>
//
// It listens on 127.0.0.1, port 0, and prints `runtime: 127.0.0.1:PORT` once ready. Each TCP
// connection is a cell: the harness writes the cell's environment as `NAME=VALUE` lines and an
// empty line; hold.mjs's `hold` runs a fresh client with it, every line the hold program would
// print is written back, then `exit: N`, and the connection is closed. The harness ending a cell
// closes its side: the cell's client is then closed at once (its stream destroyed, as a killed
// process's would be), its timers cleared, and nothing more is written. A bad header gets
// `error: <what>` and `exit: 2`. EOF on stdin (the harness is gone) ends the process at once.
//
// Each cell runs in an AsyncLocalStorage context of its own, so an exception thrown from any of
// its callbacks (ours or the library's) reaches `uncaughtException` with its cell: that cell
// ends with `error: <exception>` and exit 2, as the hold program would, and no other notices.
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import net from 'node:net';

import { HEADER_MAX, parseHeader as parseLines } from '../node-runtime/header.mjs';
import { hold, libArg, loadMqtt, oneLine } from './hold.mjs';


let lib;
try {
  lib = loadMqtt(libArg(process.argv.slice(2)));
} catch (e) {
  process.stderr.write('error: ' + oneLine(`cannot load mqtt (give --lib target/clients/mqttjs/<version>): ${e.message}`) + '\n');
  process.exit(2);
}

const cells = new AsyncLocalStorage();
function uncaught(e) {
  const words = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  const cell = cells.getStore();
  if (cell && cell.handle) cell.handle.fail(words);
  else process.stderr.write(`runtime: uncaught outside any cell: ${oneLine(words)}\n`);
}
process.on('uncaughtException', uncaught);
process.on('unhandledRejection', uncaught);

/** The environment in a header, or what is wrong: MQTT.js needs MATRIX_URL too. */
function parseHeader(text) {
  const parsed = parseLines(text);
  if (parsed.env && !parsed.env.MATRIX_URL) return { bad: 'the header has no MATRIX_URL' };
  return parsed;
}

function serve(socket) {
  socket.setNoDelay(true);
  let buf = Buffer.alloc(0);
  let started = false;
  let over = false;
  const context = { handle: null };
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
    if (context.handle) context.handle.cancel();
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
    cells.run(context, () => {
      context.handle = hold(lib, env, { out: write, err: write }, exit, { shared: true });
    });
  });
  // The harness ends a cell by closing (or half-closing) its side.
  socket.on('end', cancel);
  socket.on('close', cancel);
  socket.on('error', cancel);
}

// Before the ready line, one connection as a cell would make, to a peer of this process's own
// on 127.0.0.1 (port 0): its 101, a CONNACK, then its end. MQTT.js requires its WebSocket
// transport, the ws library and its parsers only at the first connect, from disk, and compiles
// them then: measured at ×30 with 8 copies, the event loop of a runtime without this stood
// still 0.86 s (real) as its first cells connected, and three of them sent no upgrade request
// before the broker's 10 s (0.33 s real) handshake timeout. Bounded by WARM_UP_MS; a warm-up
// that fails costs nothing but its time.
const WARM_UP_MS = 3000;
function warmUp(done) {
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

const server = net.createServer({ allowHalfOpen: false }, serve);
warmUp(() => server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`runtime: 127.0.0.1:${server.address().port}\n`);
  // After the ready line: a probe with stdin at its end still reads it.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}));

