// What the browser journey's parts share: settings from the environment, logging, checks
// and waiting, the record of everything that went wrong in any page, GraphQL calls, and
// the channel to the Rust side that started the script (for what only it can read: mail).

import { createInterface } from 'node:readline';

export const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
export const GATEWAY = env('GATEWAY_URL').replace(/\/$/, '');

export const started = Date.now();
export const log = (...parts) => console.log(`[journey +${((Date.now() - started) / 1000).toFixed(1)}s]`, ...parts);
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

export async function until(what, probe, timeoutMs = 10_000, everyMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Console errors, page errors, failed requests and error answers: any is a failure,
 * except answers with the `expected.status` a check provokes (a 429, say), which are
 * counted in `expected.seen` for the check to count (with Chromium's console line for
 * each). */
export const problems = [];
export function watch(page, who, expected = { status: null, seen: [] }) {
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const provoked =
      expected.status !== null &&
      message.text().startsWith(`Failed to load resource: the server responded with a status of ${expected.status} `);
    if (!provoked) problems.push(`${who} console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`${who} page error: ${error.message}`));
  page.on('requestfailed', (request) => {
    const failure = request.failure()?.errorText ?? '';
    // A page closed or navigated mid-request aborts it; that is not the page's fault.
    if (!failure.includes('ERR_ABORTED')) problems.push(`${who} request failed: ${request.url()} ${failure}`);
  });
  page.on('response', (response) => {
    if (response.status() === expected.status) expected.seen.push(response.url());
    else if (response.status() >= 400) problems.push(`${who} got ${response.status()} for ${response.url()}`);
  });
  return page;
}

export async function graphql(token, query, variables = {}) {
  const response = await fetch(`${GATEWAY}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  check(!body.errors, `GraphQL answers without errors: ${JSON.stringify(body.errors)}`);
  return body.data;
}

// The channel to the Rust side: a question is one line on stdout, `@@ask <name> <json>`;
// its answer one line of JSON on stdin.
let channel = null;
export async function ask(name, argument) {
  if (!channel) {
    const lines = createInterface({ input: process.stdin });
    channel = { lines, next: lines[Symbol.asyncIterator]() };
  }
  console.log(`@@ask ${name} ${JSON.stringify(argument)}`);
  const { value, done } = await channel.next.next();
  check(!done, `the Rust side answers ${name}`);
  return JSON.parse(value);
}

/** Ends the channel, so that an open stdin does not keep the script alive. */
export function closeChannel() {
  channel?.lines.close();
  process.stdin.destroy();
}
