// Hold program for a real browser: headless Chromium (Debian's `chromium`,
// driven over CDP by `playwright-core`) running MQTT.js's browser bundle
// (`mqtt` dist/mqtt.min.js), both pinned in package-lock.json.
//
// Implements the mosquitto-matrix command-client contract v1 (see
// clients/README.md). The MQTT session runs inside the page (page.html, opened
// as file://) over the browser's native WebSocket, so the browser itself
// answers libwebsockets' WebSocket PING; this program only starts Chromium,
// hands the page the contract's settings, turns what the page reports
// (window.matrixReport) into the contract's lines and closes the browser on
// every exit path. WebSocket only: MATRIX_TRANSPORT=tcp is an error (exit 2).
//
// With MATRIX_SERVICE set (the browser column's per-run service, serve.mjs,
// printed it), the cell starts no browser and loads no playwright: it asks the
// run's one Chromium, over loopback TCP, for a fresh browser context of its
// own with its page (serve.mjs opens it and relays what the page reports), and
// ends its connection on every exit path; the service then closes the context,
// also when this program is killed (its connection ends with it).
//
// Without MATRIX_SERVICE (`--client`, by hand, `--version`), it starts a
// Chromium of its own. That one is spawned here, not by playwright's launch(),
// which starts it detached (a process group of its own): spawned from here it
// stays in this program's process group, so the harness's kill of that group
// at its bound ends the browser too. playwright-core attaches with
// connectOverCDP to the DevTools endpoint Chromium prints (loopback, port
// chosen by the kernel).
//
// `node clients/browser/hold.mjs --version` prints only the `client:` line
// (it starts the browser to read its version).
// Set-up bounds are real time, also under a preloaded libfaketime.
// Optional: MATRIX_SERVICE (a browser to connect to, see above),
// MATRIX_CHROMIUM (default /usr/bin/chromium), MATRIX_BROWSER_TRACE=1
// (timestamped progress on stderr), MATRIX_BROWSER_LAUNCH_SECS (default 30).
import { spawn } from 'node:child_process';
import { connect as connectTcp } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { caSwitches, executable, PROFILE_PREFIX, removeStaleProfiles, setupMs, switches } from './chromium.mjs';
import { configFrom, guardSecs, outcome } from './contract.mjs';
import { openPage, startHold } from './session.mjs';

const require = createRequire(import.meta.url);

const oneLine = (text) => String(text).split(/\s+/).filter(Boolean).join(' ');
const out = (line) => process.stdout.write(line + '\n');
const tracing = process.env.MATRIX_BROWSER_TRACE === '1';
const trace = (what) => {
  if (tracing) process.stderr.write(`trace: +${Math.round(performance.now())} ms ${what}\n`);
};

// ------------------------------------------------------------- the browser ---
let chrome = null; // the Chromium child process
let chromeExited = null; // resolves when it has exited
let userDataDir = null;
let browser = null; // playwright Browser (CDP), a browser of our own
let socket = null; // the connection to the service: our context lives as long as it does
let stderrTail = [];
// `--version` always starts a browser of its own.
const service = process.argv.slice(2).includes('--version') ? '' : (process.env.MATRIX_SERVICE || '');

async function closeBrowser() {
  if (service) {
    // Ending the connection ends the context (and its page) in the service.
    if (socket && !socket.destroyed) {
      const closed = new Promise((resolve) => { socket.once('close', resolve); });
      socket.end();
      await Promise.race([closed, sleep(2000)]);
      socket.destroy();
    }
    return;
  }
  if (chrome && chrome.exitCode === null && chrome.signalCode === null) {
    // SIGTERM: Chromium shuts down its own children (renderer, utilities).
    try { chrome.kill('SIGTERM'); } catch { /* gone */ }
    const gone = await Promise.race([chromeExited.then(() => true), sleep(2000).then(() => false)]);
    if (!gone) {
      try { chrome.kill('SIGKILL'); } catch { /* gone */ }
      await Promise.race([chromeExited, sleep(1000)]);
    }
  }
  if (userDataDir) {
    try { rmSync(userDataDir, { recursive: true, force: true }); } catch { /* best effort */ }
  }
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// Ends the program: prints the line, closes the browser, exits. Its promise
// never resolves, so a caller that awaits it goes no further; once one
// finish has begun, later calls do nothing.
const never = new Promise(() => {});
let finishing = false;
async function finish(code, stdoutLine, stderrLine) {
  if (finishing) return never;
  finishing = true;
  if (stdoutLine !== undefined) out(stdoutLine);
  if (stderrLine !== undefined) process.stderr.write('error: ' + oneLine(stderrLine) + '\n');
  trace(`exit ${code}, closing the browser`);
  await closeBrowser();
  trace('browser closed');
  // stdout/stderr writes to pipes and files are synchronous on Linux.
  process.exit(code);
  return never;
}
const fail = (message) => finish(2, undefined, message);

// The harness ends a cell's process group with SIGTERM (then SIGKILL): the
// browser is in the group and gets the signal as well; this waits for it.
for (const [signal, number] of [['SIGTERM', 15], ['SIGINT', 2], ['SIGHUP', 1]]) {
  process.on(signal, () => { trace(`${signal}`); finish(128 + number); });
}
process.on('uncaughtException', (err) => fail(`${err.name}: ${err.message}`));
process.on('unhandledRejection', (err) => {
  if (!finishing) fail(`unhandled rejection: ${err && err.message ? err.message : err}`);
});

async function launch(exe, launchSecs, port) {
  try { removeStaleProfiles(); } catch { /* best effort */ }
  userDataDir = mkdtempSync(join(tmpdir(), `${PROFILE_PREFIX}${process.pid}-`));
  const args = [
    ...switches,
    // Chromium refuses some ports (e.g. 1, 6000, 10080: net::ERR_UNSAFE_PORT).
    ...(port ? [`--explicitly-allowed-ports=${port}`] : []),
    `--user-data-dir=${userDataDir}`,
    ...caSwitches(),
    '--remote-debugging-address=127.0.0.1',
    '--remote-debugging-port=0',
    // Also a DevTools pipe on fds 3/4 that nothing uses: when this program
    // dies, even by SIGKILL to it alone, the pipe closes and Chromium exits.
    '--remote-debugging-pipe',
    'about:blank',
  ];
  trace(`spawning ${exe}`);
  // Not detached: the browser stays in this process group. stdout is not
  // ours either (the harness reads our pipes until they close).
  chrome = spawn(exe, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], detached: false });
  chromeExited = new Promise((resolve) => { chrome.once('exit', resolve); });
  const endpoint = await new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(
      () => reject(new Error(`Chromium printed no DevTools endpoint within ${launchSecs} s (real time)`)),
      setupMs(launchSecs),
    );
    chrome.once('error', (err) => { clearTimeout(timer); reject(err); });
    chrome.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`Chromium exited (${signal ?? `code ${code}`}) before it listened`));
    });
    chrome.stderr.setEncoding('utf8');
    chrome.stderr.on('data', (chunk) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop();
      for (const line of lines) {
        if (line.trim()) stderrTail = [...stderrTail.slice(-4), oneLine(line).slice(0, 300)];
        const m = /DevTools listening on (ws:\/\/\S+)/.exec(line);
        if (m) { clearTimeout(timer); resolve(m[1]); }
      }
    });
  });
  trace(`DevTools endpoint ${endpoint}`);
  chrome.once('exit', (code, signal) => {
    if (!finishing) fail(`Chromium exited unexpectedly (${signal ?? `code ${code}`}): ${stderrTail.join(' | ')}`);
  });
  const { chromium } = require('playwright-core');
  browser = await chromium.connectOverCDP(endpoint, { timeout: setupMs(launchSecs) });
  browser.on('disconnected', () => { if (!finishing) fail('the browser disconnected'); });
  trace(`connected over CDP, ${browser.version()}`);
  return browser;
}

// The run's shared browser (MATRIX_SERVICE=HOST:PORT/TOKEN): asks the
// service for a page of our own and relays what it says (see serve.mjs).
// Resolves with the `client:` text once the session has started in the page.
function viaService(value, launchSecs, on) {
  const m = /^([^:/]+):(\d+)\/(\w+)$/.exec(value);
  if (!m) return Promise.reject(new Error(`MATRIX_SERVICE=${JSON.stringify(value)} is not HOST:PORT/TOKEN`));
  const [, host, port, token] = m;
  trace(`asking the browser service at ${host}:${port} for a page`);
  return new Promise((resolve, reject) => {
    let ready = false;
    let buffered = '';
    const timer = setTimeout(
      () => reject(new Error(`the browser service opened no page within ${launchSecs} s (real time)`)),
      setupMs(launchSecs),
    );
    socket = connectTcp({ host, port: Number(port) }, () => {
      socket.write(`${JSON.stringify({ token, cfg })}\n`);
    });
    socket.setEncoding('utf8');
    socket.on('error', (err) => {
      if (!ready) reject(new Error(`cannot reach the browser service at ${host}:${port}: ${err.message}`));
      else if (!finishing) fail(`the browser service connection failed: ${err.message}`);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (!ready) reject(new Error('the browser service closed the connection before the page was open'));
      else if (!finishing) fail('the browser service closed the connection');
    });
    socket.on('data', (chunk) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop();
      for (const line of lines) {
        let message;
        try { message = JSON.parse(line); } catch { fail(`the browser service said ${JSON.stringify(line.slice(0, 200))}`); return; }
        if (message.t === 'client' && !ready) {
          ready = true;
          clearTimeout(timer);
          resolve(message.text);
        } else if (message.t === 'report') {
          on.report(message.kind, message.text);
        } else if (message.t === 'console') {
          on.console(message.text);
        } else if (message.t === 'fail') {
          if (!ready) { clearTimeout(timer); reject(new Error(message.text)); } else on.fail(message.text);
        }
      }
    });
  });
}

// ---------------------------------------------------------------- the run ---
const isVersion = process.argv.slice(2).includes('--version');

function env(name, fallback) {
  const value = process.env[name];
  if (value === undefined || value === '') {
    if (fallback !== undefined) return fallback;
    throw new Error(`${name} is not set`);
  }
  return value;
}
function envNumber(name, fallback) {
  const raw = env(name, fallback);
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name}=${JSON.stringify(raw)} is not a non-negative number`);
  return value;
}

let cfg = null;
if (!isVersion) {
  try {
    cfg = configFrom(process.env);
  } catch (err) {
    await fail(err.message);
  }
}

let launchSecs = 30;
let lastConsoleError = null;
let page = null; // our page, in a browser of our own
let library;
// What the page says, whichever browser it is in.
const pageSays = {
  report: (kind, text) => onReport(kind, text),
  console: (text) => { lastConsoleError = text; },
  fail: (text) => { if (!finishing) fail(text); },
};
try {
  launchSecs = envNumber('MATRIX_BROWSER_LAUNCH_SECS', '30');
  if (service) {
    // The service opens the page and starts the session in it.
    library = await viaService(service, launchSecs, pageSays);
  } else {
    await launch(executable(), launchSecs, cfg && cfg.port);
    const own = browser.contexts()[0] ?? await browser.newContext();
    const opened = await openPage(own, setupMs(launchSecs), pageSays);
    page = opened.page;
    library = `Chromium ${browser.version()} + mqtt.js ${opened.version} (browser bundle)`;
  }
  trace('page.html loaded');
} catch (err) {
  const tail = stderrTail.length ? ` (Chromium said: ${stderrTail.join(' | ')})` : '';
  await fail(`cannot start the browser: ${err.message}${tail}`);
}

out(`client: ${library}`);
if (isVersion) await finish(0);

function onReport(kind, text) {
  trace(`page: ${kind}${text ? ` ${text}` : ''}`);
  const end = outcome(kind, text, lastConsoleError);
  if (!end) return;
  if (end.error !== undefined) fail(end.error);
  else finish(end.code, end.line);
}

// Never hang: the page bounds every wait itself; this is the last resort if
// it stops reporting.
const guard = guardSecs(cfg);
setTimeout(() => fail(`the page reported no outcome within ${guard} s`), guard * 1000);
trace(`connecting to ${cfg.url}`);
if (page) {
  try {
    await startHold(page, cfg);
  } catch (err) {
    if (!finishing) await fail(`cannot start the session in the page: ${err.message}`);
  }
}