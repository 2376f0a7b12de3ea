// The account panel's two-step sign-up and its other paths. The journey's runner confirms
// by the mail's link (journey.mjs); here, in a phone-sized window, a second runner pastes
// the token instead, the used token is refused (pasted as the whole link, and opened as
// the link), a new password is chosen from the reset mail's link, and a real rate limit
// of the gateway (429 with Retry-After) is explained on the sign-in and sign-up forms
// with its wait.

import { GATEWAY, ask, check, env, log, watch } from './support.mjs';

/** What `signUp` answers, whatever happened (the gateway's SIGN_UP_ANSWER). */
const SIGN_UP_ANSWER = env('SIGN_UP_ANSWER');

/** Fills and sends the sign-up form; resolves once the page shows the gateway's answer. */
export async function signUpOnPage(page, runner) {
  const form = page.locator('form', { has: page.getByRole('heading', { name: /Create a runner account/ }) });
  await form.getByLabel('Your name').fill(runner.name);
  await form.getByLabel('Email').fill(runner.email);
  await form.getByLabel(/Password/).fill(runner.password);
  const sent = page.waitForRequest((r) => r.url() === `${GATEWAY}/graphql` && (r.postData() ?? '').includes('signUp('));
  await form.getByRole('button', { name: 'Create account' }).click();
  const asked = JSON.parse((await sent).postData()).variables.input.language;
  check(asked === 'EN', `signUp sends the page's language: ${asked}`);
  const status = form.locator('.form-status');
  await status.getByText(`${SIGN_UP_ANSWER} We wrote to ${runner.email}.`, { exact: true }).waitFor();
  check((await status.getAttribute('aria-live')) === 'polite', 'the sign-up answer is in a live region');
  check((await form.getByLabel(/Password/).inputValue()) === '', 'the password is not kept on the page');
  check(await page.locator('details.confirm').evaluate((d) => d.open), 'the confirmation field is shown');
}

/** Every field has a label, and nothing scrolls sideways. */
async function labelledAndFits(page, what) {
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea')]
      .filter((e) => e.type !== 'hidden' && !e.labels?.length && !e.getAttribute('aria-label'))
      .map((e) => e.outerHTML),
  );
  check(unlabelled.length === 0, `every field of ${what} has a label: ${unlabelled.join(', ')}`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `${what} does not scroll sideways on a phone (${overflow} px too wide)`);
}

/** The sign-up confirmed by a pasted token, a used token refused, a rate limit explained. */
export async function otherAccountPaths(browser) {
  const context = await browser.newContext({
    locale: 'en-US',
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
  });
  const limited = { status: 429, seen: [] };
  const page = watch(await context.newPage(), 'visitor', limited);
  await page.goto(`${GATEWAY}/`);
  const runner = {
    name: 'Daniyar Seitkali',
    email: `daniyar-${Date.now()}@example.kz`,
    password: 'another long runner password',
  };
  await signUpOnPage(page, runner);
  await labelledAndFits(page, 'the signed-out panel');

  const mail = await ask('confirmation-mail', runner.email);
  const confirm = page.locator('form', { has: page.getByLabel('Token from the mail') });
  await confirm.getByLabel('Token from the mail').fill(`  ${mail.token} `);
  await confirm.getByRole('button', { name: 'Confirm sign-up' }).click();
  await page.getByText('Signed in as').waitFor();
  const welcome = await page.locator('#page-status').textContent();
  check(welcome === `Welcome, ${runner.name}: your account is ready.`, `the page welcomes the runner: ${welcome}`);
  const who = await page.locator('#account-body').textContent();
  check(who.includes(`${runner.name} (${runner.email}), runner.`), `signed in as the new runner: ${who}`);
  log('a second runner confirmed the sign-up by pasting the token');

  // The token works once: pasted again (as the whole link) and opened as the link, it is
  // refused with what to do, and the link's token still leaves the address bar.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.locator('#page-status').getByText('Signed out.', { exact: true }).waitFor();
  await page.locator('details.confirm summary').click();
  await confirm.getByLabel('Token from the mail').fill(mail.link);
  await confirm.getByRole('button', { name: 'Confirm sign-up' }).click();
  await confirm.locator('.form-status').getByText(/^That confirmation does not work: .* sign up again/).waitFor();
  await page.goto(mail.link);
  await page
    .locator('#page-status')
    .getByText(/^Your sign-up could not be confirmed\. That confirmation does not work: /)
    .waitFor();
  check(page.url() === `${GATEWAY}/`, `the used link's token leaves the address bar (${page.url()})`);
  check(await page.locator('details.confirm').evaluate((d) => d.open), 'after a failed link the token field is open');
  check((await page.getByText('Signed in as').count()) === 0, 'a used link signs no one in');
  log('the used token was refused, pasted and as the link');

  // A forgotten password: the reset mail's link opens the page with the new-password form
  // ready (its token out of the address bar), and the new password signs in.
  await page.locator('details.reset summary').click();
  const asking = page.getByRole('form', { name: 'Ask for a reset link' });
  await asking.getByLabel('Email').fill(runner.email);
  await asking.getByRole('button', { name: 'Mail me a reset link' }).click();
  await asking.locator('.form-status').getByText(/^If this address has an account, a link is on its way/).waitFor();
  const resetMail = await ask('reset-mail', runner.email);
  await page.goto(resetMail.link);
  const reset = page.getByRole('form', { name: 'Choose a new password' });
  await reset.getByLabel('New password (at least 10 characters)').waitFor();
  check(page.url() === `${GATEWAY}/`, `the reset link's token leaves the address bar (${page.url()})`);
  check(await page.locator('details.reset').evaluate((d) => d.open), 'the reset link opens the new-password form');
  check(
    (await reset.getByLabel('Token from the reset mail').inputValue()) === resetMail.token,
    'the form holds the link\'s token',
  );
  const newPassword = 'a brand new runner password';
  await reset.getByLabel('New password (at least 10 characters)').fill(newPassword);
  await reset.getByRole('button', { name: 'Set the new password' }).click();
  await reset.locator('.form-status').getByText(/^Your password is changed/).waitFor();
  const signInForm = page.locator('form', { has: page.getByRole('heading', { name: 'Sign in' }) });
  await signInForm.getByLabel('Email').fill(runner.email);
  await signInForm.getByLabel('Password').fill(newPassword);
  await signInForm.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('Signed in as').waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.locator('#page-status').getByText('Signed out.', { exact: true }).waitFor();
  log('a new password was chosen from the reset mail\'s link and signs in');

  // Real rate limits: from here, the gateway's limits for one email address are used up:
  // wrong passwords (failed sign-ins on the account from this address) and reset requests
  // (sign-up and reset for the address; one for an unknown address mails nobody). Then the
  // page tries both.
  const throttled = `nobody-${Date.now()}@example.kz`;
  const spend = async (query, variables) => {
    for (let attempt = 0; attempt < 100; attempt += 1) {
      const response = await fetch(`${GATEWAY}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query, variables }),
      });
      if (response.status === 429) return true;
    }
    return false;
  };
  const refused =
    (await spend('mutation($input: SignInInput!) { signIn(input: $input) { token } }', {
      input: { email: throttled, password: 'not the password' },
    })) &&
    (await spend('mutation($email: String!) { requestPasswordReset(email: $email) }', { email: throttled }));
  check(refused, `the gateway limits attempts for ${throttled}`);
  const signIn = page.locator('form', { has: page.getByRole('heading', { name: 'Sign in' }) });
  await signIn.getByLabel('Email').fill(throttled);
  await signIn.getByLabel('Password').fill('not the password');
  await refusedWithWait(page, signIn, 'signIn', 'Sign in');
  const signUp = page.locator('form', { has: page.getByRole('heading', { name: /Create a runner account/ }) });
  await signUp.getByLabel('Your name').fill('Nobody');
  await signUp.getByLabel('Email').fill(throttled);
  await signUp.getByLabel(/Password/).fill('a long enough password');
  await refusedWithWait(page, signUp, 'signUp', 'Create account');
  check(limited.seen.length === 2, `exactly the two refused attempts were answered 429 (got ${limited.seen.length})`);
  await context.close();
}

/** Sends `form` (whose operation is `operation`), which the gateway refuses for a rate
 * limit: the form says to wait as many seconds as Retry-After, and may be sent again. */
async function refusedWithWait(page, form, operation, button) {
  const answered = page.waitForResponse(
    (r) => r.url() === `${GATEWAY}/graphql` && (r.request().postData() ?? '').includes(operation),
  );
  await form.getByRole('button', { name: button }).click();
  const response = await answered;
  check(response.status() === 429, `${operation} is refused with 429 (got ${response.status()})`);
  const wait = Number(response.headers()['retry-after']);
  check(Number.isInteger(wait) && wait > 0, `the 429 says how long to wait: ${response.headers()['retry-after']}`);
  const expected = `Too many attempts: wait ${wait} second${wait === 1 ? '' : 's'}, then try again.`;
  const status = form.locator('.form-status');
  await status.getByText(expected, { exact: true }).waitFor();
  check((await status.getAttribute('data-kind')) === 'error', 'the wait is shown as an error');
  check(await form.getByRole('button', { name: button }).isEnabled(), `the ${button} button works again`);
  log(`${operation} refused for a rate limit; the page says: ${expected}`);
}
