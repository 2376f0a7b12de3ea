// Small DOM and formatting helpers. Text always goes in as text nodes, never as HTML, so
// an organizer's reason or a race's name cannot inject markup.

/** Builds an element: h('p', { class: 'x', onclick: fn }, 'text', child, ...). */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (value === true) {
      element.setAttribute(name, '');
    } else {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces everything inside `element`. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
}

/** A money value as the API gives it ({ amount: "15000.00", currency: "KZT" }). */
export function money({ amount, currency }) {
  const [whole, fraction = '00'] = amount.split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, '\u202f');
  return `${grouped}${fraction === '00' ? '' : `.${fraction}`} ${currency}`;
}

/** An instant shown in the race's own time zone, e.g. "Sunday 18 April 2027, 08:00". */
export function inZone(instant, timeZone, withZone = true) {
  const text = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    weekday: 'long',
    day: 'numeric',
    month: 'long',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(new Date(instant));
  return withZone ? `${text} (${timeZone})` : text;
}

/** An instant in the reader's own zone, short. */
export function when(instant) {
  return new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }).format(
    new Date(instant),
  );
}

/** Metres as "42.195 km" or "1 km". */
export function distance(metres) {
  const km = metres / 1000;
  return `${Number.isInteger(km) ? km : km.toFixed(3).replace(/0+$/, '')} km`;
}

const STATUS_WORDS = {
  SCHEDULED: 'Scheduled',
  SUSPENDED: 'Suspended',
  CANCELLED: 'Cancelled',
  RESCHEDULED: 'Rescheduled',
  COMPLETED: 'Completed',
  OPEN: 'Open',
  CLOSED: 'Closed',
  CONFIRMED: 'Confirmed',
  REFUNDED: 'Refunded',
  PENDING: 'Pending',
  READY: 'Ready to collect',
  ISSUED: 'Issued',
  SUBMITTED: 'Submitted',
  APPROVED: 'Approved',
  REJECTED: 'Rejected',
  PAID: 'Paid',
  FULL_REFUND: 'Full refund',
  KIT_AND_DONATE: 'Kit and donation',
};

/** A status as words. */
export function word(status) {
  return STATUS_WORDS[status] ?? status;
}

/**
 * The UTC instant of a wall-clock time ("2027-05-02T08:00" from <input type=datetime-local>)
 * in an IANA zone, found by asking Intl for the zone's offset near that time (twice, so a
 * daylight-saving change between the guess and the answer is accounted for).
 */
export function wallTimeToUtc(wall, timeZone) {
  const [date, time] = wall.split('T');
  const [y, mo, d] = date.split('-').map(Number);
  const [hh, mm] = time.split(':').map(Number);
  const asUtc = Date.UTC(y, mo - 1, d, hh, mm);
  let instant = asUtc - offsetMs(asUtc, timeZone);
  instant = asUtc - offsetMs(instant, timeZone);
  return new Date(instant).toISOString();
}

function offsetMs(instant, timeZone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    })
      .formatToParts(new Date(instant))
      .map((p) => [p.type, p.value]),
  );
  const local = Date.UTC(
    Number(parts.year),
    Number(parts.month) - 1,
    Number(parts.day),
    Number(parts.hour),
    Number(parts.minute),
    Number(parts.second),
  );
  return local - Math.floor(instant / 1000) * 1000;
}

/** A status line for a form: polite, replaced on each message. */
export function say(element, text, kind = 'info') {
  element.textContent = text;
  element.dataset.kind = kind;
}
