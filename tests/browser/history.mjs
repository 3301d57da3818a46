// Opens a mosquitto-matrix history site in headless Chromium (Debian's `chromium`, driven by
// the playwright-core that clients/browser pins): the set's grid with each cell's history
// strip, a click on a changed cell and both runs' evidence on its page (lifelines drawn), and
// the latest report's lifelines; screenshots; every request that leaves the site is recorded
// and refused. Prints one JSON object on stdout; tests/browser_history.rs judges it.
//
//   node tests/browser/history.mjs SITE_DIR SET SHOT_DIR
import { pathToFileURL } from 'node:url';
import path from 'node:path';

import { offlinePage } from './offline.mjs';

const [site, set, shots] = process.argv.slice(2);
if (!site || !set || !shots) {
  process.stderr.write('usage: node tests/browser/history.mjs SITE_DIR SET SHOT_DIR\n');
  process.exit(2);
}
const base = pathToFileURL(path.resolve(site)).href + '/';
const { browser, page, fetched, errors } = await offlinePage({ width: 1400, height: 900 }, (u) => u.startsWith(base));
try {
  await page.goto(base + `set/${set}.html`);
  const strips = await page.$$eval('td.cell .strip', (ss) => ss.filter((s) => s.getBoundingClientRect().width > 0 && s.offsetParent !== null).length);
  const changed = page.locator('td.cell[data-changes]:not([data-changes="0"]) a').first();
  const cell = await changed.evaluate((a) => a.closest('td').dataset.cell);
  await page.screenshot({ path: path.join(shots, 'history-grid.png') });
  await changed.click();
  await page.waitForSelector('.change .evidence');
  const sides = await page.$$eval('.change .evidence .side', (ds) => ds.map((d) => ({
    heading: d.querySelector('h4').textContent,
    cause: d.querySelector('.cause').textContent,
    bars: [...d.querySelectorAll('svg.lifelines rect[class^="bar"]')].map((r) => ({ cls: r.getAttribute('class'), width: r.getBoundingClientRect().width })),
  })));
  const strip = await page.$eval('.strip.long', (s) => s.getBoundingClientRect().width);
  await page.screenshot({ path: path.join(shots, 'history-cell.png'), fullPage: true });
  await page.goto(base + `report/${set}.html`);
  await page.locator('#lifelines figure').first().scrollIntoViewIfNeeded();
  const figures = await page.$$eval('#lifelines figure svg', (ss) => ss.filter((s) => s.getBoundingClientRect().height > 20).length);
  await page.screenshot({ path: path.join(shots, 'report-lifelines.png') });
  await page.goto(base + `diff.html?set=${set}&a=1&b=2`);
  const diff = { count: await page.textContent('#d-count'), rows: await page.$$eval('#d-out tr', (rs) => rs.map((r) => [...r.cells].map((c) => c.textContent))) };
  process.stdout.write(JSON.stringify({ fetched, errors, strips, cell, sides, strip, figures, diff }) + '\n');
} finally {
  await browser.close();
}
