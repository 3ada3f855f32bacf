#!/usr/bin/env node
// Validate Gateway API and Flux objects against their published schemas, with the
// maintained npm packages @kubernetes-models/gateway-api and @kubernetes-models/flux-cd
// (pinned in package.json/package-lock.json). Offline: nothing is fetched at run time.
// `mlops k8s check` runs it (adapters/crdschema.py); the built-in kinds are validated in
// Python with kubernetes-validate.
//
//   node scripts/tools/k8s-validate.mjs < request.json
//
// stdin:  {"objects": [{"id": "<any string>", "object": {<a rendered object>}}, ...]}
// stdout: {"packages": {"<name>": "<version>"},
//          "results": [{"id", "status": "valid"|"invalid"|"unknown",
//                       "errors": [{"field": "spec.rules[0].backendRefs[0].weight",
//                                   "message": "must be >= 0"}]}]}
// "unknown": no package models this apiVersion/kind. Exit 0 when the run worked (the
// results say what is invalid); 2 on bad input or missing packages.
import { createRequire } from "node:module";

const PACKAGES = [
  { name: "@kubernetes-models/gateway-api", groups: /^gateway\.networking\.(x-)?k8s\.io$/ },
  { name: "@kubernetes-models/flux-cd", groups: /\.toolkit\.fluxcd\.io$/ },
];

function packageFor(apiVersion) {
  const [group, version] = String(apiVersion || "").split("/");
  if (!version) return null;
  const found = PACKAGES.find((p) => p.groups.test(group));
  return found ? { name: found.name, group, version } : null;
}

// "/spec/rules/0/backendRefs/1/weight" -> "spec.rules[0].backendRefs[1].weight"
function field(instancePath) {
  let out = "";
  for (const part of String(instancePath || "").split("/").filter(Boolean)) {
    const key = part.replace(/~1/g, "/").replace(/~0/g, "~");
    out += /^\d+$/.test(key) ? `[${key}]` : (out ? `.${key}` : key);
  }
  return out || "(object)";
}

// The packages ship ajv's compiled validators, whose errors may carry no message: say it
// from the keyword and its parameters, as ajv's own messages do.
function describe(error) {
  const p = error.params || {};
  switch (error.keyword) {
    case "required": return `missing required field ${p.missingProperty}`;
    case "additionalProperties": return `unknown field ${p.additionalProperty}`;
    case "enum": return `must be one of ${(p.allowedValues || []).join(", ")}`;
    case "type": return `must be ${p.type}`;
    case "pattern": return `must match pattern ${p.pattern}`;
    case "format": return `must be a valid ${p.format}`;
    case "minimum": case "maximum": case "exclusiveMinimum": case "exclusiveMaximum":
      return `must be ${p.comparison} ${p.limit}`;
    case "minLength": return `must be at least ${p.limit} characters`;
    case "maxLength": return `must be at most ${p.limit} characters`;
    case "minItems": return `must have at least ${p.limit} items`;
    case "maxItems": return `must have at most ${p.limit} items`;
    default: return error.message || error.keyword || "invalid";
  }
}

async function validate(entry) {
  const object = entry.object || {};
  const pkg = packageFor(object.apiVersion);
  if (!pkg || typeof object.kind !== "string" || !/^[A-Za-z0-9]+$/.test(object.kind)) {
    return { id: entry.id, status: "unknown", errors: [] };
  }
  let Model;
  try {
    ({ [object.kind]: Model } = await import(`${pkg.name}/${pkg.group}/${pkg.version}/${object.kind}`));
  } catch {
    return { id: entry.id, status: "unknown", errors: [] };
  }
  if (typeof Model !== "function") return { id: entry.id, status: "unknown", errors: [] };
  try {
    new Model(object).validate();
    return { id: entry.id, status: "valid", errors: [] };
  } catch (err) {
    const seen = new Set();
    const errors = [];
    for (const e of err.errors || [{ instancePath: "", message: err.message }]) {
      const item = { field: field(e.instancePath), message: describe(e) };
      const key = `${item.field}\u0000${item.message}`;
      if (!seen.has(key)) {
        seen.add(key);
        errors.push(item);
      }
    }
    return { id: entry.id, status: "invalid", errors };
  }
}

async function main() {
  const require = createRequire(import.meta.url);
  const packages = {};
  for (const p of PACKAGES) {
    try {
      packages[p.name] = require(`${p.name}/package.json`).version;
    } catch (err) {
      console.error(`k8s-validate: cannot load ${p.name} (${err.code || err.message}); ` +
        "install the pinned Node tools: scripts/tools/install-node-tools.sh (npm ci)");
      return 2;
    }
  }
  let request;
  try {
    const chunks = [];
    for await (const chunk of process.stdin) chunks.push(chunk);
    request = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch (err) {
    console.error(`k8s-validate: stdin is not JSON (${err.message})`);
    return 2;
  }
  if (!request || !Array.isArray(request.objects)) {
    console.error('k8s-validate: expected {"objects": [{"id": ..., "object": {...}}, ...]}');
    return 2;
  }
  const results = [];
  for (const entry of request.objects) results.push(await validate(entry));
  process.stdout.write(JSON.stringify({ packages, results }) + "\n");
  return 0;
}

process.exitCode = await main();
