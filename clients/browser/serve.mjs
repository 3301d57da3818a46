// The browser column's per-run service: ONE headless Chromium (Debian's
// `chromium`, or MATRIX_CHROMIUM) for every browser cell of a run, driven by
// playwright-core in this program. Each cell (hold.mjs with MATRIX_SERVICE
// set) connects over loopback TCP and gets a browser context of its own with
// its page (session.mjs); this program relays what the page reports to the
// cell. When a cell's connection ends — it finished, exited, or was SIGKILLed
// — its context is closed, page included. So a cell is a small Node.js
// without playwright, and a page is all a cell costs in the browser.
//
// Cell protocol (one JSON object a line, both ways): the cell sends
// {"token", "cfg"} (cfg as hold.mjs builds it); the service answers
// {"t":"client","text":"Chromium ... + mqtt.js ... (browser bundle)"} once
// the page is loaded and the session started, then {"t":"report","kind",
// "text"} for each report of the page, {"t":"console","text"} for the
// browser's words about a failed WebSocket, {"t":"fail","text"} when the page
// cannot start or breaks.
//
// With --runtime (mosquitto-matrix `runtime = [...]`, runtime mode, the
// default) the same browser serves the runtime protocol instead: it prints
// `runtime: 127.0.0.1:PORT`, and each connection is a whole cell (no hold.mjs
// process per cell): its header, a session in a page that holds up to 8, the
// contract's lines and `exit: N` (runtimeCell below; contract.mjs has what
// hold.mjs shares).
//
// Service contract (mosquitto-matrix `service = [...]`): the harness starts
// this once per run, in a process group of its own, with stdin a pipe it holds
// open. The first stdout line is `service: 127.0.0.1:PORT/TOKEN`, which the
// harness hands every cell of the column as MATRIX_SERVICE. It ends on
// SIGTERM/SIGINT/SIGHUP, or when stdin reaches its end (the harness is gone,
// even by SIGKILL): it closes the browser, removes its temporary folder and
// exits 0.
//
// Chromium stays in this program's process group: playwright's launch starts
// the browser detached (a process group of its own, so that it can kill the
// group); here that one spawn is made without `detached`, so the harness's
// SIGTERM/SIGKILL of the service's group reaches the browser as well. The
// group is checked after the launch (the service fails if it differs).
// Playwright also talks to Chromium over a pipe (--remote-debugging-pipe):
// if this program alone dies, the pipe closes and Chromium exits.
//
// Optional: MATRIX_CHROMIUM, MATRIX_BROWSER_LAUNCH_SECS (default 30, real time
// also under a preloaded libfaketime),
// MATRIX_BROWSER_TRACE=1 (timestamped progress on stderr).
import { randomBytes } from 'node:crypto';
import { fstatSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { caSwitches, executable, PROFILE_PREFIX, removeStaleProfiles, setupMs, switches, UNSAFE_HIGH_PORTS } from './chromium.mjs';
import { configFrom, guardSecs, outcome } from './contract.mjs';
import { openPage, startHold, stopHold } from './session.mjs';

const require = createRequire(import.meta.url);
const oneLine = (text) => String(text).split(/\s+/).filter(Boolean).join(' ');
const tracing = process.env.MATRIX_BROWSER_TRACE === '1';
const trace = (what) => {
  if (tracing) process.stderr.write(`trace: +${Math.round(performance.now())} ms ${what}\n`);
};
const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

const exe = executable();
let browser = null; // playwright Browser, in process
let chrome = null; // its Chromium process
let listener = null; // the cells' TCP listener
let folder = null; // TMPDIR of the browser and of playwright (profile, artifacts)
let stopping = false;

// Ends the service: closes the browser (bounded), removes the folder, exits.
async function stop(code, line) {
  if (stopping) return;
  stopping = true;
  if (line !== undefined) process.stderr.write(`error: ${oneLine(line)}\n`);
  trace(`stopping (${code})`);
  if (listener) listener.close();
  if (browser) {
    const closed = await Promise.race([browser.close().then(() => true, () => false), sleep(3000).then(() => false)]);
    if (!closed && chrome) {
      try { chrome.kill('SIGKILL'); } catch { /* gone */ }
    }
  }
  if (folder) {
    try { rmSync(folder, { recursive: true, force: true }); } catch { /* best effort */ }
  }
  trace('stopped');
  process.exit(code);
}

for (const [signal, number] of [['SIGTERM', 15], ['SIGINT', 2], ['SIGHUP', 1]]) {
  process.on(signal, () => { trace(signal); stop(signal === 'SIGTERM' ? 0 : 128 + number); });
}
process.on('uncaughtException', (err) => stop(2, `${err.name}: ${err.message}`));
process.on('unhandledRejection', (err) => stop(2, `unhandled rejection: ${err && err.message ? err.message : err}`));

// The harness holds our stdin open for the run; its end means the run is over
// (or the harness died). /dev/null or a terminal are not watched.
try {
  const st = fstatSync(0);
  if (st.isFIFO() || st.isSocket()) {
    process.stdin.on('end', () => { trace('stdin closed'); stop(0); });
    process.stdin.on('error', () => stop(0));
    process.stdin.resume();
  }
} catch { /* no stdin */ }

// Chromium keeps only the last --disable-features it is given: playwright's
// list and ours become one.
function mergeFeatures(args) {
  const flag = '--disable-features=';
  const features = args.filter((a) => a.startsWith(flag)).flatMap((a) => a.slice(flag.length).split(','));
  const rest = args.filter((a) => !a.startsWith(flag));
  return features.length ? [...rest, flag + [...new Set(features.filter(Boolean))].join(',')] : rest;
}

// Playwright spawns the browser with `detached: true`; this one spawn, of our
// browser, keeps it in our process group instead (see the top).
const childProcess = require('node:child_process');
const spawn = childProcess.spawn;
childProcess.spawn = function spawnInOurGroup(command, args, options) {
  if (command !== exe) return spawn.call(this, command, args, options);
  chrome = spawn.call(this, command, mergeFeatures(args ?? []), { ...options, detached: false });
  return chrome;
};

const processGroup = (pid) => {
  // /proc/PID/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
};

let launchSecs = 30;
const token = randomBytes(16).toString('hex');

// One cell: its context and page, for as long as its connection lasts.
function cell(socket) {
  let context = null;
  let closed = false;
  let buffered = '';
  let started = false;
  const send = (message) => {
    if (!socket.destroyed) socket.write(`${JSON.stringify(message)}\n`);
  };
  const fail = (text) => send({ t: 'fail', text });
  socket.setEncoding('utf8');
  socket.on('error', () => socket.destroy());
  socket.on('close', () => {
    closed = true;
    trace('a cell left');
    if (context) context.close().catch(() => {});
  });
  socket.on('data', (chunk) => {
    if (started) return;
    buffered += chunk;
    const end = buffered.indexOf('\n');
    if (end < 0) {
      if (buffered.length > 65536) socket.destroy();
      return;
    }
    started = true;
    let ask;
    try {
      ask = JSON.parse(buffered.slice(0, end));
    } catch {
      socket.destroy();
      return;
    }
    if (!ask || ask.token !== token || typeof ask.cfg !== 'object') {
      socket.destroy();
      return;
    }
    open(ask.cfg);
  });
  async function open(cfg) {
    try {
      const made = await browser.newContext();
      context = made;
      if (closed) {
        await made.close().catch(() => {});
        return;
      }
      const { page, version } = await openPage(made, setupMs(launchSecs), {
        report: (kind, text) => send({ t: 'report', kind, text }),
        console: (text) => send({ t: 'console', text }),
        fail,
      });
      if (closed) return;
      send({ t: 'client', text: `Chromium ${browser.version()} + mqtt.js ${version} (browser bundle)` });
      trace(`a cell's page for ${cfg.url}`);
      await startHold(page, cfg);
    } catch (err) {
      if (!closed) fail(`cannot start the page: ${oneLine(err.message)}`);
    }
  }
}

// The runtime protocol (serve.mjs --runtime; the book's "The runtime
// protocol"): one cell per connection, its header the contract's variables as
// NAME=VALUE lines and an empty line; then the lines hold.mjs would print
// (contract.mjs says which), and `exit: N`. The harness closing its side ends
// the cell: its session is stopped in its page at once.
//
// A page (a browser context of its own) holds up to PAGE_CELLS cells at once,
// each its own MQTT.js client on its own WebSocket (page.html), since a page
// costs Chromium 0.45 s of CPU (0.8 s under the time library) and a session in
// an open page almost nothing. A page that breaks (an uncaught error in it, a
// crashed renderer) ends every cell it holds as ERROR with its words: which of
// its sessions threw cannot be told. The browser's words about a failed
// WebSocket go to the cell whose URL (its own proxy port) they name.
const HEADER_MAX = 64 * 1024;
const PAGE_CELLS = 8;

function parseHeader(text) {
  const env = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i += 1) {
    const eq = lines[i].indexOf('=');
    if (eq <= 0) return { bad: `header line ${i + 1} is not NAME=VALUE: ${JSON.stringify(lines[i])}` };
    env[lines[i].slice(0, eq)] = lines[i].slice(eq + 1);
  }
  return { env };
}

// The open pages, each { ready (a promise of { page, version }), cells (a Map
// of cell id to its handlers), taken (slots promised, open cells included),
// broken }.
const pages = [];
let cellCount = 0;

// A page with room for one more cell: one already open or opening, else a new one.
function pageWithRoom() {
  let host = pages.find((h) => !h.broken && h.taken < PAGE_CELLS);
  if (!host) {
    host = { cells: new Map(), taken: 0, broken: false, ready: null, context: null };
    const breakAll = (text) => {
      if (host.broken) return;
      host.broken = true;
      pages.splice(pages.indexOf(host), 1);
      for (const c of host.cells.values()) c.fail(text);
      if (host.context) host.context.close().catch(() => {});
    };
    host.ready = (async () => {
      host.context = await browser.newContext();
      return openPage(host.context, setupMs(launchSecs), {
        report: (kind, text, cell) => { const c = host.cells.get(cell); if (c) c.report(kind, text); },
        console: (text) => { for (const c of host.cells.values()) if (text.includes(c.url)) c.console(text); },
        fail: breakAll,
      });
    })();
    host.ready.catch((err) => breakAll(`cannot start the browser: ${err.message}`));
    pages.push(host);
  }
  host.taken += 1;
  return host;
}

function runtimeCell(socket) {
  const id = `c${cellCount += 1}`;
  let host = null;
  let over = false;
  let header = '';
  let guard = null;
  let lastConsoleError = null;
  const leave = () => {
    clearTimeout(guard);
    if (!host) return;
    const held = host.cells.delete(id);
    host.taken -= 1;
    if (held && !host.broken) host.ready.then(({ page }) => stopHold(page, id)).catch(() => {});
  };
  const end = (lines, code) => {
    if (over) return;
    over = true;
    leave();
    if (!socket.destroyed) socket.end(`${[...lines, `exit: ${code}`].join('\n')}\n`);
  };
  const fail = (text) => end([`error: ${oneLine(text)}`], 2);
  socket.setEncoding('utf8');
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  socket.on('close', () => {
    trace('a cell left');
    if (over) return;
    over = true;
    leave();
  });
  socket.on('data', (chunk) => {
    if (header === null) return;
    header += chunk;
    const at = header.indexOf('\n\n');
    if (at < 0) {
      if (header.length > HEADER_MAX) { header = null; fail(`no empty line within ${HEADER_MAX} bytes`); }
      return;
    }
    const { env, bad } = parseHeader(header.slice(0, at));
    header = null;
    if (bad) { fail(bad); return; }
    let cfg;
    try {
      cfg = configFrom(env);
    } catch (err) {
      fail(err.message);
      return;
    }
    play({ ...cfg, cell: id });
  });
  async function play(cfg) {
    host = pageWithRoom();
    host.cells.set(id, {
      url: cfg.url,
      report: (kind, text) => {
        const ended = outcome(kind, text, lastConsoleError);
        if (!ended || over) return;
        if (ended.error !== undefined) fail(ended.error);
        else end([ended.line], ended.code);
      },
      console: (text) => { lastConsoleError = text; },
      fail: (text) => { if (!over) fail(text); },
    });
    try {
      const { page, version } = await host.ready;
      if (over) return;
      socket.write(`client: Chromium ${browser.version()} + mqtt.js ${version} (browser bundle)\n`);
      const secs = guardSecs(cfg);
      guard = setTimeout(() => fail(`the page reported no outcome within ${secs} s`), secs * 1000);
      await startHold(page, cfg);
    } catch (err) {
      if (!over) fail(`cannot start the session in the page: ${err.message}`);
    }
  }
}

try {
  launchSecs = Number(process.env.MATRIX_BROWSER_LAUNCH_SECS || '30');
  if (!Number.isFinite(launchSecs) || launchSecs <= 0) {
    throw new Error(`MATRIX_BROWSER_LAUNCH_SECS=${JSON.stringify(process.env.MATRIX_BROWSER_LAUNCH_SECS)} is not a positive number`);
  }
  try { removeStaleProfiles(); } catch { /* best effort */ }
  folder = mkdtempSync(join(tmpdir(), `${PROFILE_PREFIX}${process.pid}-`));
  // Playwright's profile and artifacts folders, and Chromium's own temporary
  // files, all go under ours.
  process.env.TMPDIR = folder;
  const { chromium } = require('playwright-core');
  trace(`launching ${exe}`);
  browser = await chromium.launch({
    executablePath: exe,
    headless: true,
    // A run with a TLS route starts the service with MATRIX_CA_FILE: every page
    // of this browser then accepts the run's certificates (chromium.mjs).
    args: [...switches, `--explicitly-allowed-ports=${UNSAFE_HIGH_PORTS.join(',')}`, ...caSwitches()],
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
    timeout: setupMs(launchSecs),
  });
  if (!chrome) throw new Error(`playwright did not start ${exe} itself`);
  const ours = processGroup(process.pid);
  const its = processGroup(chrome.pid);
  if (its !== ours) throw new Error(`Chromium (pid ${chrome.pid}) is in process group ${its}, not the service's ${ours}`);
  browser.on('disconnected', () => {
    if (!stopping) stop(1, 'Chromium exited unexpectedly');
  });
  const runtime = process.argv.slice(2).includes('--runtime');
  listener = createServer(runtime ? runtimeCell : cell);
  await new Promise((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(0, '127.0.0.1', resolve);
  });
  const { port } = listener.address();
  trace(`listening on 127.0.0.1:${port}, Chromium pid ${chrome.pid}`);
  process.stdout.write(runtime ? `runtime: 127.0.0.1:${port}\n` : `service: 127.0.0.1:${port}/${token}\n`);
  process.stdout.write(`browser: Chromium ${browser.version()} (${exe}), pid ${chrome.pid}, process group ${its}\n`);
} catch (err) {
  await stop(2, `cannot start the browser: ${err.message}`);
}
