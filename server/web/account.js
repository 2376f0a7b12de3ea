// The account panel (sign in, sign up and its confirmation, sign out) and the runner's
// registrations with their bib, starter kit and refund request, and the refund choice
// while the deadline allows.

import {
  CONFIRM_SIGN_UP,
  explain,
  gql,
  REQUEST_PASSWORD_RESET,
  REQUEST_REFUND,
  RESET_PASSWORD,
  saveSession,
  session,
  SIGN_IN,
  deviceToken,
  saveDeviceToken,
  SIGN_OUT,
  SIGN_UP,
} from './api.js';
import { h, say } from './dom.js';
import { dateTime, language, m, money, moment, word } from './i18n.js';

let formCount = 0;

/** A labelled input; ids are unique per render so labels always point at their field. */
function field(label, attributes) {
  const id = `f${++formCount}`;
  return h('div', { class: 'field' }, h('label', { for: id }, label), h('input', { id, ...attributes }));
}

/** Wires a form: `action(form)` runs on submit with the button disabled; its errors are
 * shown in the form's status line. */
function handle(form, action) {
  const status = h('p', { class: 'form-status', 'aria-live': 'polite' });
  form.append(status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    form.setAttribute('aria-busy', 'true');
    say(status, '');
    try {
      await action(form, status);
    } catch (error) {
      say(status, explain(error), 'error');
    } finally {
      button.disabled = false;
      form.removeAttribute('aria-busy');
    }
  });
  return form;
}

/** A field for a password being chosen (the gateway's bounds: 10 to 128 characters). */
function newPasswordField(label) {
  return field(label, {
    name: 'password',
    type: 'password',
    autocomplete: 'new-password',
    required: true,
    minlength: 10,
    maxlength: 128,
  });
}

/** A field for a token pasted from a mail (or the mail's whole link): no autocorrect. */
function tokenField(label, value) {
  return field(label, {
    name: 'token',
    autocomplete: 'off',
    autocapitalize: 'off',
    spellcheck: 'false',
    required: true,
    maxlength: 512,
    value: value ?? undefined,
  });
}

/** The token in what a runner pasted: the token itself, or the mail's whole link. */
export function tokenFrom(text) {
  const trimmed = text.trim();
  const inLink = trimmed.match(/[?&]token=([^&#\s]+)/);
  return inLink ? decodeURIComponent(inLink[1]) : trimmed;
}

/** Creates the account of a sign-up from the token its mail carries, and signs it in.
 * Resolves to the new session. */
export async function confirmSignUp(token) {
  const data = await gql(CONFIRM_SIGN_UP, { token });
  // Whoever was signed in on this device is signed out at the gateway first.
  if (session()) await gql(SIGN_OUT).catch(() => {});
  saveSession(data.confirmSignUp);
  return data.confirmSignUp;
}

/** "Forgot your password?": asks for the mail, then takes its token (or the whole link)
 * and a new password. `resetToken` is the token of the mail's link when the page was opened
 * from it (see app.js): the box is then open with the token filled in. */
function passwordResetBox(resetToken) {
  const ask = handle(
    h(
      'form',
      { class: 'stack', 'aria-label': m('reset.ask') },
      field(m('form.email'), { name: 'email', type: 'email', autocomplete: 'email', required: true }),
      h('button', { type: 'submit' }, m('reset.mailMe')),
    ),
    async (form, status) => {
      await gql(REQUEST_PASSWORD_RESET, { email: form.email.value.trim() });
      // The gateway answers the same whether or not the address has an account.
      say(status, m('reset.sent'), 'ok');
    },
  );
  const reset = handle(
    h(
      'form',
      { class: 'stack', 'aria-label': m('reset.choose') },
      tokenField(m('reset.token'), resetToken),
      newPasswordField(m('reset.newPassword')),
      h('button', { type: 'submit' }, m('reset.set')),
    ),
    async (form, status) => {
      await gql(RESET_PASSWORD, {
        input: { token: tokenFrom(form.token.value), newPassword: form.password.value },
      });
      form.reset();
      say(status, m('reset.done'), 'ok');
    },
  );
  return h(
    'details',
    { class: 'reset', open: resetToken ? true : undefined },
    h('summary', {}, m('reset.summary')),
    ask,
    reset,
  );
}

/** The panel for a visitor: sign in, or create a runner account and confirm it with the
 * token from the mail (the mail's link confirms by itself: see app.js), or choose a new
 * password. `onSignedIn(session, message)` once signed in. */
export function signedOutPanel({ onSignedIn, resetToken }) {
  const signIn = handle(
    h(
      'form',
      { class: 'stack', 'aria-labelledby': 'sign-in-heading' },
      h('h3', { id: 'sign-in-heading' }, m('signIn.heading')),
      field(m('form.email'), { name: 'email', type: 'email', autocomplete: 'email', required: true }),
      field(m('form.password'), {
        name: 'password',
        type: 'password',
        autocomplete: 'current-password',
        required: true,
      }),
      h('button', { type: 'submit' }, m('signIn.button')),
    ),
    async (form) => {
      const email = form.email.value.trim();
      const data = await gql(SIGN_IN, {
        input: { email, password: form.password.value, deviceToken: deviceToken(email) },
      });
      saveDeviceToken(email, data.signIn.deviceToken);
      const { deviceToken: _kept, ...session } = data.signIn;
      saveSession(session);
      onSignedIn(session);
    },
  );
  const confirm = handle(
    h(
      'form',
      { class: 'stack', 'aria-labelledby': 'confirm-heading' },
      h('p', { class: 'muted' }, m('confirm.hint')),
      tokenField(m('confirm.token')),
      h('button', { type: 'submit' }, m('confirm.button')),
    ),
    async (form) => {
      const confirmed = await confirmSignUp(tokenFrom(form.token.value));
      onSignedIn(confirmed, m('session.welcome', { name: confirmed.account.displayName }));
    },
  );
  const confirmBox = h(
    'details',
    { class: 'confirm' },
    h('summary', { id: 'confirm-heading' }, m('confirm.summary')),
    confirm,
  );
  const signUp = handle(
    h(
      'form',
      { class: 'stack', 'aria-labelledby': 'sign-up-heading' },
      h('h3', { id: 'sign-up-heading' }, m('signUp.heading')),
      field(m('signUp.name'), { name: 'displayName', autocomplete: 'name', required: true, maxlength: 100 }),
      field(m('form.email'), { name: 'email', type: 'email', autocomplete: 'email', required: true }),
      newPasswordField(m('signUp.password')),
      h('button', { type: 'submit' }, m('signUp.button')),
    ),
    async (form, status) => {
      const data = await gql(SIGN_UP, {
        input: {
          displayName: form.displayName.value.trim(),
          email: form.email.value.trim(),
          password: form.password.value,
          // The account's language: mails and pushes are written in it.
          language: language().toUpperCase(),
        },
      });
      // The gateway answers the same whether or not the address has an account: the mail
      // tells which (the answer's message is the gateway's English: the page says it in
      // its own words). The password is not kept on the page while the runner reads it.
      form.password.value = '';
      say(status, m('signUp.sent', { email: data.signUp.email }), 'ok');
      confirmBox.open = true;
    },
  );
  return h('div', { class: 'auth' }, signIn, signUp, confirmBox, passwordResetBox(resetToken));
}

/** The panel for a signed-in account. `beforeSignOut()` runs while the session still
 * works (the page takes this device's push subscription off the account then). */
export function signedInPanel(account, { onSignedOut, beforeSignOut = async () => {} }) {
  const button = h('button', { type: 'button', class: 'secondary' }, m('who.signOut'));
  button.addEventListener('click', async () => {
    button.disabled = true;
    await beforeSignOut().catch(() => {});
    // Ends the session at the gateway; the page forgets it whatever the answer.
    await gql(SIGN_OUT).catch(() => {});
    saveSession(null);
    onSignedOut();
  });
  const organization = account.organization?.name ?? m('who.yourOrganization');
  const role = ['ORGANIZER', 'PARTNER'].includes(account.role) ? m(`who.${account.role}`, { organization }) : m('who.RUNNER');
  return h(
    'div',
    { class: 'who' },
    h('p', {}, m('who.before'), h('strong', {}, account.displayName), m('who.after', { email: account.email, role })),
    button,
  );
}

/** The runner's registrations, each with what can still be done about it. */
export function registrationsList(registrations, { onChanged }) {
  if (!registrations.length) {
    return h('p', { class: 'muted' }, m('reg.none'));
  }
  return h(
    'ul',
    { class: 'registrations' },
    registrations.map((r) =>
      h(
        'li',
        { class: 'registration' },
        h('h3', {}, r.event.name),
        h(
          'dl',
          { class: 'facts' },
          h('dt', {}, m('reg.distance')),
          h('dd', {}, r.distance.name),
          h('dt', {}, m('reg.bib')),
          h('dd', { class: 'bib' }, String(r.bib)),
          h('dt', {}, m('reg.fee')),
          h('dd', {}, money(r.fee)),
          h('dt', {}, m('reg.tshirt')),
          h('dd', {}, r.tshirtSize ?? m('reg.noTshirt')),
          h('dt', {}, m('reg.kit')),
          h('dd', {}, word('kit', r.starterKit)),
          h('dt', {}, m('reg.race')),
          h('dd', { class: `status status-${r.event.status.toLowerCase()}` }, word('event', r.event.status)),
        ),
        refundPart(r, onChanged),
      ),
    ),
  );
}

function refundPart(registration, onChanged) {
  const request = registration.refundRequest;
  const { event } = registration;
  if (request) {
    return h(
      'p',
      { class: 'refund' },
      m('refund.choice', { option: word('option', request.option) }),
      request.option === 'KIT_AND_DONATE'
        ? m('refund.kitShare', { kit: money(request.kitShare), donation: money(request.donation) })
        : m('refund.amount', { amount: money(request.refund) }),
      h('strong', {}, word('refundStatus', request.status)),
      request.decidedAt ? m('refund.on', { at: moment(request.decidedAt, event.timeZone) }) : '',
      request.decisionNote ? m('refund.note', { note: request.decisionNote }) : '.',
    );
  }
  if (event.status !== 'CANCELLED') return null;
  const endsAt = event.refundPolicy.deadlineEndsAt;
  if (!endsAt) return h('p', { class: 'refund muted' }, m('refund.none'));
  const deadline = dateTime(endsAt, event.timeZone, { weekday: true, zone: true });
  if (new Date(endsAt) <= new Date()) {
    return h('p', { class: 'refund muted' }, m('refund.passed', { at: deadline }));
  }
  const id = `refund-${registration.id}`;
  const form = h(
    'form',
    { class: 'stack refund-form' },
    h(
      'fieldset',
      {},
      h('legend', {}, m('refund.chooseBy', { at: deadline })),
      h(
        'div',
        { class: 'choice' },
        h('input', { type: 'radio', name: 'option', value: 'KIT_AND_DONATE', id: `${id}-kit`, checked: true }),
        h('label', { for: `${id}-kit` }, m('refund.kitOption')),
      ),
      h(
        'div',
        { class: 'choice' },
        h('input', { type: 'radio', name: 'option', value: 'FULL_REFUND', id: `${id}-full` }),
        h('label', { for: `${id}-full` }, m('refund.fullOption')),
      ),
      h(
        'div',
        { class: 'choice' },
        h('input', { type: 'checkbox', name: 'consent', id: `${id}-consent` }),
        h('label', { for: `${id}-consent` }, m('refund.consent')),
      ),
    ),
    h('button', { type: 'submit' }, m('refund.send')),
  );
  return handle(form, async (f, status) => {
    const option = f.option.value;
    if (option === 'KIT_AND_DONATE' && !f.consent.checked) {
      say(status, m('refund.tick'), 'error');
      return;
    }
    await gql(REQUEST_REFUND, {
      input: { registrationId: registration.id, option, donationConsent: f.consent.checked },
    });
    onChanged();
  });
}

export { handle, field };
