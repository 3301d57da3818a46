// Opens a conformance grid's HTML page (mosquitto-matrix conformance clients|brokers --format
// html) in headless Chromium (Debian's `chromium`, driven by the playwright-core that
// clients/browser pins), reads every cell's colour, clicks the cells asked for and reads the
// evidence each opens, takes a screenshot, and records every request the page makes. Prints one
// JSON object on stdout; tests/browser_report.rs judges it.
//
//   node tests/browser/conformance.mjs PAGE.html SCREENSHOT.png COLUMN/CASE [COLUMN/CASE …]
import { pathToFileURL } from 'node:url';

import { offlinePage } from './offline.mjs';

const [file, shot, ...asked] = process.argv.slice(2);
if (!file || !shot || asked.length === 0) {
  process.stderr.write('usage: node tests/browser/conformance.mjs PAGE.html SCREENSHOT.png COLUMN/CASE [COLUMN/CASE …]\n');
  process.exit(2);
}
const url = pathToFileURL(file).href;
const { browser, page, fetched, errors } = await offlinePage({ width: 1680, height: 1050 }, (u) => u.split('#')[0] === url);
try {
  await page.goto(url);
  const headSticky = await page.$eval('#grid thead th', (th) => getComputedStyle(th).position);
  // Every cell's kind and background colour, by kind.
  const colours = await page.$$eval('#grid td[data-kind]', (tds) => {
    const by = {};
    for (const td of tds) {
      (by[td.dataset.kind] ||= new Set()).add(getComputedStyle(td).backgroundColor);
    }
    return Object.fromEntries(Object.entries(by).map(([k, v]) => [k, [...v]]));
  });
  const cells = [];
  for (const id of asked) {
    const [column, kase] = id.split('/');
    const td = page.locator(`#grid tr[data-case="${kase}"] td[data-column="${column}"]`);
    const kind = await td.getAttribute('data-kind');
    await td.locator('a').click();
    const target = await page.evaluate(() => location.hash);
    const opened = page.locator(`article.evidence${target}`);
    const visible = await opened.isVisible();
    const targeted = await opened.evaluate((e) => e.matches(':target'));
    cells.push({
      id, kind, target, visible, targeted,
      title: await opened.locator('h3').textContent(),
      did: await opened.locator('p.did').textContent(),
      evidence: await opened.locator('pre').textContent(),
    });
  }
  await page.goto(url);
  await page.screenshot({ path: shot, fullPage: false });
  const summary = await page.$$eval('#summary li', (lis) => lis.map((li) => li.textContent));
  process.stdout.write(JSON.stringify({ fetched, errors, headSticky, colours, cells, summary }) + '\n');
  if (fetched.length || errors.length) {
    process.stderr.write(`conformance.mjs: fetched ${JSON.stringify(fetched)}, script errors ${JSON.stringify(errors)}\n`);
    process.exitCode = 1;
  }
} finally {
  await browser.close();
}
