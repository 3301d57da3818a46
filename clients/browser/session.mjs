// One cell's page in a browser context: what hold.mjs does in a browser of its
// own, and what serve.mjs does for each cell in the run's one browser. The
// session itself runs in page.html; the page reports through
// window.matrixReport(kind, text).
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const PAGE = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), 'page.html')).href;
const oneLine = (text) => String(text).split(/\s+/).filter(Boolean).join(' ');

// Opens the cell's page in `context` and loads page.html (bounded by
// `timeoutMs`). `on.report(kind, text)` gets what the page reports,
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
  await page.exposeFunction('matrixReport', (kind, text) => on.report(kind, text));
  await page.goto(PAGE, { timeout: timeoutMs });
  const { version } = await page.evaluate(() => window.matrixLibrary());
  if (!version) throw new Error('MQTT.js browser bundle did not load (mqtt.MQTTJS_VERSION missing)');
  return { page, version };
}

// Starts the MQTT session in the page with the contract's settings.
export async function startHold(page, cfg) {
  await page.evaluate((c) => { window.matrixHold(c); }, cfg);
}
