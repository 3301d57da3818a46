// What every page test of tests/browser shares: Debian's headless Chromium (or
// MATRIX_CHROMIUM) through the playwright-core that clients/browser pins, one page of the
// given size on which every request that `local(url)` does not accept is recorded in
// `fetched` and refused, and page errors and console errors collected in `errors`.
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../clients/browser/package.json', import.meta.url));
const { chromium } = require('playwright-core');

// Opens the browser and its one page. The caller closes `browser` in a finally.
export async function offlinePage(viewport, local) {
  const browser = await chromium.launch({
    executablePath: process.env.MATRIX_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu'],
  });
  const page = await browser.newPage({ viewport });
  const fetched = [];
  await page.route('**/*', (route) => {
    const u = route.request().url();
    if (local(u)) return route.continue();
    fetched.push(u);
    return route.abort();
  });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  return { browser, page, fetched, errors };
}
