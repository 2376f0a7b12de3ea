// What the browser journey's parts share: settings from the environment, logging, checks
// and waiting, the record of everything that went wrong in any page, and GraphQL calls.

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

/** Console errors, page errors, failed requests and error answers: any is a failure. */
export const problems = [];
export function watch(page, who) {
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`${who} console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`${who} page error: ${error.message}`));
  page.on('requestfailed', (request) => {
    const failure = request.failure()?.errorText ?? '';
    // A page closed or navigated mid-request aborts it; that is not the page's fault.
    if (!failure.includes('ERR_ABORTED')) problems.push(`${who} request failed: ${request.url()} ${failure}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`${who} got ${response.status()} for ${response.url()}`);
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
