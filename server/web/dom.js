// Small DOM helpers. Text always goes in as text nodes, never as HTML, so an organizer's
// reason or a race's name cannot inject markup. A translated text (i18n.js's Msg) is
// written out in the page's language and kept track of, so that switching the language
// rewrites it in place: forms keep what is typed in them, lists their order.

import { Msg } from './i18n.js';

/** What follows the language: { node (weakly), attribute or null, msg }. Weak, so that
 * nodes the page dropped are collected; entries for them go at the next prune. */
const translated = new Set();
let pruneAbove = 2000;

function track(node, attribute, msg) {
  translated.add({ node: new WeakRef(node), attribute, msg });
  if (translated.size > pruneAbove) {
    for (const entry of translated) if (!entry.node.deref()) translated.delete(entry);
    pruneAbove = Math.max(2000, translated.size * 2);
  }
}

/** Rewrites every translated text and attribute on the page in the current language. */
export function retranslate() {
  for (const entry of translated) {
    const node = entry.node.deref();
    if (!node) {
      translated.delete(entry);
      continue;
    }
    const msg = entry.attribute === '#status' ? node.statusMsg : entry.msg;
    const written = String(msg ?? '');
    if (entry.attribute === null) node.data = written;
    else if (entry.attribute === '#status') node.textContent = written;
    else node.setAttribute(entry.attribute, written);
  }
}

/** A text node for `value`; a translated one follows the language. */
function textNode(value) {
  const node = document.createTextNode(String(value));
  if (value instanceof Msg) track(node, null, value);
  return node;
}

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
      if (value instanceof Msg) track(element, name, value);
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : textNode(child));
  }
}

/** Sets a translated attribute on an existing element. */
export function attribute(element, name, msg) {
  element.setAttribute(name, String(msg));
  if (msg instanceof Msg) track(element, name, msg);
}

/** Replaces everything inside `element`. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
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

/** A status line for a form: polite, replaced on each message (a translated one follows
 * the language). */
export function say(element, text, kind = 'info') {
  if (!element.statusTracked) {
    element.statusTracked = true;
    track(element, '#status', null);
  }
  element.statusMsg = text;
  element.textContent = String(text ?? '');
  element.dataset.kind = kind;
}
