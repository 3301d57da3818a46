// What the Node.js runtimes (clients/mqttjs/runtime.mjs, clients/browser/serve.mjs --runtime)
// share of the runtime protocol (the book's "The runtime protocol"): a cell's header.

/** The most a header may take before its empty line. */
export const HEADER_MAX = 64 * 1024;

/** The environment in a header (`NAME=VALUE` lines, the empty line excluded), or what is wrong. */
export function parseHeader(text) {
  const env = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i += 1) {
    const eq = lines[i].indexOf('=');
    if (eq <= 0) return { bad: `header line ${i + 1} is not NAME=VALUE: ${JSON.stringify(lines[i])}` };
    env[lines[i].slice(0, eq)] = lines[i].slice(eq + 1);
  }
  return { env };
}
