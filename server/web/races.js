// The races: status, registration state, start in the race's own time zone, distances and
// fees, the status history with the organizer's reasons; registration for a runner; and,
// for the race's organizers, the status change with a reason and the email policy, what
// became of each alert's pushes (`pushReports`), and whom each alert reached
// (`reachReport`), with the runners still to phone.

import { gql, REGISTER, CHANGE_STATUS, PUSH_REPORTS, REACH_REPORT } from './api.js';
import { handle } from './account.js';
import { distance, h, inZone, money, replace, say, wallTimeToUtc, when, word } from './dom.js';

/** The changes an organizer may announce from each status (the gateway checks again). */
const NEXT = {
  SCHEDULED: ['SUSPENDED', 'CANCELLED', 'RESCHEDULED'],
  SUSPENDED: ['SCHEDULED', 'CANCELLED', 'RESCHEDULED'],
  RESCHEDULED: ['SUSPENDED', 'CANCELLED', 'RESCHEDULED', 'SCHEDULED'],
  CANCELLED: [],
  COMPLETED: [],
};
const ACTION = {
  SUSPENDED: 'Suspend',
  SCHEDULED: 'Resume as scheduled',
  CANCELLED: 'Cancel the race',
  RESCHEDULED: 'Reschedule',
};
const SIZES = ['XS', 'S', 'M', 'L', 'XL', 'XXL'];
const EMAIL_POLICIES = [
  ['UNREACHED', 'Only runners the alert has not reached after a while'],
  ['ALL', 'Every registered runner, now'],
  ['NONE', 'Nobody'],
];
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
      h('span', { class: `status status-${event.status.toLowerCase()}` }, word(event.status)),
      h(
        'span',
        { class: `registration-state reg-${event.registrationState.toLowerCase()}` },
        `Registration ${word(event.registrationState).toLowerCase()}`,
      ),
    ),
    announcedChange
      ? h('p', { class: 'latest-reason' }, h('strong', {}, `${word(latest.status)}: `), latest.reason)
      : null,
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Starts'),
      h('dd', {}, h('time', { datetime: event.startsAtLocal }, inZone(event.startsAt, event.timeZone))),
      h('dt', {}, 'Where'),
      h('dd', {}, event.venue),
      h('dt', {}, 'Places left'),
      h('dd', {}, event.placesLeft.toLocaleString('en-GB')),
    ),
    distancesTable(event),
    registration
      ? h('p', { class: 'registered' }, `You are registered: bib ${registration.bib}, ${registration.distance.name}.`)
      : registerForm(event, account, hooks),
    historyList(event),
    organizes ? organizerTools(event, hooks) : null,
  );
}

function distancesTable(event) {
  return h(
    'table',
    { class: 'distances' },
    h('caption', {}, 'Distances and fees'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Distance'), h('th', { scope: 'col' }, 'Length'), h('th', { scope: 'col' }, 'Fee'))),
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
  if (!account) return h('p', { class: 'muted' }, 'Sign in to register.');
  if (account.role !== 'RUNNER') return null;
  const distanceId = `register-${event.id}-distance`;
  const shirtId = `register-${event.id}-shirt`;
  const form = h(
    'form',
    { class: 'register', 'aria-label': `Register for ${event.name}` },
    h(
      'div',
      { class: 'field' },
      h('label', { for: distanceId }, 'Distance'),
      h(
        'select',
        { id: distanceId, name: 'distance', required: true },
        event.distances.map((d) => h('option', { value: d.id }, `${d.name}, ${money(d.fee)}`)),
      ),
    ),
    h(
      'div',
      { class: 'field' },
      h('label', { for: shirtId }, 'T-shirt'),
      h(
        'select',
        { id: shirtId, name: 'shirt' },
        h('option', { value: '' }, 'No T-shirt'),
        SIZES.map((s) => h('option', { value: s }, s)),
      ),
    ),
    h('button', { type: 'submit' }, 'Register'),
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
    h('summary', {}, `Status history (${lines.length})`),
    h(
      'ol',
      {},
      lines.map((line) =>
        h(
          'li',
          {},
          h('time', { datetime: line.occurredAt }, inZone(line.occurredAt, event.timeZone, false)),
          ' ',
          line.previousStatus ? `${word(line.previousStatus)} → ${word(line.status)}` : `Announced as ${word(line.status).toLowerCase()}`,
          line.status === 'RESCHEDULED' ? ` (new start ${inZone(line.startsAt, event.timeZone)})` : '',
          line.reason ? h('span', { class: 'reason' }, `: ${line.reason}`) : '',
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
  const refresh = h('button', { type: 'button', class: 'secondary' }, 'Refresh the reports');
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
      shown = { ...shown, reports: redraw(reports, shown.reports, pushReports, reportsTable) };
      const reaches = await Promise.all(
        pushReports.map((r) =>
          gql(REACH_REPORT, { notificationId: r.notificationId }).then(
            (data) => ({ alert: r, reach: data.reachReport }),
            (error) => ({ alert: r, error: error.message }),
          ),
        ),
      );
      shown = { ...shown, reach: redraw(reach, shown.reach, reaches, reachTables) };
    } catch (error) {
      shown = { reports: null, reach: null };
      replace(reports, h('p', { class: 'form-status', 'data-kind': 'error' }, error.message));
      replace(reach);
    } finally {
      loading = false;
    }
  };
  refresh.addEventListener('click', loadReports);
  const tools = h(
    'section',
    { class: 'organizer', 'aria-label': `Organizer tools for ${event.name}` },
    next.length ? statusForm(event, next, onChanged) : h('p', { class: 'muted' }, `A ${word(event.status).toLowerCase()} race cannot change status.`),
    h('h4', {}, 'Push reports'),
    refresh,
    reports,
    h('h4', {}, 'Reach'),
    h('p', { class: 'muted' }, 'Who each alert reached on any channel (this page, a push, a mail), read again every 5 seconds.'),
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
 * shows (`before`, as JSON); returns the JSON now shown. */
function redraw(element, before, value, draw) {
  const json = JSON.stringify(value);
  if (json !== before) replace(element, draw(value));
  return json;
}

function statusForm(event, next, onChanged) {
  const base = `status-${event.id}`;
  const startField = h(
    'div',
    { class: 'field', hidden: true },
    h('label', { for: `${base}-start` }, `New start (${event.timeZone} time)`),
    h('input', { id: `${base}-start`, name: 'startsAt', type: 'datetime-local', disabled: true }),
  );
  const select = h(
    'select',
    { id: `${base}-status`, name: 'status', required: true },
    next.map((s) => h('option', { value: s }, ACTION[s])),
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
      h('legend', {}, 'Announce a change'),
      h('div', { class: 'field' }, h('label', { for: `${base}-status` }, 'New status'), select),
      h(
        'div',
        { class: 'field' },
        h('label', { for: `${base}-reason` }, 'Reason (shown to every runner)'),
        h('textarea', { id: `${base}-reason`, name: 'reason', required: true, maxlength: 1000, rows: 3 }),
      ),
      startField,
      h(
        'div',
        { class: 'field' },
        h('label', { for: `${base}-email` }, 'Email the runners'),
        h(
          'select',
          { id: `${base}-email`, name: 'email' },
          EMAIL_POLICIES.map(([value, label]) => h('option', { value }, label)),
        ),
      ),
    ),
    h('button', { type: 'submit' }, 'Announce'),
  );
  showStart();
  return handle(form, async (f, status) => {
    const input = {
      eventId: event.id,
      status: f.status.value,
      reason: f.reason.value.trim(),
      email: f.email.value,
    };
    if (input.status === 'RESCHEDULED') input.startsAt = wallTimeToUtc(f.startsAt.value, event.timeZone);
    await gql(CHANGE_STATUS, { input });
    changedAt.set(event.id, Date.now());
    say(status, `Announced: ${word(input.status)}.`, 'ok');
    onChanged();
  });
}

function reportsTable(reports) {
  if (!reports.length) return h('p', { class: 'muted' }, 'No alerts yet.');
  const columns = ['queued', 'sent', 'delivered', 'failed', 'pruned', 'dropped', 'pending'];
  return h(
    'div',
    { class: 'table-scroll' },
    h(
      'table',
      { class: 'reports' },
      h('caption', {}, 'What became of each alert’s pushes'),
      h(
        'thead',
        {},
        h('tr', {}, h('th', { scope: 'col' }, 'Alert'), columns.map((c) => h('th', { scope: 'col' }, c[0].toUpperCase() + c.slice(1)))),
      ),
      h(
        'tbody',
        {},
        reports.map((r) =>
          h(
            'tr',
            {},
            h('th', { scope: 'row' }, `${word(r.status)}, ${when(r.occurredAt)}`),
            columns.map((c) => h('td', {}, String(r[c]))),
          ),
        ),
      ),
    ),
  );
}

const REACH_COLUMNS = [
  ['targeted', 'Targeted'],
  ['acknowledged', 'Acknowledged'],
  ['emailed', 'Emailed'],
  ['emailFailed', 'Email failed'],
  ['unreached', 'Unreached'],
];

/** Where an unreached runner's mail stands, in words. */
function mailWords(runner) {
  switch (runner.emailStatus) {
    case 'PENDING':
      return 'mail pending';
    case 'FAILED':
      return runner.emailReply ? `mail refused: ${runner.emailReply}` : 'mail refused';
    case 'NOT_MAILED':
      return 'not mailed';
    default:
      return word(runner.emailStatus).toLowerCase();
  }
}

/** `reaches`: [{ alert (a push report), reach | error }]. The figures per alert, then
 * the runners nobody reached yet, per alert, for phoning. */
function reachTables(reaches) {
  if (!reaches.length) return h('p', { class: 'muted' }, 'No alerts yet.');
  const alertName = (alert) => `${word(alert.status)}, ${when(alert.occurredAt)}`;
  const table = h(
    'div',
    { class: 'table-scroll' },
    h(
      'table',
      { class: 'reach' },
      h('caption', {}, 'Whom each alert reached'),
      h(
        'thead',
        {},
        h('tr', {}, h('th', { scope: 'col' }, 'Alert'), REACH_COLUMNS.map(([, label]) => h('th', { scope: 'col' }, label))),
      ),
      h(
        'tbody',
        {},
        reaches.map(({ alert, reach, error }) =>
          h(
            'tr',
            { 'data-notification-id': alert.notificationId },
            h('th', { scope: 'row' }, alertName(alert)),
            reach
              ? REACH_COLUMNS.map(([key]) => h('td', {}, String(reach[key])))
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
        { class: 'to-phone', 'data-notification-id': alert.notificationId, 'aria-label': `Not reached: ${alertName(alert)}` },
        h('h5', {}, `Not reached yet, to phone: ${alertName(alert)}`),
        h(
          'ul',
          {},
          runners.map((r) => h('li', {}, h('strong', {}, r.name), `, ${r.email} (${mailWords(r)})`)),
          more > 0 ? h('li', { class: 'muted' }, `and ${more} more`) : null,
        ),
      );
    });
  return [table, lists];
}
