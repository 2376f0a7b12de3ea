// GraphiQL as the gateway serves it, checked with no internet: every request to another
// origin is refused, and none may be made.

import { join } from 'node:path';
import { GATEWAY, check, log, watch } from './support.mjs';

/** GraphiQL renders from the gateway's own files and runs a query, with every request
 * to another origin refused (no internet here, and none needed). */
export async function graphiqlOffline(browser, shots) {
  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 800 } });
  const elsewhere = [];
  await context.route(
    (url) => url.origin !== GATEWAY,
    (route) => {
      elsewhere.push(route.request().url());
      return route.abort('internetdisconnected');
    },
  );
  const page = watch(await context.newPage(), 'graphiql');
  const answer = await page.goto(`${GATEWAY}/graphql`);
  check((answer.headers()['content-security-policy'] ?? '').includes("script-src 'self'"), 'GraphiQL is served with a CSP');
  await page.locator('.graphiql-container').waitFor({ timeout: 15_000 });
  await page.getByRole('button', { name: /Execute query/ }).click();
  // The soonest race comes first (CodeMirror draws only the lines in view).
  await page.locator('.graphiql-response').getByText('Almaty Marathon 2020').waitFor({ timeout: 10_000 });
  await page.screenshot({ path: join(shots, 'graphiql.png') });
  // Its documentation comes from the schema the gateway embeds.
  await page.getByRole('button', { name: /Documentation Explorer/ }).click();
  await page.locator('.graphiql-doc-explorer').getByText('Subscription').first().waitFor();
  // A subscription runs over /graphql/ws with the vendored graphql-ws client: the 2020
  // marathon's changes replayed from the start end with its cancellation.
  const marathon2020 = (
    await (
      await fetch(`${GATEWAY}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ eventBySlug(slug: "almaty-marathon-2020") { id } }' }),
      })
    ).json()
  ).data.eventBySlug.id;
  await page.locator('.graphiql-query-editor .CodeMirror').click();
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(
    `subscription { eventStatusChanged(eventId: "${marathon2020}", after: "0") { id status event { name } } }`,
  );
  await page.getByRole('button', { name: /Execute query/ }).click();
  const response = page.locator('.graphiql-response');
  await response.getByText('"eventStatusChanged"').waitFor({ timeout: 10_000 });
  await response.getByText('Almaty Marathon 2020').waitFor();
  await response.getByText('CANCELLED').waitFor();
  check(elsewhere.length === 0, `GraphiQL asked nothing of another origin: ${elsewhere.join(', ')}`);
  log('GraphiQL rendered, documented the schema, ran a query and a subscription, from the gateway alone');
  await context.close();
}
