// The runner page: wires the account panel, the races, the live banner and the push
// switch together, and keeps them current. At /confirm-sign-up (the link in the sign-up
// mail) it first confirms the sign-up with the link's token; at /reset-password (the link
// in the reset mail) it opens the new-password form with the link's token.

import {
  ACKNOWLEDGE_NOTIFICATIONS,
  ApiError,
  EVENTS,
  ME,
  NOTIFICATION_LOG,
  NOTIFICATIONS_CURSOR,
  explain,
  gql,
  onSessionChangedElsewhere,
  saveSession,
  session,
} from './api.js';
import { confirmSignUp, registrationsList, signedInPanel, signedOutPanel } from './account.js';
import { h, replace, say, when, word } from './dom.js';
import { lastSeen, listen, remember, retryDelayMs } from './live.js';
import * as push from './push.js';
import { raceCards } from './races.js';

const $ = (id) => document.getElementById(id);

const state = {
  /** { token, account } while signed in. */
  session: session(),
  /** The `me` answer (registrations, push subscriptions) while signed in. */
  me: null,
  events: [],
  /** The live alert subscription while signed in. */
  live: null,
};

// ---- The banner and the alert log -------------------------------------------------

function headline(change) {
  const name = change.event.name;
  switch (change.status) {
    case 'CANCELLED':
      return `${name} is cancelled`;
    case 'SUSPENDED':
      return `${name} is suspended`;
    case 'RESCHEDULED':
      return `${name} moves to ${when(change.startsAt)}`;
    case 'SCHEDULED':
      return `${name} is on again`;
    case 'COMPLETED':
      return `${name} is over`;
    default:
      return `${name}: ${word(change.status)}`;
  }
}

/** The title, text and race of a notification, for the banner and the log. */
function describe(notification) {
  const change = notification.eventStatusChange;
  if (change) {
    return {
      kind: change.status.toLowerCase(),
      title: headline(change),
      text: change.reason,
      at: change.occurredAt,
      slug: change.event.slug,
    };
  }
  const decision = notification.refundDecision;
  if (decision) {
    return {
      kind: 'refund',
      title: `Your refund request for ${decision.eventName}: ${word(decision.status).toLowerCase()}`,
      text: decision.note ?? '',
      at: decision.decidedAt,
      slug: null,
    };
  }
  return null;
}

function showBanner(notification) {
  const about = describe(notification);
  if (!about) return;
  const banner = $('banner');
  const dismiss = h('button', { type: 'button', class: 'dismiss', 'aria-label': 'Dismiss this alert' }, '×');
  dismiss.addEventListener('click', () => replace(banner));
  banner.dataset.kind = about.kind;
  banner.dataset.notificationId = notification.id;
  replace(
    banner,
    h(
      'div',
      { class: 'banner-text' },
      h('p', { class: 'banner-title' }, about.title),
      about.text ? h('p', { class: 'banner-reason' }, about.text) : null,
      h(
        'p',
        { class: 'banner-meta' },
        h('time', { datetime: about.at }, when(about.at)),
        about.slug ? [' · ', h('a', { href: `/events/${about.slug}` }, 'See the race')] : null,
      ),
    ),
    dismiss,
  );
}

// The log is the gateway's (`notificationLog`, newest first), so a reload or another
// device shows the same; live alerts go on top, older pages at the bottom, each id once.
const LOG_PAGE = 20;
const alerts = {
  /** Bumped whenever the log is dropped, so that answers for an earlier one are ignored. */
  generation: 0,
  ids: new Set(),
  /** The newest id shown, or null. */
  newest: null,
  /** The cursor of the next older page, or null when there is none. */
  older: null,
};

function logEntry(notification) {
  const about = describe(notification);
  if (!about) return null;
  return h(
    'li',
    { 'data-notification-id': notification.id, tabindex: '-1' },
    h('strong', {}, about.title),
    about.text ? `: ${about.text}` : '',
    ' ',
    h('time', { datetime: about.at, class: 'muted' }, when(about.at)),
  );
}

/** Adds the notifications not shown yet, on top (live) or at the bottom (older pages);
 * returns the entries added. */
function addToLog(notifications, where) {
  const added = [];
  for (const notification of notifications) {
    if (alerts.ids.has(notification.id)) continue;
    const entry = logEntry(notification);
    if (!entry) continue;
    alerts.ids.add(notification.id);
    added.push(entry);
    if (alerts.newest === null || BigInt(notification.id) > BigInt(alerts.newest)) alerts.newest = notification.id;
  }
  if (where === 'top') $('alert-log').prepend(...added.reverse());
  else $('alert-log').append(...added);
  $('alert-log-empty').hidden = alerts.ids.size > 0;
  return added;
}

function setOlder(pageInfo) {
  alerts.older = pageInfo.hasNextPage ? pageInfo.endCursor : null;
  $('alert-log-older').hidden = alerts.older === null;
}

/** Empties the log; `loading` while the first page is on its way. */
function clearLog(loading) {
  alerts.generation += 1;
  alerts.ids.clear();
  alerts.newest = null;
  alerts.older = null;
  replace($('alert-log'));
  $('alert-log-empty').hidden = loading;
  $('alert-log-older').hidden = true;
  say($('alert-log-status'), '');
  if (loading) $('alert-log').setAttribute('aria-busy', 'true');
  else $('alert-log').removeAttribute('aria-busy');
}

async function showOlder() {
  const button = $('alert-log-older');
  const list = $('alert-log');
  const generation = alerts.generation;
  if (alerts.older === null) return;
  button.disabled = true;
  list.setAttribute('aria-busy', 'true');
  try {
    const page = (await gql(NOTIFICATION_LOG, { first: LOG_PAGE, after: alerts.older })).notificationLog;
    if (generation !== alerts.generation) return;
    const added = addToLog(page.edges.map((e) => e.node), 'bottom');
    setOlder(page.pageInfo);
    const count = added.length;
    say($('alert-log-status'), count ? `${count} older alert${count === 1 ? '' : 's'} shown.` : 'No older alerts.');
    // The button is gone with the last page: focus goes to the first alert it brought.
    if (button.hidden) (added[0] ?? list).focus();
  } catch (error) {
    if (generation === alerts.generation) say($('alert-log-status'), `Could not load older alerts: ${explain(error)}`, 'error');
  } finally {
    button.disabled = false;
    list.removeAttribute('aria-busy');
  }
}

/** The newest id acknowledged in this page's life, per account. */
const acknowledgedUpTo = new Map();

/** Tells the gateway the runner saw the log up to its newest alert: once per newer id,
 * and only while the page is seen (else at the next `visibilitychange` to visible). */
function acknowledgeShown() {
  const account = state.session?.account.id;
  const newest = alerts.newest;
  if (!account || newest === null || document.visibilityState !== 'visible') return;
  const before = acknowledgedUpTo.get(account);
  if (before !== undefined && BigInt(newest) <= before) return;
  acknowledgedUpTo.set(account, BigInt(newest));
  gql(ACKNOWLEDGE_NOTIFICATIONS, { upTo: newest }).catch((error) => {
    // Not sent (or limited): tried again with the next alert, or when the page is next
    // shown. A refusal would only be refused again.
    if (error instanceof ApiError && error.code !== 'RATE_LIMITED') return;
    if (acknowledgedUpTo.get(account) !== BigInt(newest)) return;
    if (before === undefined) acknowledgedUpTo.delete(account);
    else acknowledgedUpTo.set(account, before);
  });
}

function showConnection(status) {
  const line = $('connection');
  const words = { live: 'Live', connecting: 'Connecting…', offline: 'Reconnecting…' };
  line.hidden = !state.session;
  line.dataset.state = status;
  line.textContent = words[status] ?? '';
}

// ---- Loading and rendering ---------------------------------------------------------

async function loadEvents() {
  const data = await gql(EVENTS);
  return data.events.edges.map((e) => e.node);
}

async function loadMe() {
  if (!state.session) return null;
  try {
    return (await gql(ME)).me;
  } catch (error) {
    if (error instanceof ApiError && error.code === 'UNAUTHENTICATED') {
      signedOut('Your session has ended: sign in again.');
      return null;
    }
    throw error;
  }
}

/** The newest refresh: an older one that answers later neither draws nor speaks (it would
 * wipe a form being filled in with what it read before, say, a sign-in). */
let latestRefresh = null;

/** Loads and renders everything; false (with the reason on the page) if it could not. */
function refresh() {
  const run = (async () => {
    let events;
    let me;
    try {
      [events, me] = await Promise.all([loadEvents(), loadMe()]);
    } catch (error) {
      if (run !== latestRefresh) return latestRefresh;
      say($('page-status'), `Could not reach the gateway: ${error.message}`, 'error');
      return false;
    }
    if (run !== latestRefresh) return latestRefresh;
    state.events = events;
    state.me = state.session ? me : null;
    say($('page-status'), '');
    render();
    return true;
  })();
  latestRefresh = run;
  return run;
}

function render() {
  const account = state.me ?? state.session?.account ?? null;
  replace(
    $('account-body'),
    state.session
      ? signedInPanel(account, { onSignedOut: () => signedOut('Signed out.'), beforeSignOut })
      : signedOutPanel({ onSignedIn: signedIn, resetToken: takeResetToken() }),
  );
  const runner = account?.role === 'RUNNER';
  $('alerts').hidden = !state.session;
  $('registrations').hidden = !runner;
  const registrations = state.me?.registrations ?? [];
  if (runner) {
    replace($('registrations-body'), registrationsList(registrations, { onChanged: refresh }));
  }
  const registeredEvents = new Map(registrations.map((r) => [r.event.id, r]));
  const viewer = { account: state.session ? account : null, registeredEvents };
  const hooks = {
    onChanged: () => refresh(),
    onRegistered: () => {
      // Subscribing again makes the gateway read the runner's races now.
      state.live?.restart();
      refresh();
    },
  };
  // Upcoming races first, soonest first; then past ones, latest first.
  const now = Date.now();
  const upcoming = state.events.filter((e) => Date.parse(e.startsAt) >= now);
  const past = state.events.filter((e) => Date.parse(e.startsAt) < now).reverse();
  const races = $('races');
  replace(races, upcoming.length ? raceCards(upcoming, viewer, hooks) : h('p', { class: 'muted' }, 'No upcoming races.'));
  replace($('past-races'), raceCards(past, viewer, hooks));
  $('past').hidden = past.length === 0;
  races.removeAttribute('aria-busy');
}

/** Focuses the race of /events/{slug} (the link in a push), once the races are shown. */
function focusLinkedRace(slug) {
  const card = document.getElementById(`race-${slug}`);
  if (!card) return;
  card.scrollIntoView({ block: 'start' });
  card.querySelector('h3')?.focus();
}

// ---- Signing in and out, live alerts, push ------------------------------------------

/** Reads the log's first page, then listens for what comes after it. Failures are tried
 * again with the live connection's back-off. */
async function startAlerts() {
  state.live?.stop();
  state.live = null;
  clearLog(Boolean(state.session));
  if (!state.session) {
    showConnection(null);
    return;
  }
  const generation = alerts.generation;
  const current = () => generation === alerts.generation && state.session !== null;
  const { token, account } = state.session;
  showConnection('connecting');
  let cursor;
  let page;
  for (let failures = 0; ; failures += 1) {
    try {
      // Read before the log: whatever the log lacks comes after it. The runner's own
      // newest id may be further back than the gateway replays; this never is.
      cursor = (await gql(NOTIFICATIONS_CURSOR)).notificationsCursor;
      page = (await gql(NOTIFICATION_LOG, { first: LOG_PAGE })).notificationLog;
      break;
    } catch (error) {
      if (!current()) return;
      if (error instanceof ApiError && error.code === 'UNAUTHENTICATED') {
        signedOut('Your session has ended: sign in again.');
        return;
      }
      say($('alert-log-status'), `Could not load your alerts (${explain(error)}): trying again…`, 'error');
      await new Promise((resolve) => setTimeout(resolve, retryDelayMs(failures)));
      if (!current()) return;
    }
  }
  if (!current()) return;
  const nodes = page.edges.map((e) => e.node);
  $('alert-log').removeAttribute('aria-busy');
  say($('alert-log-status'), '');
  addToLog(nodes, 'bottom');
  setOlder(page.pageInfo);
  // What happened since this device last showed an alert gets the banner, as if live.
  const newest = nodes[0];
  if (newest) {
    const seen = lastSeen(account.id);
    if (seen === null || BigInt(newest.id) > BigInt(seen)) showBanner(newest);
    remember(account.id, newest.id);
  }
  acknowledgeShown();
  const after = newest && BigInt(newest.id) > BigInt(cursor) ? newest.id : cursor;
  state.live = listen({
    token,
    after,
    onNotification(notification) {
      if (alerts.ids.has(notification.id)) return;
      showBanner(notification);
      addToLog([notification], 'top');
      remember(account.id, notification.id);
      acknowledgeShown();
      refresh();
    },
    onState(status) {
      if (status === 'signed-out') {
        signedOut('Your session has ended: sign in again.');
        return;
      }
      if (status === 'too-old') {
        if (current()) startAlerts();
        return;
      }
      showConnection(status);
    },
  });
}

/** `message`, if any, is said once the page shows the account. */
function signedIn(value, message) {
  state.session = value;
  push.shareSession(value.token).catch(() => {});
  startAlerts();
  refresh().then((shown) => {
    if (shown && message) say($('page-status'), message, 'ok');
    return syncPush();
  });
}

/** Before the session ends at the gateway: the live connection is closed from here (the
 * gateway would otherwise close it for the withdrawn token while the page still writes to
 * it), and this device's push subscription is taken off the account. */
async function beforeSignOut() {
  state.live?.stop();
  state.live = null;
  await stopPushHere();
}

/** Signing out takes this device's push subscription off the account (else the next
 * account to sign in here could not use it: a subscription never moves between accounts).
 * Bounded, so that a browser that never readies its service worker still signs out. */
function stopPushHere() {
  if (!push.supported()) return Promise.resolve();
  const timeout = new Promise((resolve) => setTimeout(resolve, 3000));
  return Promise.race([push.disable(), timeout]);
}

function signedOut(message) {
  saveSession(null);
  state.session = null;
  state.me = null;
  state.live?.stop();
  state.live = null;
  showConnection(null);
  push.shareSession(null).catch(() => {});
  replace($('banner'));
  clearLog(false);
  say($('page-status'), message);
  render();
}

function showPush(on, message) {
  $('push-on').hidden = on;
  $('push-off').hidden = !on;
  if (message) say($('push-status'), message, 'ok');
  else say($('push-status'), on ? 'Alerts are on for this device.' : 'Alerts are off for this device.');
}

async function syncPush() {
  if (!push.supported()) {
    $('push-on').disabled = true;
    say($('push-status'), 'This browser cannot receive push alerts; the banner above still works while the page is open.');
    return;
  }
  if (!state.me) return;
  try {
    const { on, message } = await push.sync(state.me.pushSubscriptions.map((s) => s.endpoint));
    showPush(on, message);
  } catch (error) {
    say($('push-status'), `Could not check alerts: ${error.message}`, 'error');
  }
}

function wirePushButtons() {
  const run = (button, action) =>
    button.addEventListener('click', async () => {
      button.disabled = true;
      $('alerts').setAttribute('aria-busy', 'true');
      try {
        const { on, message } = await action();
        showPush(on, message);
        (on ? $('push-off') : $('push-on')).focus();
      } catch (error) {
        say($('push-status'), `That did not work: ${error.message}`, 'error');
      } finally {
        button.disabled = false;
        $('alerts').removeAttribute('aria-busy');
      }
    });
  run($('push-on'), push.enable);
  run($('push-off'), push.disable);
}

/** The link in the sign-up mail: /confirm-sign-up?token=…. The token leaves the address
 * bar before anything else (it is a credential until used); then the sign-up is confirmed
 * and its session kept. Resolves to what to tell the runner once the page is shown. */
async function confirmFromLink() {
  const token = new URLSearchParams(location.search).get('token');
  history.replaceState(null, '', '/');
  if (!token) {
    return { text: 'This confirmation link has no token: open the whole link from the mail.', kind: 'error' };
  }
  try {
    const confirmed = await confirmSignUp(token);
    state.session = confirmed;
    return { text: `Welcome, ${confirmed.account.displayName}: your account is ready.`, kind: 'ok' };
  } catch (error) {
    return { text: `Your sign-up could not be confirmed. ${explain(error)}`, kind: 'error' };
  }
}

/** The link in the reset mail: /reset-password?token=…. Like the sign-up link's token, it
 * leaves the address bar at once; the reset box then opens with it filled in (once). */
let resetToken = null;
function resetFromLink() {
  resetToken = new URLSearchParams(location.search).get('token');
  history.replaceState(null, '', '/');
}
function takeResetToken() {
  const token = resetToken;
  resetToken = null;
  return token;
}

/** Another tab signed in or out: this one follows. */
function followOtherTabs() {
  onSessionChangedElsewhere((value) => {
    if (value?.token === state.session?.token) return;
    if (value) signedIn(value, 'Signed in from another tab.');
    else signedOut('Signed out from another tab.');
  });
}

async function main() {
  wirePushButtons();
  followOtherTabs();
  $('alert-log-older').addEventListener('click', showOlder);
  document.addEventListener('visibilitychange', acknowledgeShown);
  const confirmation = location.pathname === '/confirm-sign-up' ? await confirmFromLink() : null;
  if (location.pathname === '/reset-password') resetFromLink();
  if (push.supported()) {
    push.registerWorker().catch((error) => say($('push-status'), `No service worker: ${error.message}`, 'error'));
    navigator.serviceWorker.addEventListener('message', (event) => {
      if (event.data?.type !== 'show-event') return;
      const event_ = state.events.find((e) => e.id === event.data.eventId);
      if (event_) focusLinkedRace(event_.slug);
    });
  }
  if (state.session) {
    push.shareSession(state.session.token).catch(() => {});
    startAlerts();
  }
  const shown = await refresh();
  if (shown && resetToken && state.session) {
    // The token waits for the signed-out panel (it is taken only there).
    say($('page-status'), 'To choose a new password with this link, sign out first.', 'ok');
  }
  if (shown && confirmation) {
    say($('page-status'), confirmation.text, confirmation.kind);
    // The token may still be pasted (from the mail's text) if the link failed.
    if (confirmation.kind === 'error') document.querySelector('details.confirm')?.setAttribute('open', '');
  }
  const linked = location.pathname.match(/^\/events\/([a-z0-9-]+)$/);
  if (linked) focusLinkedRace(linked[1]);
  if (state.session) await syncPush();
}

main();
