// The runner page: wires the account panel, the races, the live banner and the push
// switch together, and keeps them current. At /confirm-sign-up (the link in the sign-up
// mail) it first confirms the sign-up with the link's token; at /reset-password (the link
// in the reset mail) it opens the new-password form with the link's token.
//
// The page speaks Kazakh, Russian or English (i18n.js): this device's choice, else the
// browser's; once signed in, the account's. The switch in the header changes it at once
// (and the account's, signed in).

import {
  ACKNOWLEDGE_NOTIFICATIONS,
  ApiError,
  EVENTS,
  ME,
  NOTIFICATION_LOG,
  NOTIFICATIONS_CURSOR,
  UPDATE_ACCOUNT,
  explain,
  gql,
  onSessionChangedElsewhere,
  saveSession,
  session,
} from './api.js';
import { confirmSignUp, registrationsList, signedInPanel, signedOutPanel } from './account.js';
import { h, replace, retranslate, say } from './dom.js';
import {
  CHOICE_KEY,
  LANGUAGES,
  LANGUAGE_NAMES,
  dateTime,
  initialLanguage,
  language,
  lazy,
  m,
  moment,
  onLanguageChange,
  reasonIn,
  setLanguage,
  t,
  word,
} from './i18n.js';
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
  /** The account's language as last known here (KK, RU, EN), or null signed out. */
  accountLanguage: null,
  /** Bumped by each switch on this page: an answer asked for before it is older news. */
  switches: 0,
};

// ---- The language ---------------------------------------------------------------------

/** The texts index.html carries (`data-i18n`), the title, the description, <html lang>. */
function applyLanguage(lang) {
  document.documentElement.lang = lang;
  document.title = t('page.title');
  document.querySelector('meta[name="description"]')?.setAttribute('content', t('page.description'));
  for (const element of document.querySelectorAll('[data-i18n]')) element.textContent = t(element.dataset.i18n);
  $('language').value = lang;
  retranslate();
  push.shareTexts(lang).catch(() => {});
}

/** The account's language wins once signed in (from sign-in, or changed on another
 * device); remembered here for the next visit. */
function adoptAccountLanguage(account) {
  const theirs = account?.language;
  if (!theirs || theirs === state.accountLanguage) return;
  state.accountLanguage = theirs;
  setLanguage(theirs, { remember: true });
}

/** The switch: the page at once, this device's choice, and the account's when signed in. */
async function switchLanguage(lang) {
  state.switches += 1;
  setLanguage(lang, { remember: true });
  if (!state.session) return;
  const wanted = lang.toUpperCase();
  state.accountLanguage = wanted;
  const kept = session();
  if (kept?.token === state.session.token) {
    state.session = { ...kept, account: { ...kept.account, language: wanted } };
    saveSession(state.session);
  }
  try {
    await gql(UPDATE_ACCOUNT, { input: { language: wanted } });
  } catch (error) {
    say($('page-status'), m('session.languageNotSaved', { error: explain(error) }), 'error');
  }
}

function wireLanguage() {
  const select = $('language');
  replace(
    select,
    LANGUAGES.map((lang) => h('option', { value: lang, lang }, LANGUAGE_NAMES[lang])),
  );
  select.addEventListener('change', () => switchLanguage(select.value));
  setLanguage(initialLanguage());
  applyLanguage(language());
  onLanguageChange(applyLanguage);
  // Another tab of this origin switched: this one follows (its own switch saved the account's).
  window.addEventListener('storage', (event) => {
    if (event.key === CHOICE_KEY && LANGUAGES.includes(event.newValue)) setLanguage(event.newValue);
  });
}

// ---- The banner and the alert log -------------------------------------------------

/** The race's IANA zone (the notification's event carries it; a refund decision only
 * names the race), or undefined for the reader's own. */
function zoneOf({ id, name, timeZone }) {
  if (timeZone) return timeZone;
  const known = state.events.find((e) => e.id === id || e.name === name);
  return known?.timeZone ?? state.me?.registrations?.find((r) => r.event.name === name)?.event.timeZone;
}

/** The banner's words, composed here from the change (the server's push and mail say the
 * same in the runner's language): the title, and the start where the title lacks it. */
function headline(change) {
  const zone = zoneOf(change.event);
  const start = dateTime(change.startsAt, zone, { zone: Boolean(zone) });
  const args = { event: change.event.name, start, status: word('event', change.status) };
  const known = ['CANCELLED', 'SUSPENDED', 'RESCHEDULED', 'SCHEDULED', 'COMPLETED'].includes(change.status);
  const title = m(known ? `banner.${change.status}` : 'banner.other', args);
  let startLine = null;
  if (change.status === 'CANCELLED' || change.status === 'SUSPENDED') startLine = m('banner.planned', { start });
  else if (change.status === 'SCHEDULED') startLine = m('banner.start', { start });
  return { title, startLine, zone };
}

/** The title, text and race of a notification, for the banner and the log. */
function describe(notification) {
  const change = notification.eventStatusChange;
  if (change) {
    const { title, startLine, zone } = headline(change);
    return {
      kind: change.status.toLowerCase(),
      title,
      startLine,
      // The organizer's translation for the page's language, else the reason as given.
      text: lazy((lang) => reasonIn(change, lang)),
      at: change.occurredAt,
      zone,
      slug: change.event.slug,
    };
  }
  const decision = notification.refundDecision;
  if (decision) {
    return {
      kind: 'refund',
      title: m('banner.refund', { event: decision.eventName, outcome: word('outcome', decision.status) }),
      startLine: null,
      text: lazy(() => decision.note ?? ''),
      at: decision.decidedAt,
      zone: zoneOf({ name: decision.eventName }),
      slug: null,
    };
  }
  return null;
}

function showBanner(notification) {
  const about = describe(notification);
  if (!about) return;
  const banner = $('banner');
  const dismiss = h('button', { type: 'button', class: 'dismiss', 'aria-label': m('banner.dismiss') }, '×');
  dismiss.addEventListener('click', () => replace(banner));
  banner.dataset.kind = about.kind;
  banner.dataset.notificationId = notification.id;
  replace(
    banner,
    h(
      'div',
      { class: 'banner-text' },
      h('p', { class: 'banner-title' }, about.title),
      about.startLine ? h('p', { class: 'banner-start' }, about.startLine) : null,
      String(about.text) ? h('p', { class: 'banner-reason' }, about.text) : null,
      h(
        'p',
        { class: 'banner-meta' },
        h('time', { datetime: about.at }, moment(about.at, about.zone)),
        about.slug ? [' · ', h('a', { href: `/events/${about.slug}` }, m('banner.seeRace'))] : null,
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
    String(about.text) ? lazy((lang) => `: ${about.text.in(lang)}`) : '',
    ' ',
    h('time', { datetime: about.at, class: 'muted' }, moment(about.at, about.zone)),
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
    say($('alert-log-status'), count ? m('log.shown', { count }) : m('log.noOlder'));
    // The button is gone with the last page: focus goes to the first alert it brought.
    if (button.hidden) (added[0] ?? list).focus();
  } catch (error) {
    if (generation === alerts.generation) say($('alert-log-status'), m('log.olderFailed', { error: explain(error) }), 'error');
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
  line.hidden = !state.session;
  say(line, ['live', 'connecting', 'offline'].includes(status) ? m(`connection.${status}`) : '');
  line.dataset.state = status;
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
      signedOut(m('session.ended'));
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
  const switches = state.switches;
  const run = (async () => {
    let events;
    let me;
    try {
      [events, me] = await Promise.all([loadEvents(), loadMe()]);
    } catch (error) {
      if (run !== latestRefresh) return latestRefresh;
      say($('page-status'), m('page.unreachable', { error: explain(error) }), 'error');
      return false;
    }
    if (run !== latestRefresh) return latestRefresh;
    state.events = events;
    state.me = state.session ? me : null;
    // Changed on another device meanwhile (not by a switch here since this was asked).
    if (state.me && switches === state.switches) adoptAccountLanguage(state.me);
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
      ? signedInPanel(account, { onSignedOut: () => signedOut(m('session.signedOut')), beforeSignOut })
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
  replace(races, upcoming.length ? raceCards(upcoming, viewer, hooks) : h('p', { class: 'muted' }, m('races.none')));
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
        signedOut(m('session.ended'));
        return;
      }
      say($('alert-log-status'), m('log.failed', { error: explain(error) }), 'error');
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
        signedOut(m('session.ended'));
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
  state.accountLanguage = null;
  adoptAccountLanguage(value.account);
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
  state.accountLanguage = null;
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
  else say($('push-status'), m(on ? 'push.isOn' : 'push.isOff'));
}

async function syncPush() {
  if (!push.supported()) {
    $('push-on').disabled = true;
    say($('push-status'), m('push.unsupported'));
    return;
  }
  if (!state.me) return;
  try {
    const { on, message } = await push.sync(state.me.pushSubscriptions.map((s) => s.endpoint));
    showPush(on, message);
  } catch (error) {
    say($('push-status'), m('push.checkFailed', { error: explain(error) }), 'error');
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
        say($('push-status'), m('push.failed', { error: explain(error) }), 'error');
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
    return { text: m('session.noToken'), kind: 'error' };
  }
  try {
    const confirmed = await confirmSignUp(token);
    state.session = confirmed;
    adoptAccountLanguage(confirmed.account);
    return { text: m('session.welcome', { name: confirmed.account.displayName }), kind: 'ok' };
  } catch (error) {
    return { text: m('session.notConfirmed', { error: explain(error) }), kind: 'error' };
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
    if (value) signedIn(value, m('session.signedInElsewhere'));
    else signedOut(m('session.signedOutElsewhere'));
  });
}

async function main() {
  wireLanguage();
  if (state.session) adoptAccountLanguage(state.session.account);
  wirePushButtons();
  followOtherTabs();
  $('alert-log-older').addEventListener('click', showOlder);
  document.addEventListener('visibilitychange', acknowledgeShown);
  const confirmation = location.pathname === '/confirm-sign-up' ? await confirmFromLink() : null;
  if (location.pathname === '/reset-password') resetFromLink();
  if (push.supported()) {
    push.registerWorker().catch((error) => say($('push-status'), m('push.noWorker', { error: explain(error) }), 'error'));
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
    say($('page-status'), m('session.resetSignOutFirst'), 'ok');
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
