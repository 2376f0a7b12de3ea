// The races: status, registration state, start in the race's own time zone, distances and
// fees, the status history with the organizer's reasons; registration for a runner; and,
// for the race's organizers, the status change with a reason and the email policy, what
// became of each alert's pushes (`pushReports`), and whom each alert reached
// (`reachReport`), with the runners still to phone.

import { gql, REGISTER, CHANGE_STATUS, PUSH_REPORTS, REACH_REPORT, explain } from './api.js';
import { handle } from './account.js';
import { h, replace, say, wallTimeToUtc } from './dom.js';
import { LANGUAGES, dateTime, distance, lazy, m, moment, money, number, reasonIn, word } from './i18n.js';

/** The changes an organizer may announce from each status (the gateway checks again). */
const NEXT = {
  SCHEDULED: ['SUSPENDED', 'CANCELLED', 'RESCHEDULED'],
  SUSPENDED: ['SCHEDULED', 'CANCELLED', 'RESCHEDULED'],
  RESCHEDULED: ['SUSPENDED', 'CANCELLED', 'RESCHEDULED', 'SCHEDULED'],
  CANCELLED: [],
  COMPLETED: [],
};
const SIZES = ['XS', 'S', 'M', 'L', 'XL', 'XXL'];
const EMAIL_POLICIES = ['UNREACHED', 'ALL', 'NONE'];
/** How often an organizer's reports are read again while shown. */
const REPORTS_EVERY_MS = 5000;

/**
 * One card per race. `viewer`: { account, registeredEvents: Map(eventId -> registration) }.
 * `onChanged()` after a registration or a status change.
 */
export function raceCards(events, viewer, { onChanged, onRegistered }) {
  return events.map((event) => raceCard(event, viewer, { onChanged, onRegistered }));
}

function raceCard(event, viewer, hooks) {
  const headingId = `race-${event.id}-name`;
  const latest = event.statusHistory.at(-1);
  const announcedChange = latest && latest.previousStatus !== null && latest.status !== 'SCHEDULED';
  const registration = viewer.registeredEvents.get(event.id);
  const account = viewer.account;
  const organizes =
    account?.role === 'ORGANIZER' && event.organizers.some((o) => o.id === account.organization?.id);
  return h(
    'article',
    {
      class: `race race-${event.status.toLowerCase()}`,
      id: `race-${event.slug}`,
      'aria-labelledby': headingId,
    },
    h('h3', { id: headingId, tabindex: '-1' }, event.name),
    h(
      'p',
      { class: 'badges' },
      h('span', { class: `status status-${event.status.toLowerCase()}` }, word('event', event.status)),
      h(
        'span',
        { class: `registration-state reg-${event.registrationState.toLowerCase()}` },
        word('registration', event.registrationState),
      ),
    ),
    announcedChange
      ? h(
          'p',
          { class: 'latest-reason' },
          h('strong', {}, word('event', latest.status), ': '),
          lazy((lang) => reasonIn(latest, lang)),
        )
      : null,
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, m('race.starts')),
      h(
        'dd',
        {},
        h('time', { datetime: event.startsAtLocal }, dateTime(event.startsAt, event.timeZone, { weekday: true, zone: true })),
      ),
      h('dt', {}, m('race.where')),
      h('dd', {}, event.venue),
      h('dt', {}, m('race.placesLeft')),
      h('dd', {}, number(event.placesLeft)),
    ),
    distancesTable(event),
    registration
      ? h('p', { class: 'registered' }, m('race.registered', { bib: registration.bib, distance: registration.distance.name }))
      : registerForm(event, account, hooks),
    historyList(event),
    organizes ? organizerTools(event, hooks) : null,
  );
}

function distancesTable(event) {
  return h(
    'table',
    { class: 'distances' },
    h('caption', {}, m('race.distances')),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, m('race.distance')),
        h('th', { scope: 'col' }, m('race.length')),
        h('th', { scope: 'col' }, m('race.fee')),
      ),
    ),
    h(
      'tbody',
      {},
      event.distances.map((d) =>
        h('tr', {}, h('th', { scope: 'row' }, d.name), h('td', {}, distance(d.lengthMeters)), h('td', {}, money(d.fee))),
      ),
    ),
  );
}

function registerForm(event, account, { onRegistered }) {
  if (event.registrationState !== 'OPEN' || !['SCHEDULED', 'RESCHEDULED'].includes(event.status)) return null;
  if (!account) return h('p', { class: 'muted' }, m('race.signInToRegister'));
  if (account.role !== 'RUNNER') return null;
  const distanceId = `register-${event.id}-distance`;
  const shirtId = `register-${event.id}-shirt`;
  const form = h(
    'form',
    { class: 'register', 'aria-label': m('race.registerFor', { event: event.name }) },
    h(
      'div',
      { class: 'field' },
      h('label', { for: distanceId }, m('race.distance')),
      h(
        'select',
        { id: distanceId, name: 'distance', required: true },
        event.distances.map((d) => h('option', { value: d.id }, m('race.option', { distance: d.name, fee: money(d.fee) }))),
      ),
    ),
    h(
      'div',
      { class: 'field' },
      h('label', { for: shirtId }, m('race.tshirt')),
      h(
        'select',
        { id: shirtId, name: 'shirt' },
        h('option', { value: '' }, m('race.noTshirt')),
        SIZES.map((s) => h('option', { value: s }, s)),
      ),
    ),
    h('button', { type: 'submit' }, m('race.register')),
  );
  return handle(form, async (f) => {
    await gql(REGISTER, {
      input: { distanceId: f.distance.value, tshirtSize: f.shirt.value || null },
    });
    onRegistered();
  });
}

function historyList(event) {
  const lines = [...event.statusHistory].reverse();
  return h(
    'details',
    { class: 'history' },
    h('summary', {}, m('race.history', { count: lines.length })),
    h(
      'ol',
      {},
      lines.map((line) =>
        h(
          'li',
          {},
          h('time', { datetime: line.occurredAt }, dateTime(line.occurredAt, event.timeZone, { weekday: true })),
          ' ',
          line.previousStatus
            ? m('race.change', { from: word('event', line.previousStatus), to: word('event', line.status) })
            : m('race.announcedAs', { status: word('event', line.status) }),
          line.status === 'RESCHEDULED'
            ? m('race.newStart', { start: dateTime(line.startsAt, event.timeZone, { weekday: true, zone: true }) })
            : '',
          line.reason ? h('span', { class: 'reason' }, lazy((lang) => `: ${reasonIn(line, lang)}`)) : '',
        ),
      ),
    ),
  );
}

/** When each race last had its status changed from this page: its push report is read
 * again a few seconds later, when the pushes have gone out. Only the report: re-drawing
 * the whole page then would wipe a form the organizer is filling in. */
const changedAt = new Map();

function organizerTools(event, { onChanged }) {
  const next = NEXT[event.status] ?? [];
  const reports = h('div', { class: 'reports-body' });
  const reach = h('div', { class: 'reach-body' });
  const refresh = h('button', { type: 'button', class: 'secondary' }, m('org.refresh'));
  // Redrawn only when an answer differs, so that reading along is not disturbed.
  let shown = { reports: null, reach: null };
  let loading = false;
  const loadReports = async () => {
    // One read at a time; the button stays enabled (a timer's read must not take the
    // focus off it).
    if (loading) return;
    loading = true;
    try {
      const { pushReports } = await gql(PUSH_REPORTS, { eventId: event.id });
      shown = { ...shown, reports: redraw(reports, shown.reports, pushReports, (v) => reportsTable(v, event.timeZone)) };
      const reaches = await Promise.all(
        pushReports.map((r) =>
          gql(REACH_REPORT, { notificationId: r.notificationId }).then(
            (data) => ({ alert: r, reach: data.reachReport }),
            (error) => ({ alert: r, error: explain(error) }),
          ),
        ),
      );
      shown = { ...shown, reach: redraw(reach, shown.reach, reaches, (v) => reachTables(v, event.timeZone)) };
    } catch (error) {
      shown = { reports: null, reach: null };
      replace(reports, h('p', { class: 'form-status', 'data-kind': 'error' }, explain(error)));
      replace(reach);
    } finally {
      loading = false;
    }
  };
  refresh.addEventListener('click', loadReports);
  const tools = h(
    'section',
    { class: 'organizer', 'aria-label': m('org.tools', { event: event.name }) },
    next.length
      ? statusForm(event, next, onChanged)
      : h('p', { class: 'muted' }, m('org.cannotChange', { status: word('event', event.status) })),
    h('h4', {}, m('org.pushReports')),
    refresh,
    reports,
    h('h4', {}, m('org.reach')),
    h('p', { class: 'muted' }, m('org.reachIntro')),
    reach,
  );
  loadReports();
  if (Date.now() - (changedAt.get(event.id) ?? 0) < 3000) setTimeout(loadReports, 3000);
  // Read again while the card is on the page (the page redraws the races after every
  // change: the old card's timer ends then) and the page is seen.
  const timer = setInterval(() => {
    if (!tools.isConnected) clearInterval(timer);
    else if (document.visibilityState === 'visible') loadReports();
  }, REPORTS_EVERY_MS);
  return tools;
}

/** Replaces `element`'s content with `draw(value)` when `value` differs from what it
 * shows (`before`, as JSON); returns the JSON now shown. (Drawn texts follow the
 * language by themselves.) */
function redraw(element, before, value, draw) {
  const json = JSON.stringify(value, (key, v) => (v instanceof Object && 'key' in v && 'args' in v ? String(v) : v));
  if (json !== before) replace(element, draw(value));
  return json;
}

function statusForm(event, next, onChanged) {
  const base = `status-${event.id}`;
  const startField = h(
    'div',
    { class: 'field', hidden: true },
    h('label', { for: `${base}-start` }, m('org.newStart', { zone: event.timeZone })),
    h('input', { id: `${base}-start`, name: 'startsAt', type: 'datetime-local', disabled: true }),
  );
  const select = h(
    'select',
    { id: `${base}-status`, name: 'status', required: true },
    next.map((s) => h('option', { value: s }, m(`action.${s}`))),
  );
  const showStart = () => {
    const reschedule = select.value === 'RESCHEDULED';
    startField.hidden = !reschedule;
    startField.querySelector('input').disabled = !reschedule;
    startField.querySelector('input').required = reschedule;
  };
  select.addEventListener('change', showStart);
  const form = h(
    'form',
    { class: 'stack status-change' },
    h(
      'fieldset',
      {},
      h('legend', {}, m('org.announceChange')),
      h('div', { class: 'field' }, h('label', { for: `${base}-status` }, m('org.newStatus')), select),
      h(
        'div',
        { class: 'field' },
        h('label', { for: `${base}-reason` }, m('org.reason')),
        h('textarea', { id: `${base}-reason`, name: 'reason', required: true, maxlength: 1000, rows: 3 }),
      ),
      // Each runner reads the reason in their language when it is given here.
      h(
        'details',
        { class: 'translations' },
        h('summary', {}, m('org.translations')),
        LANGUAGES.map((lang) =>
          h(
            'div',
            { class: 'field' },
            h('label', { for: `${base}-reason-${lang}` }, m(`org.reasonIn.${lang.toUpperCase()}`)),
            h('textarea', { id: `${base}-reason-${lang}`, name: `reason-${lang}`, lang, maxlength: 1000, rows: 2 }),
          ),
        ),
      ),
      startField,
      h(
        'div',
        { class: 'field' },
        h('label', { for: `${base}-email` }, m('org.email')),
        h(
          'select',
          { id: `${base}-email`, name: 'email' },
          EMAIL_POLICIES.map((value) => h('option', { value }, m(`policy.${value}`))),
        ),
      ),
    ),
    h('button', { type: 'submit' }, m('org.announce')),
  );
  showStart();
  return handle(form, async (f, status) => {
    const input = {
      eventId: event.id,
      status: f.status.value,
      reason: f.reason.value.trim(),
      email: f.email.value,
    };
    const reasons = LANGUAGES.map((lang) => ({ language: lang.toUpperCase(), text: f[`reason-${lang}`].value.trim() })).filter(
      (r) => r.text,
    );
    if (reasons.length) input.reasons = reasons;
    if (input.status === 'RESCHEDULED') input.startsAt = wallTimeToUtc(f.startsAt.value, event.timeZone);
    await gql(CHANGE_STATUS, { input });
    changedAt.set(event.id, Date.now());
    say(status, m('org.announced', { status: word('event', input.status) }), 'ok');
    onChanged();
  });
}

/** An alert in a report: its status and when, in the race's zone. */
const alertName = (alert, timeZone) =>
  m('reports.alertName', { status: word('event', alert.status), at: moment(alert.occurredAt, timeZone) });

function reportsTable(reports, timeZone) {
  if (!reports.length) return h('p', { class: 'muted' }, m('reports.none'));
  const columns = ['queued', 'sent', 'delivered', 'failed', 'pruned', 'dropped', 'pending'];
  return h(
    'div',
    { class: 'table-scroll' },
    h(
      'table',
      { class: 'reports' },
      h('caption', {}, m('reports.caption')),
      h(
        'thead',
        {},
        h('tr', {}, h('th', { scope: 'col' }, m('reports.alert')), columns.map((c) => h('th', { scope: 'col' }, m(`reports.${c}`)))),
      ),
      h(
        'tbody',
        {},
        reports.map((r) =>
          h(
            'tr',
            {},
            h('th', { scope: 'row' }, alertName(r, timeZone)),
            columns.map((c) => h('td', {}, String(r[c]))),
          ),
        ),
      ),
    ),
  );
}

const REACH_COLUMNS = ['targeted', 'acknowledged', 'emailed', 'emailFailed', 'unreached'];

/** Where an unreached runner's mail stands, in words. */
function mailWords(runner) {
  if (runner.emailStatus === 'FAILED' && runner.emailReply) return m('mail.refused', { reply: runner.emailReply });
  return word('mail', runner.emailStatus);
}

/** `reaches`: [{ alert (a push report), reach | error }]. The figures per alert, then
 * the runners nobody reached yet, per alert, for phoning. */
function reachTables(reaches, timeZone) {
  if (!reaches.length) return h('p', { class: 'muted' }, m('reports.none'));
  const name = (alert) => alertName(alert, timeZone);
  const table = h(
    'div',
    { class: 'table-scroll' },
    h(
      'table',
      { class: 'reach' },
      h('caption', {}, m('reach.caption')),
      h(
        'thead',
        {},
        h('tr', {}, h('th', { scope: 'col' }, m('reports.alert')), REACH_COLUMNS.map((key) => h('th', { scope: 'col' }, m(`reach.${key}`)))),
      ),
      h(
        'tbody',
        {},
        reaches.map(({ alert, reach, error }) =>
          h(
            'tr',
            { 'data-notification-id': alert.notificationId },
            h('th', { scope: 'row' }, name(alert)),
            reach
              ? REACH_COLUMNS.map((key) => h('td', {}, String(reach[key])))
              : h('td', { colspan: REACH_COLUMNS.length, class: 'form-status', 'data-kind': 'error' }, error),
          ),
        ),
      ),
    ),
  );
  const lists = reaches
    .filter(({ reach }) => reach && reach.runners.edges.length)
    .map(({ alert, reach }) => {
      const runners = reach.runners.edges.map((e) => e.node);
      const more = reach.unreached - runners.length;
      return h(
        'section',
        { class: 'to-phone', 'data-notification-id': alert.notificationId, 'aria-label': m('reach.notReached', { alert: name(alert) }) },
        h('h5', {}, m('reach.toPhone', { alert: name(alert) })),
        h(
          'ul',
          {},
          runners.map((r) => h('li', {}, h('strong', {}, r.name), m('reach.runner', { email: r.email, mail: mailWords(r) }))),
          more > 0 ? h('li', { class: 'muted' }, m('reach.more', { count: more })) : null,
        ),
      );
    });
  return [table, lists];
}
