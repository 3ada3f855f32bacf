// The store of the actions/cache stand-in: $STANDIN_CACHE/actions-cache/<version>/<key>/.
// As in the real service, an entry matches only with the same "version" (a hash of the
// paths), keys are immutable once saved, and restore-keys pick the newest entry whose key
// starts with the prefix.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
const { execFileSync } = require('child_process');

function input(name) {
  return (process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] || '').trim();
}

function lines(name) {
  return input(name).split('\n').map((s) => s.trim()).filter(Boolean);
}

function fail(message) {
  console.log(`::error::cache stand-in: ${message}`);
  process.exit(1);
}

function setOutput(name, value) {
  fs.appendFileSync(process.env.GITHUB_OUTPUT, `${name}=${value}\n`);
}

function saveState(name, value) {
  fs.appendFileSync(process.env.GITHUB_STATE, `${name}=${value}\n`);
}

function paths() {
  const found = lines('path');
  if (!found.length) fail('Input required and not supplied: path');
  return found.map((p) => {
    if (/[*?[]/.test(p) || p.startsWith('!')) fail(`globs are not supported: ${p}`);
    if (p === '~' || p.startsWith('~/')) p = path.join(os.homedir(), p.slice(1));
    return path.resolve(process.env.GITHUB_WORKSPACE || process.cwd(), p);
  });
}

// The version hashes the path input (after expressions), as the real action's cache
// version does. A hosted runner's temp and workspace directories are the same for every
// job; under act they differ per job, so they are hashed as placeholders.
function versionDir() {
  const same = (p) => [['RUNNER_TEMP', '$RUNNER_TEMP'], ['GITHUB_WORKSPACE', '$GITHUB_WORKSPACE']]
    .reduce((text, [name, placeholder]) => (process.env[name]
      ? text.split(process.env[name]).join(placeholder) : text), p);
  const version = crypto.createHash('sha256').update(lines('path').map(same).join('|'))
    .digest('hex');
  if (!process.env.STANDIN_CACHE) fail('STANDIN_CACHE is not set: the harness gives the cache a store');
  return path.join(process.env.STANDIN_CACHE, 'actions-cache', version.slice(0, 16));
}

function keyDir(dir, key) {
  if (key.length > 512 || key.includes(',')) fail(`Key Validation Error: ${key} is not a valid key`);
  return path.join(dir, encodeURIComponent(key));
}

function entries(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir)
    .filter((name) => !name.startsWith('.'))
    .map((name) => JSON.parse(fs.readFileSync(path.join(dir, name, 'meta.json'), 'utf8')))
    .sort((a, b) => b.created - a.created || (a.key < b.key ? 1 : -1));
}

function copy(from, to) {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  execFileSync('cp', ['-a', '--reflink=auto', '-T', from, to]);
}

module.exports = { input, lines, fail, setOutput, saveState, paths, versionDir, keyDir, entries, copy };
