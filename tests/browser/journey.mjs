// The runner's journey in Debian's Chromium, driven over the DevTools protocol by
// playwright-core. Started by tests/tests/api/browser.rs, which runs the gateway for real
// (PostgreSQL + Redis) and the mock push service, and passes in (environment):
//
//   GATEWAY_URL        the gateway's origin
//   MOCK_RECEIVED_URL  where the mock tells what it accepted and decrypted, per subscription
//   PUSH_SUBSCRIPTION  {"id","endpoint","p256dh","auth"}: a subscription at the mock, whose
//                      keys the mock can decrypt with
//   ORGANIZER_EMAIL, ORGANIZER_PASSWORD   an organizer of both races
//   RACE_A, RACE_B     slugs of two upcoming races with open registration
//   RACE_KK, RACE_RU   two more, one for the Kazakh runner and one for the Russian one
//   PUSH_SUBSCRIPTION_KK, PUSH_SUBSCRIPTION_RU   their browsers' subscriptions at the mock
//   ORGANIZER_KK_EMAIL another organizer of the races (same password), who announces in
//                      Kazakh on the page
//   RACE_YEAR          the year they are held in (the demo's next race moves with the day
//                      it is seeded), for the date race B is rescheduled to
//   SCREENSHOT_DIR     where the screenshots go
//   CHROMIUM           the browser (default /usr/bin/chromium)
//   SIGN_UP_ANSWER     what the gateway's signUp answers, whatever happened
//
// What only the Rust side can read (the confirmation mail in the gateway's MAIL_DIR) it
// answers on stdin when asked on stdout (`ask` in support.mjs).
//
// The one stand-in is at the push service boundary, which a browser here cannot reach:
// PushManager.subscribe answers with PUSH_SUBSCRIPTION, and what the mock decrypted is
// handed to the page's service worker with ServiceWorker.deliverPushMessage. Everything
// else is the real page, the real service worker and the real gateway.
//
// The journey runs in full in English (en-US); then in Kazakh (kk-KZ) and Russian (ru-RU)
// the parts where the language shows (languages.mjs).
//
// Exits non-zero with the reason on the first failed check.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { otherAccountPaths, signUpOnPage } from './accounts.mjs';
import { graphiqlOffline } from './graphiql.mjs';
import { everyTextInEveryLanguage, languageRun, organizerCancelsOnPage } from './languages.mjs';
import { fakePushService, notifications, pushWorker, received, shownRecord } from './push-stand-in.mjs';
import { GATEWAY, ask, check, closeChannel, env, graphql, log, problems, sleep, started, until, watch } from './support.mjs';

const MOCK = env('MOCK_RECEIVED_URL').replace(/\/$/, '');
const SUBSCRIPTION = JSON.parse(env('PUSH_SUBSCRIPTION'));
const ORGANIZER_PASSWORD_ = env('ORGANIZER_PASSWORD');
const ORGANIZER = { email: env('ORGANIZER_EMAIL'), password: ORGANIZER_PASSWORD_ };
const RACE_A = env('RACE_A');
const RACE_B = env('RACE_B');
const RACE_YEAR = env('RACE_YEAR');
const RACE_KK = env('RACE_KK');
const RACE_RU = env('RACE_RU');
const SUBSCRIPTIONS = { kk: JSON.parse(env('PUSH_SUBSCRIPTION_KK')), ru: JSON.parse(env('PUSH_SUBSCRIPTION_RU')) };
const ORGANIZER_KK = { email: env('ORGANIZER_KK_EMAIL'), password: ORGANIZER_PASSWORD_ };
const SHOTS = env('SCREENSHOT_DIR');
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');

const RUNNER = { name: 'Aigerim Bekova', email: `aigerim-${Date.now()}@example.kz`, password: 'a long runner password' };
const CANCEL_REASON =
  'From 13 March public events are banned over the coronavirus: we are forced to cancel the race. ' +
  'Choose a refund or the starter kit with a donation by 31 March.';
const SUSPEND_REASON = 'Registration is suspended until the ban on public events is lifted.';
const RESCHEDULE_REASON = 'The night run moves a week later, to a cooler evening.';
/** The page must show an alert within this long of the organizer's mutation. */
const BANNER_WITHIN_MS = 1000;

async function signIn(page, { email, password }) {
  const form = page.locator('form', { has: page.getByRole('heading', { name: 'Sign in' }) });
  await form.getByLabel('Email').fill(email);
  await form.getByLabel('Password').fill(password);
  await form.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('Signed in as').waitFor();
}

async function register(page, slug, distanceName, shirt) {
  const race = page.locator(`#race-${slug}`);
  const distance = race.getByLabel('Distance');
  const value = await distance.locator('option', { hasText: distanceName }).first().getAttribute('value');
  await distance.selectOption(value);
  if (shirt) await race.getByLabel('T-shirt').selectOption(shirt);
  await race.getByRole('button', { name: 'Register' }).click();
  const line = await race.getByText(/You are registered: bib \d+/).textContent({ timeout: 10_000 });
  return Number(line.match(/bib (\d+)/)[1]);
}

/** The ids a page acknowledged with `acknowledgeNotifications`, in order, as it sends them. */
function acknowledgements(page) {
  const upTo = [];
  page.on('request', (request) => {
    if (request.url() !== `${GATEWAY}/graphql` || request.method() !== 'POST') return;
    try {
      const body = JSON.parse(request.postData() ?? '');
      if (body.query?.includes('acknowledgeNotifications(')) upTo.push(body.variables.upTo);
    } catch {
      // not a JSON request
    }
  });
  return upTo;
}

/** The organizer's reach report for an alert, read at the gateway. */
async function reachOf(token, notificationId) {
  const data = await graphql(
    token,
    `query($n: ID!) { reachReport(notificationId: $n) {
      targeted acknowledged liveSeen pushDelivered pushDisplayed pushClicked unreached } }`,
    { n: notificationId },
  );
  return data.reachReport;
}

/** The organizer announces a change on a race's card (a new start, for a reschedule, as
 * the race's wall-clock time; `email`, the policy chosen, else the form's default, which
 * must be UNREACHED); resolves when the mutation answered, to when it did. */
async function announce(page, slug, status, reason, newStart, email) {
  const race = page.locator(`#race-${slug}`);
  // The card may be redrawn between filling and the click (a live alert refreshes it): then
  // the form sent is empty and the browser's own check stops it. Fill and send again, at
  // most three times; a mutation that was sent is never sent twice (its answer is awaited).
  let response;
  for (let attempt = 1; !response; attempt += 1) {
    await race.getByLabel('New status').selectOption(status);
    await race.getByLabel('Reason (shown to every runner)').fill(reason);
    if (newStart) await race.getByLabel(/New start/).fill(newStart);
    if (email) await race.getByLabel('Email the runners').selectOption(email);
    const sent = page.waitForRequest(
      (r) => r.url() === `${GATEWAY}/graphql` && (r.postData() ?? '').includes('changeEventStatus'),
      { timeout: 5_000 },
    );
    await race.getByRole('button', { name: 'Announce' }).click();
    const request = await sent.catch((error) => {
      if (attempt >= 3) throw error;
      return null;
    });
    if (request) {
      const sentPolicy = JSON.parse(request.postData()).variables.input.email;
      check(sentPolicy === (email ?? 'UNREACHED'), `the status change carries the email policy (${sentPolicy})`);
      response = await request.response();
      check(response !== null, 'the status change was answered');
    }
  }
  const at = Date.now();
  const body = await response.json();
  check(!body.errors, `the status change is accepted: ${JSON.stringify(body.errors)}`);
  check(body.data.changeEventStatus.status === status, `the race is now ${status}`);
  return at;
}

async function main() {
  mkdirSync(SHOTS, { recursive: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  log(`Chromium ${browser.version()} at ${CHROMIUM}`);
  try {
    const organizerLeft = await journey(browser);
    await otherAccountPaths(browser);
    await graphiqlOffline(browser, SHOTS);
    await organizerLeft();
    await everyTextInEveryLanguage(browser);
    await inOtherLanguages(browser);
  } finally {
    await browser.close();
    closeChannel();
  }
  check(problems.length === 0, `no console errors or failed requests:\n  ${problems.join('\n  ')}`);
  log(`journey done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

async function journey(browser) {
  // 1. The runner signs up, registers for two races and asks for alerts on this device.
  const runnerContext = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 900 } });
  // The service worker's console too (pages report theirs through watch()).
  runnerContext.on('console', (message) => {
    if (message.worker() && message.type() === 'error') problems.push(`service worker console: ${message.text()}`);
  });
  await runnerContext.grantPermissions(['notifications'], { origin: GATEWAY });
  await runnerContext.addInitScript(fakePushService, SUBSCRIPTION);
  // The runner's WebSockets pass through here, so that the test can cut one as a gateway
  // shutting down does (close 1001) and keep the gateway "down" for a moment.
  const gateway = { down: false, sockets: [] };
  await runnerContext.routeWebSocket(/\/graphql\/ws$/, (socket) => {
    if (gateway.down) {
      socket.close({ code: 1001, reason: 'Going Away' });
      return;
    }
    gateway.sockets.push({ socket, server: socket.connectToServer() });
  });
  let runner = watch(await runnerContext.newPage(), 'runner');
  let acked = acknowledgements(runner);
  await runner.goto(`${GATEWAY}/`);

  // Keyboard and screen-reader basics: the first Tab reaches the skip link, which leads
  // to the races; every field has a label; the banner is an assertive live region.
  await runner.keyboard.press('Tab');
  check(
    (await runner.evaluate(() => document.activeElement?.textContent)) === 'Skip to the races',
    'the first Tab stop is the skip link',
  );
  await runner.keyboard.press('Enter');
  check(
    (await runner.evaluate(() => document.activeElement?.id)) === 'races-heading',
    'the skip link moves focus to the races',
  );
  check((await runner.locator('#banner').getAttribute('role')) === 'alert', 'the banner is a live region (role=alert)');
  check((await runner.evaluate(() => document.documentElement.lang)) === 'en', 'an English browser gets the page in English');

  // Sign-up takes two steps: the page says to check the mail; the runner opens the mail's
  // link in a new tab, as from a mail client, and is signed in there and in this tab.
  await signUpOnPage(runner, RUNNER);
  const mail = await ask('confirmation-mail', RUNNER.email);
  const linkTab = watch(await runnerContext.newPage(), 'runner (mail link)');
  await linkTab.goto(mail.link);
  await linkTab.getByText('Signed in as').waitFor();
  check(linkTab.url() === `${GATEWAY}/`, `the token leaves the address bar (${linkTab.url()})`);
  const welcome = await linkTab.locator('#page-status').textContent();
  check(welcome === `Welcome, ${RUNNER.name}: your account is ready.`, `the link's tab welcomes the runner: ${welcome}`);
  await runner.getByText('Signed in as').waitFor();
  const followed = await runner.locator('#page-status').textContent();
  check(followed === 'Signed in from another tab.', `the first tab follows: ${followed}`);
  await linkTab.close();
  const signedUp = JSON.parse(await runner.evaluate(() => localStorage.getItem('race-day:session')));
  const language = (await graphql(signedUp.token, '{ me { language } }')).me.language;
  check(language === 'EN', `the account has the page's language: ${language}`);
  log('runner signed up and confirmed by the mail\'s link');

  const bibA = await register(runner, RACE_A, 'Half marathon', 'M');
  const bibB = await register(runner, RACE_B, '10 km', null);
  log(`runner registered: bib ${bibA} in ${RACE_A}, bib ${bibB} in ${RACE_B}`);
  await runner.locator('#registrations .registration').nth(1).waitFor();
  const unlabelled = await runner.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea')]
      .filter((e) => e.type !== 'hidden' && !e.labels?.length && !e.getAttribute('aria-label'))
      .map((e) => e.outerHTML),
  );
  check(unlabelled.length === 0, `every field has a label: ${unlabelled.join(', ')}`);

  await runner.getByRole('button', { name: 'Alert me on this device' }).click();
  await runner.getByText('Alerts are on for this device.').waitFor();
  const session = JSON.parse(await runner.evaluate(() => localStorage.getItem('race-day:session')));
  const me = await graphql(session.token, '{ me { pushSubscriptions { endpoint allRegisteredEvents } } }');
  check(
    me.me.pushSubscriptions.some((s) => s.endpoint === SUBSCRIPTION.endpoint && s.allRegisteredEvents),
    `the gateway holds the browser's subscription: ${JSON.stringify(me.me.pushSubscriptions)}`,
  );
  await runner.getByText('Live', { exact: true }).waitFor();
  log('alerts on: the gateway holds the subscription; the live connection is up');

  // 2. The organizer, in a second browser context, cancels race A with a reason.
  const organizerContext = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 900 } });
  const organizer = watch(await organizerContext.newPage(), 'organizer');
  await organizer.goto(`${GATEWAY}/`);
  await signIn(organizer, ORGANIZER);
  await organizer.locator(`#race-${RACE_A}`).getByLabel('New status').waitFor();
  // The page notes when the banner first shows the reason (its clock is this machine's).
  await runner.evaluate((reason) => {
    const banner = document.getElementById('banner');
    new MutationObserver((_, observer) => {
      if (banner.textContent.includes(reason)) {
        window.bannerShownAt = Date.now();
        observer.disconnect();
      }
    }).observe(banner, { childList: true, subtree: true, characterData: true });
  }, CANCEL_REASON);
  const cancelledAt = await announce(organizer, RACE_A, 'CANCELLED', CANCEL_REASON);
  log('organizer cancelled race A');

  // 3. The runner's banner shows the cancellation and its reason within a second.
  const banner = runner.locator('#banner');
  await banner.getByText(CANCEL_REASON).waitFor({ timeout: 5000 });
  const shownAt = await runner.evaluate(() => window.bannerShownAt);
  const latency = shownAt - cancelledAt;
  log(`banner shown ${latency} ms after the mutation's answer (limit ${BANNER_WITHIN_MS} ms)`);
  check(latency < BANNER_WITHIN_MS, `the banner shows within ${BANNER_WITHIN_MS} ms (took ${latency} ms)`);
  check((await banner.locator('.banner-title').textContent()).endsWith('is cancelled'), 'the banner says the race is cancelled');
  // The page, seen, acknowledges what it showed: the gateway counts the runner as reached
  // on the page (the mail worker queues the alert's targets a moment after the change).
  const cancellationId = await banner.getAttribute('data-notification-id');
  const organizerToken = JSON.parse(await organizer.evaluate(() => localStorage.getItem('race-day:session'))).token;
  check((await runner.evaluate(() => document.visibilityState)) === 'visible', 'the runner page is visible');
  const seenLive = await until(
    'the reach report to count the page\'s acknowledgement',
    async () => {
      const reach = await reachOf(organizerToken, cancellationId);
      return reach.targeted > 0 && reach.liveSeen > 0 ? reach : null;
    },
    10_000,
    200,
  );
  check(
    seenLive.targeted === 1 && seenLive.liveSeen === 1 && seenLive.acknowledged === 1 && seenLive.pushDisplayed === 0 && seenLive.unreached === 0,
    `the runner is reached on the page, not yet by a push: ${JSON.stringify(seenLive)}`,
  );
  check(JSON.stringify(acked) === JSON.stringify([cancellationId]), `the page acknowledged the cancellation once: ${acked}`);
  log(`the page acknowledged the cancellation (notification ${cancellationId}): liveSeen 1 of ${seenLive.targeted}`);
  // The race and the registration follow: the refund choice is offered.
  await runner.locator(`#race-${RACE_A} .status`).getByText('Cancelled').waitFor();
  await runner.locator('#registrations').getByText('Send my choice').waitFor();
  await runner.evaluate(() => window.scrollTo({ top: 0, behavior: 'instant' }));
  await runner.screenshot({ path: join(SHOTS, 'runner-after-cancellation.png') });
  log(`screenshot: ${join(SHOTS, 'runner-after-cancellation.png')}`);

  // The same runner on a phone-sized screen: the page fits, nothing scrolls sideways.
  const phoneContext = await browser.newContext({
    locale: 'en-US',
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
  });
  const phone = watch(await phoneContext.newPage(), 'phone');
  await phone.goto(`${GATEWAY}/`);
  await signIn(phone, RUNNER);
  await phone.locator('#banner').getByText(CANCEL_REASON).waitFor();
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `the phone page does not scroll sideways (${overflow} px too wide)`);
  await phone.screenshot({ path: join(SHOTS, 'runner-phone.png') });
  log(`screenshot: ${join(SHOTS, 'runner-phone.png')}`);
  await phoneContext.close();

  // 4. Exactly one push for the runner reaches the push service, and decrypts.
  await until('the push for the cancellation', async () => (await received(MOCK, SUBSCRIPTION)).received.length >= 1);
  await sleep(1500);
  const atMock = await received(MOCK, SUBSCRIPTION);
  check(atMock.rejections.length === 0, `the mock rejected nothing: ${atMock.rejections.join('; ')}`);
  check(atMock.received.length === 1, `exactly one push for the runner (got ${atMock.received.length})`);
  const push = atMock.received[0];
  check(push.status >= 200 && push.status < 300, `the push was accepted (${push.status})`);
  const payload = push.payload;
  check(payload && payload.body === CANCEL_REASON, `the push decrypts to the reason: ${JSON.stringify(payload)}`);
  const raceAName = await runner.locator(`#race-${RACE_A} h3`).textContent();
  check(payload.title === `${raceAName} is cancelled`, `the push's title is in the runner's English: ${payload.title}`);
  check(payload.status === 'CANCELLED' && payload.notificationId, 'the push names its status and notification');
  check(push.topic === `event-${payload.eventId}`, `the push's Topic is the race (${push.topic})`);
  log(`the mock received one push, decrypted: notification ${payload.notificationId}`);
  // The organizer's page reads the race's push report again once the pushes have gone
  // out (its form stays as it is): the cancellation's one push, delivered.
  await until('the push report on the organizer page', async () => {
    const cells = await organizer
      .locator(`#race-${RACE_A} table.reports tbody tr`, { hasText: 'Cancelled' })
      .locator('td')
      .allTextContents();
    return cells.length === 7 && cells[0] === '1' && cells[2] === '1';
  });
  log('the organizer page reports the push: queued 1, delivered 1');

  // ... and the page's service worker, handed it as the push service would, shows it once.
  const serviceWorker = await pushWorker(runnerContext, runner);
  const { cdp, registration, versions } = serviceWorker;
  const deliver = () => serviceWorker.deliver(payload);
  await deliver();
  const shown = await until('the notification', async () => {
    const list = await notifications(runner);
    return list.length ? list : null;
  });
  check(shown.length === 1, `one notification (got ${shown.length})`);
  check(shown[0].body === CANCEL_REASON, `the notification shows the reason: ${shown[0].body}`);
  check(shown[0].title === payload.title, `the notification's title is the push's: ${shown[0].title}`);
  check(shown[0].tag === `event-${payload.eventId}`, `the notification is tagged with the race: ${shown[0].tag}`);
  log(`the service worker showed "${shown[0].title}"`);
  // It reports the push shown with the delivery's token (kept for the click), in the
  // document api.js names for the metrics; the token is then spent.
  check(typeof payload.ack === 'string' && payload.ack.length === 32, `the push carries an ack token: ${payload.ack}`);
  check(shown[0].data?.ack === payload.ack, `the notification keeps the token: ${JSON.stringify(shown[0].data)}`);
  const [pageApi, worker] = await Promise.all(
    [`${GATEWAY}/assets/api.js`, `${GATEWAY}/sw.js`].map((url) => fetch(url).then((r) => r.text())),
  );
  const ackDocument = pageApi.match(/ACKNOWLEDGE_PUSH = (`[^`]+`)/)?.[1];
  check(ackDocument && worker.includes(ackDocument), 'the service worker sends api.js\'s AcknowledgePush document');
  const displayed = await until(
    'the reach report to count the push shown',
    async () => {
      const reach = await reachOf(organizerToken, cancellationId);
      return reach.pushDisplayed > 0 ? reach : null;
    },
    10_000,
    200,
  );
  check(
    displayed.pushDisplayed === 1 && displayed.pushDelivered === 1 && displayed.pushClicked === 0 && displayed.acknowledged === 1,
    `the push counts as delivered and shown: ${JSON.stringify(displayed)}`,
  );
  const spent = await fetch(`${GATEWAY}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: 'mutation($t: String!) { acknowledgePush(token: $t, action: DISPLAYED) }',
      variables: { t: payload.ack },
    }),
  }).then((r) => r.json());
  check(
    spent.errors?.[0]?.extensions?.code === 'INVALID_ACKNOWLEDGEMENT_TOKEN',
    `the worker spent the token: ${JSON.stringify(spent)}`,
  );
  log('the service worker acknowledged the push it showed: pushDisplayed 1');

  // The runner dismisses it; the same push delivered again (at least once) is not shown.
  await runner.evaluate(async () => {
    for (const n of await (await navigator.serviceWorker.ready).getNotifications()) n.close();
  });
  await until('the notification to close', async () => (await notifications(runner)).length === 0);
  const id = String(payload.notificationId);
  await deliver();
  await until('the repeat to be dropped', async () => (await shownRecord(runner, id))?.repeats === 1);
  check((await notifications(runner)).length === 0, 'a repeat shows no second notification');

  // Stopped and started again, the worker has forgotten every variable, not what it showed.
  const running = [...versions.values()].filter(
    (v) => v.registrationId === registration.registrationId && v.runningStatus === 'running',
  );
  check(running.length > 0, 'the service worker is running before it is stopped');
  for (const version of running) await cdp.send('ServiceWorker.stopWorker', { versionId: version.versionId });
  await until('the service worker to stop', () =>
    running.every((v) => versions.get(v.versionId)?.runningStatus === 'stopped'),
  );
  await deliver();
  await until('the repeat after the restart to be dropped', async () => (await shownRecord(runner, id))?.repeats === 2);
  check(
    running.some((v) => versions.get(v.versionId)?.runningStatus === 'running'),
    'the stopped worker was started again for the push',
  );
  check((await notifications(runner)).length === 0, 'a repeat after the worker restarted shows nothing');
  log('the repeat was dropped twice: while running, and after ServiceWorker.stopWorker');
  await cdp.detach();

  // Reloaded, the page reads its log back from the gateway: the cancellation is listed
  // (once), with no banner (this device showed it already), and live again.
  acked = acknowledgements(runner);
  await runner.reload();
  await runner.getByText('Live', { exact: true }).waitFor();
  const reloaded = runner.locator('#alert-log li');
  await reloaded.first().waitFor({ timeout: 10_000 });
  check((await reloaded.count()) === 1, `the reloaded log lists one alert (got ${await reloaded.count()})`);
  check((await reloaded.first().textContent()).includes(CANCEL_REASON), 'the reloaded log lists the cancellation');
  check(await runner.locator('#alert-log-empty').isHidden(), 'the reloaded log does not say "No alerts yet."');
  check((await runner.locator('#banner').textContent()) === '', 'an alert this device showed gets no banner again');
  await until('the reloaded page to acknowledge', () => acked.length > 0);
  check(JSON.stringify(acked) === JSON.stringify([cancellationId]), `the reloaded page acknowledged its newest alert: ${acked}`);
  log('after a reload the log still lists the cancellation');

  // The runner chooses the starter kit with a donation; the organizer approves it (through
  // the API: the page offers organizers the status change, GraphiQL the rest), and the
  // decision reaches the runner's page live.
  const registrationsPanel = runner.locator('#registrations');
  const refundForm = registrationsPanel.locator('form.refund-form');
  await refundForm.getByLabel(/I agree/).check();
  await refundForm.getByRole('button', { name: 'Send my choice' }).click();
  await registrationsPanel.getByText(/Your choice: Kit and donation/).waitFor();
  const organizerSession = JSON.parse(await organizer.evaluate(() => localStorage.getItem('race-day:session')));
  const requests = await graphql(
    organizerSession.token,
    'query($e: ID!) { refundRequests(eventId: $e, status: SUBMITTED) { edges { node { id option } } } }',
    { e: payload.eventId },
  );
  const request = requests.refundRequests.edges.map((e) => e.node);
  check(request.length === 1 && request[0].option === 'KIT_AND_DONATE', `one kit-and-donate request: ${JSON.stringify(request)}`);
  await graphql(
    organizerSession.token,
    'mutation($id: ID!) { decideRefund(id: $id, decision: APPROVED, note: "Thank you for supporting the charities") { status } }',
    { id: request[0].id },
  );
  await runner.locator('#banner').getByText(/refund request for .* approved/).waitFor();
  await registrationsPanel.getByText(/Thank you for supporting the charities/).waitFor();
  const decisionId = await runner.locator('#banner').getAttribute('data-notification-id');
  await until('the decision to be acknowledged', () => acked.includes(decisionId));
  log('refund chosen on the page; the approval reached it live');

  // The connection drops as when the gateway shuts down (1001), and stays down while the
  // organizer reschedules race B; the page reconnects with backoff, resubscribes from the
  // last id it saw and shows the change once.
  gateway.down = true;
  for (const { socket, server } of gateway.sockets.splice(0)) {
    await socket.close({ code: 1001, reason: 'Going Away' }).catch(() => {});
    await server.close().catch(() => {});
  }
  await runner.getByText('Reconnecting…').waitFor();
  await announce(organizer, RACE_B, 'RESCHEDULED', RESCHEDULE_REASON, `${RACE_YEAR}-06-19T20:30`);
  gateway.down = false;
  const downFor = Date.now();
  await runner.locator('#banner').getByText(RESCHEDULE_REASON).waitFor({ timeout: 15_000 });
  log(`reconnected and caught up ${Date.now() - downFor} ms after the gateway came back`);
  await runner.getByText('Live', { exact: true }).waitFor();
  check(
    (await runner.locator('#alert-log li', { hasText: RESCHEDULE_REASON }).count()) === 1 &&
      (await runner.locator('#alert-log li', { hasText: CANCEL_REASON }).count()) === 1,
    'after the reconnect each alert is listed once',
  );
  await runner
    .locator(`#race-${RACE_B} .facts`)
    .getByText(`19 June ${RACE_YEAR} at 20:30 (Asia/Almaty)`)
    .waitFor();
  log('the rescheduled start reads as the organizer typed it, in the race\'s zone');

  // 5. With the runner's page closed, the organizer suspends race B; the runner comes back.
  await runner.close();
  const suspendedAt = await announce(organizer, RACE_B, 'SUSPENDED', SUSPEND_REASON, null, 'NONE');
  log('organizer suspended race B while the runner was away, mailing nobody');
  // The organizer's page, left open, reads whom the suspension reached every 5 s: nobody
  // yet, so the runner is listed to phone, not mailed (the policy chosen).
  const organizerReports = [];
  organizer.on('request', (request) => {
    if ((request.postData() ?? '').includes('query ReachReport(')) organizerReports.push(Date.now());
  });
  const suspensionRow = organizer.locator(`#race-${RACE_B} table.reach tbody tr`, { hasText: 'Suspended' });
  const reachCells = () => suspensionRow.locator('td').allTextContents();
  await until(
    'the organizer page to list the suspension\'s reach',
    async () => JSON.stringify(await reachCells()) === JSON.stringify(['1', '0', '0', '0', '1']),
    15_000,
    200,
  );
  const toPhone = organizer.locator(`#race-${RACE_B} .to-phone`);
  check((await toPhone.count()) === 1, `one alert has runners to phone (got ${await toPhone.count()})`);
  const listed = await toPhone.locator('li').allTextContents();
  check(
    listed.length === 1 && listed[0] === `${RUNNER.name}, ${RUNNER.email} (not mailed)`,
    `the runner to phone, not mailed: ${JSON.stringify(listed)}`,
  );
  log(`the organizer page lists the runner to phone: ${listed[0]}`);
  await organizer.locator(`#race-${RACE_B}`).screenshot({ path: join(SHOTS, 'organizer-reach.png') });
  log(`screenshot: ${join(SHOTS, 'organizer-reach.png')}`);
  // Past the one extra read after the change (3 s): what follows only the 5 s timer reads.
  await sleep(Math.max(0, suspendedAt + 3_500 - Date.now()));
  const readBefore = organizerReports.length;
  runner = watch(await runnerContext.newPage(), 'runner again');
  acked = acknowledgements(runner);
  await runner.goto(`${GATEWAY}/`);
  await runner.locator('#banner').getByText(SUSPEND_REASON).waitFor({ timeout: 10_000 });
  check(
    (await runner.locator('#banner .banner-title').textContent()).endsWith('is suspended'),
    'the banner says the race is suspended',
  );
  // The log is the gateway's: every alert, newest first, each once; the live connection
  // continues after the newest, so nothing is repeated.
  const log_ = runner.locator('#alert-log li');
  await log_.nth(3).waitFor();
  await runner.getByText('Live', { exact: true }).waitFor();
  await sleep(500);
  const entries = await log_.allTextContents();
  const expected = [SUSPEND_REASON, RESCHEDULE_REASON, 'Thank you for supporting the charities', CANCEL_REASON];
  check(
    entries.length === expected.length && expected.every((text, i) => entries[i].includes(text)),
    `the log lists every alert once, newest first: ${JSON.stringify(entries)}`,
  );
  check(await runner.locator('#alert-log-older').isHidden(), 'no older alerts to show');
  // The organizer's page sees the runner reached, by itself, and nobody left to phone.
  await until(
    'the organizer page to count the suspension acknowledged',
    async () => JSON.stringify(await reachCells()) === JSON.stringify(['1', '1', '0', '0', '0']),
    12_000,
    200,
  );
  check((await toPhone.count()) === 0, 'nobody is left to phone');
  check(organizerReports.length > readBefore, 'the organizer page read the reach again by itself');
  const suspensionId = await suspensionRow.getAttribute('data-notification-id');
  check(JSON.stringify(acked) === JSON.stringify([suspensionId]), `the reopened page acknowledged the suspension once: ${acked}`);
  log('the organizer page, read again by itself, counts the suspension acknowledged');
  await runner.getByText('Alerts are on for this device.').waitFor();
  await until('the push for the suspension', async () => (await received(MOCK, SUBSCRIPTION)).received.length >= 3);
  log('the reopened page showed what happened while away, with no repeat');

  // Signing out takes this device's subscription off the account (a subscription never
  // moves between accounts, so the next runner to sign in here could not use it).
  await runner.getByRole('button', { name: 'Sign out' }).click();
  await runner.locator('#page-status').getByText('Signed out.', { exact: true }).waitFor();
  const again = await fetch(`${GATEWAY}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: 'mutation($input: SignInInput!) { signIn(input: $input) { token } }',
      variables: { input: { email: RUNNER.email, password: RUNNER.password } },
    }),
  }).then((response) => response.json());
  const after = await graphql(again.data.signIn.token, '{ me { pushSubscriptions { endpoint } } }');
  check(
    after.me.pushSubscriptions.length === 0,
    `signing out removed the device's subscription: ${JSON.stringify(after.me.pushSubscriptions)}`,
  );
  log('signing out took the push subscription off the account');

  // The organizer signs out: the reports were read every 5 s while shown, and are no more.
  const organizerApi = await signInByApi(ORGANIZER);
  await organizer.getByRole('button', { name: 'Sign out' }).click();
  await organizer.locator('#page-status').getByText('Signed out.', { exact: true }).waitFor();
  const leftAt = Date.now();

  // 6. Twenty alerts a page: with more, "Show older" brings the rest, each once.
  const events = await graphql(organizerApi, '{ events(first: 25) { edges { node { id slug } } } }');
  const raceB = events.events.edges.find((e) => e.node.slug === RACE_B).node.id;
  for (let i = 0; i < 18; i += 1) {
    await graphql(
      organizerApi,
      'mutation($input: ChangeEventStatusInput!) { changeEventStatus(input: $input) { id } }',
      { input: { eventId: raceB, status: i % 2 === 0 ? 'SCHEDULED' : 'SUSPENDED', reason: `Update ${i + 1} of 18`, email: 'NONE' } },
    );
  }
  await signIn(runner, RUNNER);
  await log_.nth(19).waitFor();
  const older = runner.getByRole('button', { name: 'Show older alerts' });
  await older.waitFor();
  check((await log_.count()) === 20, `the first page lists 20 alerts (got ${await log_.count()})`);
  check((await log_.first().textContent()).includes('Update 18 of 18'), 'the newest alert is on top');
  check((await runner.locator('#alert-log li', { hasText: CANCEL_REASON }).count()) === 0, 'the oldest alert is on the next page');
  await older.click();
  await log_.nth(21).waitFor();
  check(await older.isHidden(), 'with every alert shown, "Show older" goes');
  const all = await log_.evaluateAll((items) => items.map((li) => li.dataset.notificationId));
  check(all.length === 22 && new Set(all).size === 22, `22 alerts, each once: ${all}`);
  check(
    all.every((id, i) => i === 0 || BigInt(id) < BigInt(all[i - 1])),
    `the log is newest first: ${all}`,
  );
  check((await log_.last().textContent()).includes(CANCEL_REASON), 'the oldest alert, the cancellation, comes last');
  check(
    (await runner.evaluate(() => document.activeElement?.dataset.notificationId)) === all[20],
    'focus moves to the first alert "Show older" brought',
  );
  log('the log pages: 20 alerts, then "Show older" for the other 2');

  await runnerContext.close();
  // Checked at the very end (the other paths run meanwhile): more than a 5 s tick later.
  return async () => {
    await sleep(Math.max(0, leftAt + 5_500 - Date.now()));
    const afterLeaving = organizerReports.filter((at) => at > leftAt + 500).length;
    check(afterLeaving === 0, `the organizer page stopped reading reach reports once left (${afterLeaving} read)`);
    await organizerContext.close();
    log('the organizer page stopped reading the reports once the organizer left');
  };
}

/** A session token for `who`, signed in through the API. */
async function signInByApi({ email, password }) {
  const answer = await fetch(`${GATEWAY}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: 'mutation($input: SignInInput!) { signIn(input: $input) { token } }',
      variables: { input: { email, password } },
    }),
  }).then((response) => response.json());
  check(answer.data?.signIn?.token, `signIn answers a token: ${JSON.stringify(answer.errors)}`);
  return answer.data.signIn.token;
}

main().catch((error) => {
  console.error(error.stack ?? String(error));
  if (problems.length) console.error(`also seen:\n  ${problems.join('\n  ')}`);
  process.exit(1);
});

/** The parts where the language shows, in Kazakh and in Russian: the Kazakh runner's race
 * is cancelled by an organizer on a Kazakh page, the Russian runner's through the API. */
async function inOtherLanguages(browser) {
  const token = await signInByApi(ORGANIZER);
  const race = async (slug) =>
    ({ slug, ...(await graphql(token, 'query($s: String!) { eventBySlug(slug: $s) { id name startsAtLocal } }', { s: slug })).eventBySlug });
  const raceA = await race(RACE_A);
  const races = { kk: await race(RACE_KK), ru: await race(RACE_RU) };
  await languageRun(browser, {
    lang: 'kk',
    race: races.kk,
    raceA,
    subscription: SUBSCRIPTIONS.kk,
    mock: MOCK,
    fakePushService,
    shots: SHOTS,
    cancel: async (reasons) => {
      const organizer = await organizerCancelsOnPage(browser, { lang: 'kk', race: races.kk, organizer: ORGANIZER_KK, reasons });
      await organizer.close();
    },
  });
  await languageRun(browser, {
    lang: 'ru',
    race: races.ru,
    raceA,
    subscription: SUBSCRIPTIONS.ru,
    mock: MOCK,
    fakePushService,
    shots: SHOTS,
    cancel: (reasons) =>
      graphql(token, 'mutation($input: ChangeEventStatusInput!) { changeEventStatus(input: $input) { id } }', {
        input: {
          eventId: races.ru.id,
          status: 'CANCELLED',
          reason: reasons.EN,
          reasons: [{ language: 'KK', text: reasons.KK }, { language: 'RU', text: reasons.RU }],
          email: 'NONE',
        },
      }),
  });
}
