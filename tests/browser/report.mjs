// Opens a mosquitto-matrix HTML report in headless Chromium (Debian's `chromium`, driven by
// the playwright-core that clients/browser pins), clicks cells, reads their wire timelines
// from the DOM, tries the filters, takes screenshots, and records every request the page
// makes. Prints one JSON object on stdout; tests/browser_report.rs judges it.
//
//   node tests/browser/report.mjs PAGE.html SCREENSHOT.png CELL_ID [CELL_ID …]
import { pathToFileURL } from 'node:url';

import { offlinePage } from './offline.mjs';

const [file, shot, ...ids] = process.argv.slice(2);
if (!file || !shot || ids.length === 0) {
  process.stderr.write('usage: node tests/browser/report.mjs PAGE.html SCREENSHOT.png CELL_ID [CELL_ID …]\n');
  process.exit(2);
}
const url = pathToFileURL(file).href;
const { browser, page, fetched, errors } = await offlinePage({ width: 1680, height: 1050 }, (u) => u === url);
try {
  await page.goto(url);
  const headSticky = await page.$eval('#grid thead th', (th) => getComputedStyle(th).position);
  const cells = [];
  for (const id of ids) {
    const td = page.locator(`#grid td[data-id="${id}"]`);
    const colour = await td.evaluate((e) => getComputedStyle(e).backgroundColor);
    await td.click();
    await page.waitForSelector('#timeline svg .ev');
    const events = await page.$$eval('#timeline .ev', (gs) => gs.map((g) => ({
      kind: g.dataset.kind, from: g.dataset.from, at: Number(g.dataset.at), label: g.querySelector('text.l').textContent,
      y: Number(g.querySelector('line').getAttribute('y1')), x1: Number(g.querySelector('line').getAttribute('x1')),
    })));
    cells.push({
      id,
      colour,
      title: await page.textContent('#d-title'),
      outcome: await page.textContent('#d-outcome'),
      expected: await page.textContent('#d-expected'),
      cause: await page.textContent('#d-cause'),
      times: await page.$$eval('#timeline text.t', (ts) => ts.map((t) => t.textContent)),
      events,
    });
  }
  await page.locator(`#grid td[data-id="${ids[ids.length - 1]}"]`).scrollIntoViewIfNeeded();
  await page.locator('#detail').scrollIntoViewIfNeeded();
  await page.screenshot({ path: shot, fullPage: false });
  // Filters: only EOF cells, then only cells that differ from matrix.toml, then one column.
  const visible = () => page.$$eval('#grid td[data-id]', (tds) => tds.filter((td) => !td.classList.contains('dim') && td.offsetParent !== null).map((td) => td.dataset.id));
  await page.selectOption('#f-outcome', 'EOF');
  const eof = await visible();
  await page.selectOption('#f-outcome', '');
  await page.check('#f-changed');
  const changed = await visible();
  await page.uncheck('#f-changed');
  const firstColumn = await page.$eval('#f-column option:nth-child(2)', (o) => o.value);
  await page.selectOption('#f-column', firstColumn);
  const column = await visible();
  const shownHeads = await page.$$eval('#grid thead th.col', (ths) => ths.filter((th) => th.offsetParent !== null).map((th) => th.dataset.column));
  process.stdout.write(JSON.stringify({ fetched, errors, headSticky, cells, filters: { eof, changed, firstColumn, column, shownHeads } }) + '\n');
  // Called by hand or from a script, the plain failures fail it too.
  const empty = cells.filter((c) => c.events.length === 0).map((c) => c.id);
  if (fetched.length || errors.length || empty.length) {
    process.stderr.write(`report.mjs: fetched ${JSON.stringify(fetched)}, script errors ${JSON.stringify(errors)}, cells without a timeline ${JSON.stringify(empty)}\n`);
    process.exitCode = 1;
  }
} finally {
  await browser.close();
}
