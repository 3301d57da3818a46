// A page in a browser context that holds cells: what hold.mjs opens in a
// browser of its own for its one cell, what serve.mjs opens per cell in the
// run's one browser, and what serve.mjs --runtime opens for up to
// PAGE_CELLS cells at once. The sessions run in page.html; the page reports
// through window.matrixReport(cell, kind, text).
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const PAGE = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), 'page.html')).href;
const oneLine = (text) => String(text).split(/\s+/).filter(Boolean).join(' ');

// Opens a page in `context` and loads page.html (bounded by `timeoutMs`).
// `on.report(kind, text, cell)` gets what the page reports,
// `on.console(text)` the browser's own words about a failed or broken
// WebSocket ("WebSocket connection to ... failed: ..."), `on.fail(text)` a
// crashed or broken page. Returns the page and MQTT.js's version.
export async function openPage(context, timeoutMs, on) {
  const page = context.pages()[0] ?? await context.newPage();
  page.on('crash', () => on.fail('the page crashed'));
  page.on('pageerror', (err) => on.fail(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /WebSocket/i.test(msg.text())) on.console(oneLine(msg.text()));
  });
  await page.exposeFunction('matrixReport', (cell, kind, text) => on.report(kind, text, cell));
  await page.goto(PAGE, { timeout: timeoutMs });
  const { version } = await page.evaluate(() => window.matrixLibrary());
  if (!version) throw new Error('MQTT.js browser bundle did not load (mqtt.MQTTJS_VERSION missing)');
  return { page, version };
}

// Starts an MQTT session in the page with the contract's settings; `cfg.cell`
// names it when the page holds more than one.
export async function startHold(page, cfg) {
  await page.evaluate((c) => { window.matrixHold(c); }, cfg);
}

// Ends the session `cell` in the page at once (its WebSocket closed); the page
// reports nothing more for it.
export async function stopHold(page, cell) {
  await page.evaluate((c) => { window.matrixStop(c); }, cell);
}
