// Save after a successful job, unless the exact key was restored or already exists.
'use strict';
const fs = require('fs');
const path = require('path');
const lib = require('./lib');

const key = process.env.STATE_CACHE_KEY;
if (!key) {
  console.log('Cache key was not set by the restore step; not saving.');
  process.exit(0);
}
if (process.env.STATE_CACHE_RESULT === key) {
  console.log(`Cache hit occurred on the primary key ${key}, not saving cache.`);
  process.exit(0);
}
const resolved = lib.paths();
const present = resolved.filter((p) => fs.existsSync(p));
if (!present.length) {
  console.log('::warning::Path Validation Error: Path(s) specified in the action for caching do(es) not exist, hence no cache is being saved.');
  process.exit(0);
}
const dir = lib.versionDir();
const dest = lib.keyDir(dir, key);
if (fs.existsSync(dest)) {
  console.log(`::warning::Failed to save: Unable to reserve cache with key ${key}, another job may be creating this cache.`);
  process.exit(0);
}
const tmp = path.join(dir, `.${process.pid}-${Date.now()}`);
resolved.forEach((source, i) => {
  if (fs.existsSync(source)) lib.copy(source, path.join(tmp, 'files', String(i)));
});
fs.writeFileSync(path.join(tmp, 'meta.json'), JSON.stringify({ key, created: Date.now() }));
try {
  fs.renameSync(tmp, dest);
} catch (err) {
  fs.rmSync(tmp, { recursive: true, force: true });
  console.log(`::warning::Failed to save: another job saved ${key} first.`);
  process.exit(0);
}
console.log(`Cache saved with key: ${key}`);
