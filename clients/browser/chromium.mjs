// What hold.mjs (a browser of its own) and serve.mjs (one browser for a whole
// run) share: which Chromium, its switches, and the clean-up of profiles that
// a killed run left behind.
import { createHash, X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The Chromium binary: MATRIX_CHROMIUM, else Debian's.
export const executable = () => process.env.MATRIX_CHROMIUM || '/usr/bin/chromium';

// Temporary folders of ours start with this, then the owning pid and '-'.
// Short: Chromium puts a socket a few levels under TMPDIR, and a socket path
// has at most 107 bytes ("Socket path too long").
export const PROFILE_PREFIX = 'mm-chromium-';

// Ports Chromium refuses (net::ERR_UNSAFE_PORT) that a kernel could hand a
// listener on 127.0.0.1 (the proxy's port is the kernel's choice): every
// restricted port from 1024 up in Chromium 156's list. A browser of its own
// allows exactly the cell's port instead.
export const UNSAFE_HIGH_PORTS = [
  1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566,
  6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
];

// Switches for headless Chromium in a matrix run, either way it is started.
export const switches = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  // Fewer processes (memory): no zygotes, no GPU process. The network
  // service, which holds the WebSockets, stays a process of its own as in
  // a desktop Chromium.
  '--in-process-gpu',
  '--no-zygote',
  '--disable-quic',
  '--no-first-run',
  '--no-default-browser-check',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-extensions',
  '--disable-default-apps',
  '--disable-breakpad',
  '--disable-domain-reliability',
  '--metrics-recording-only',
  '--password-store=basic',
  '--use-mock-keychain',
  '--mute-audio',
  // A long hold must not be slowed down by timer throttling.
  '--disable-background-timer-throttling',
  '--disable-backgrounding-occluded-windows',
  '--disable-renderer-backgrounding',
  // IntensiveWakeUpThrottling: same. The rest: two renderers a headless
  // 156 starts for nothing (the omnibox pop-up WebUI, a spare renderer).
  '--disable-features=IntensiveWakeUpThrottling,Translate,MediaRouter,OptimizationHints,'
    + 'PreloadTopChromeWebUI,WebUIOmniboxPopup,WebUIOmniboxFullPopup,WebUIOmniboxAimPopup,'
    + 'SpareRendererForSitePerProcess',
];

// A TLS route (contract v3, MATRIX_CA_FILE): the switch that makes this
// Chromium accept a certificate chain holding the run's CA. Chromium on Linux
// trusts what its NSS database holds; a per-run CA there would mean certutil
// and a database per profile. Instead: --ignore-certificate-errors-spki-list
// with the base64 SHA-256 of the CA's SubjectPublicKeyInfo. Chromium then
// accepts a chain that fails to verify only when one of its certificates
// carries that key: the harness's and the broker's servers send the run's
// CA in their chain, so exactly the run's certificates pass, no others.
// Returns [] without MATRIX_CA_FILE (every plain route: nothing changes).
export const caSwitches = (caFile = process.env.MATRIX_CA_FILE) => {
  if (!caFile) return [];
  const spki = new X509Certificate(readFileSync(caFile)).publicKey.export({ type: 'spki', format: 'der' });
  return [`--ignore-certificate-errors-spki-list=${createHash('sha256').update(spki).digest('base64')}`];
};

// Whether a process is gone: no such pid, or a zombie (dead, not yet reaped).
function gone(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch (err) {
    return err.code === 'ENOENT';
  }
}

// Removes our folders under the temporary directory whose owner (the pid in
// the name) is gone: what a SIGKILLed run left.
export function removeStaleProfiles() {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(PROFILE_PREFIX)) continue;
    const m = /^(\d+)-/.exec(name.slice(PROFILE_PREFIX.length));
    if (m && gone(Number(m[1]))) rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
}

// How many seconds of this process's clock pass in one real second: the rate
// of a preloaded libfaketime (LD_PRELOAD with FAKETIME="+0 x10" on an
// accelerated run), else 1.
export function clockRate() {
  if (!/faketime/.test(process.env.LD_PRELOAD || '')) return 1;
  const m = /x\s*([0-9]+(?:\.[0-9]+)?)/.exec(process.env.FAKETIME || '');
  const rate = m ? Number(m[1]) : 1;
  return Number.isFinite(rate) && rate > 0 ? rate : 1;
}

// A set-up bound (start the browser, connect to it, load the page) of `secs`
// real seconds, in milliseconds of this process's clock: starting a browser
// takes what it takes, whatever the clock says.
export const setupMs = (secs) => secs * 1000 * clockRate();
