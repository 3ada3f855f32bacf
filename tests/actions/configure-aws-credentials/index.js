// aws-actions/configure-aws-credentials, its OIDC path (src/index.ts, src/assumeRole.ts):
// fetch the job's ID token from ACTIONS_ID_TOKEN_REQUEST_URL for the audience, call STS
// AssumeRoleWithWebIdentity (unsigned, as the API allows), mask and export the keys.
// STS is reached at AWS_ENDPOINT_URL_STS or AWS_ENDPOINT_URL when set (as the AWS SDK
// honours them), so the embedded AWS answers in tests.
'use strict';
const fs = require('fs');

function input(name) {
  return (process.env[`INPUT_${name.toUpperCase()}`] || '').trim();
}

function fail(message) {
  console.log(`::error::${message}`);
  process.exit(1);
}

function exportVariable(name, value) {
  fs.appendFileSync(process.env.GITHUB_ENV, `${name}=${value}\n`);
}

async function main() {
  const role = input('role-to-assume');
  const region = input('aws-region');
  const session = input('role-session-name') || 'GitHubActions';
  const audience = input('audience') || 'sts.amazonaws.com';
  const duration = input('role-duration-seconds') || '3600';
  if (!role) fail('Input required and not supplied: role-to-assume');
  if (!/^[a-z]{2}(-gov)?-[a-z]+-\d$/.test(region)) fail(`Region is not valid: ${region}`);
  if (!/^[\w+=,.@-]{2,64}$/.test(session)) {
    fail(`Role session name is not valid: ${session} (2-64 characters of [\\w+=,.@-])`);
  }
  const tokenUrl = process.env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const bearer = process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  if (!tokenUrl || !bearer) {
    fail('It looks like you might be trying to authenticate with OIDC. Did you mean to set the '
      + '`id-token` permission? (ACTIONS_ID_TOKEN_REQUEST_TOKEN is not set)');
  }
  const tokenResponse = await fetch(`${tokenUrl}&audience=${encodeURIComponent(audience)}`, {
    headers: { Authorization: `Bearer ${bearer}` },
  });
  if (!tokenResponse.ok) {
    fail(`Failed to get ID Token. Error Code : ${tokenResponse.status}`);
  }
  const idToken = (await tokenResponse.json()).value;
  console.log(`::add-mask::${idToken}`);

  const endpoint = process.env.AWS_ENDPOINT_URL_STS || process.env.AWS_ENDPOINT_URL
    || `https://sts.${region}.amazonaws.com`;
  const body = new URLSearchParams({
    Action: 'AssumeRoleWithWebIdentity', Version: '2011-06-15', RoleArn: role,
    RoleSessionName: session, WebIdentityToken: idToken, DurationSeconds: duration,
  });
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body,
  });
  const xml = await response.text();
  const field = (name) => (xml.match(new RegExp(`<${name}>([^<]*)</${name}>`)) || [])[1];
  if (!response.ok) {
    fail(`Could not assume role with OIDC: ${field('Message') || response.status}`);
  }
  const keys = {
    AWS_ACCESS_KEY_ID: field('AccessKeyId'),
    AWS_SECRET_ACCESS_KEY: field('SecretAccessKey'),
    AWS_SESSION_TOKEN: field('SessionToken'),
  };
  for (const [name, value] of Object.entries(keys)) {
    if (!value) fail(`STS answered without ${name}`);
    console.log(`::add-mask::${value}`);
    exportVariable(name, value);
  }
  exportVariable('AWS_REGION', region);
  exportVariable('AWS_DEFAULT_REGION', region);
  console.log(`Authenticated as assumedRoleId ${field('AssumedRoleId') || role}`);
}

main().catch((err) => fail(err.message));
