// The browser column's per-run service: ONE headless Chromium (Debian's
// `chromium`, or MATRIX_CHROMIUM) for every browser cell of a run, served by
// playwright-core's launchServer. Each cell (hold.mjs with MATRIX_SERVICE set)
// connects to it with chromium.connect() and runs in a browser context of its
// own; when a cell's connection drops — it closed, exited, or was SIGKILLed —
// the server closes every context that connection made, page included.
//
// Service contract (mosquitto-matrix `service = [...]`): the harness starts
// this once per run, in a process group of its own, with stdin a pipe it holds
// open. The first stdout line is `service: <ws endpoint>`, which the harness
// hands every cell of the column as MATRIX_SERVICE. It ends on SIGTERM/SIGINT/
// SIGHUP, or when stdin reaches its end (the harness is gone, even by SIGKILL):
// it closes the browser, removes its temporary folder and exits 0.
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
import { fstatSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { executable, PROFILE_PREFIX, removeStaleProfiles, setupMs, switches, UNSAFE_HIGH_PORTS } from './chromium.mjs';

const require = createRequire(import.meta.url);
const oneLine = (text) => String(text).split(/\s+/).filter(Boolean).join(' ');
const tracing = process.env.MATRIX_BROWSER_TRACE === '1';
const trace = (what) => {
  if (tracing) process.stderr.write(`trace: +${Math.round(performance.now())} ms ${what}\n`);
};
const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

const exe = executable();
let server = null; // playwright BrowserServer
let folder = null; // TMPDIR of the browser and of playwright (profile, artifacts)
let stopping = false;

// Ends the service: closes the browser (bounded), removes the folder, exits.
async function stop(code, line) {
  if (stopping) return;
  stopping = true;
  if (line !== undefined) process.stderr.write(`error: ${oneLine(line)}\n`);
  trace(`stopping (${code})`);
  if (server) {
    const closed = await Promise.race([server.close().then(() => true, () => false), sleep(3000).then(() => false)]);
    if (!closed) {
      try { server.process().kill('SIGKILL'); } catch { /* gone */ }
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
  return spawn.call(this, command, mergeFeatures(args ?? []), { ...options, detached: false });
};

const processGroup = (pid) => {
  // /proc/PID/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
};

try {
  const launchSecs = Number(process.env.MATRIX_BROWSER_LAUNCH_SECS || '30');
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
  server = await chromium.launchServer({
    executablePath: exe,
    headless: true,
    args: [...switches, `--explicitly-allowed-ports=${UNSAFE_HIGH_PORTS.join(',')}`],
    host: '127.0.0.1',
    port: 0,
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
    timeout: setupMs(launchSecs),
  });
  const browserProcess = server.process();
  const ours = processGroup(process.pid);
  const its = processGroup(browserProcess.pid);
  if (its !== ours) throw new Error(`Chromium (pid ${browserProcess.pid}) is in process group ${its}, not the service's ${ours}`);
  browserProcess.once('exit', (code, signal) => {
    if (!stopping) stop(1, `Chromium exited unexpectedly (${signal ?? `code ${code}`})`);
  });
  trace(`listening, Chromium pid ${browserProcess.pid}`);
  process.stdout.write(`service: ${server.wsEndpoint()}\n`);
  process.stdout.write(`browser: ${exe}, pid ${browserProcess.pid}, process group ${its}\n`);
} catch (err) {
  await stop(2, `cannot start the browser: ${err.message}`);
}
