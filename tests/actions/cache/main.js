// Restore: the exact key, else the newest entry matching each restore-keys prefix in turn.
'use strict';
const fs = require('fs');
const path = require('path');
const lib = require('./lib');

const resolved = lib.paths();
const key = lib.input('key');
if (!key) lib.fail('Input required and not supplied: key');
const dir = lib.versionDir();
lib.keyDir(dir, key); // validates the key
lib.saveState('CACHE_KEY', key);

const all = lib.entries(dir);
let hit = all.find((e) => e.key === key);
if (!hit) {
  for (const prefix of lib.lines('restore-keys')) {
    hit = all.find((e) => e.key.startsWith(prefix));
    if (hit) break;
  }
}
if (!hit) {
  if (lib.input('fail-on-cache-miss') === 'true') {
    lib.fail(`Failed to restore cache entry. Exiting as fail-on-cache-miss is set. Input key: ${key}`);
  }
  console.log(`Cache not found for input keys: ${[key, ...lib.lines('restore-keys')].join(', ')}`);
  lib.setOutput('cache-hit', 'false');
  process.exit(0);
}
const exact = hit.key === key;
lib.saveState('CACHE_RESULT', hit.key);
lib.setOutput('cache-hit', exact ? 'true' : 'false');
if (lib.input('lookup-only') === 'true') {
  console.log(`Cache found and can be restored from key: ${hit.key}`);
  process.exit(0);
}
const stored = lib.keyDir(dir, hit.key);
resolved.forEach((target, i) => {
  const from = path.join(stored, 'files', String(i));
  if (fs.existsSync(from)) lib.copy(from, target);
});
console.log(`Cache restored from key: ${hit.key}`);
