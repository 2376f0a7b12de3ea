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
import { h, inZone, money, say, when, word } from './dom.js';

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
      { class: 'stack', 'aria-label': 'Ask for a reset link' },
      field('Email', { name: 'email', type: 'email', autocomplete: 'email', required: true }),
      h('button', { type: 'submit' }, 'Mail me a reset link'),
    ),
    async (form, status) => {
      await gql(REQUEST_PASSWORD_RESET, { email: form.email.value.trim() });
      // The gateway answers the same whether or not the address has an account.
      say(status, 'If this address has an account, a link is on its way (valid for an hour).', 'ok');
    },
  );
  const reset = handle(
    h(
      'form',
      { class: 'stack', 'aria-label': 'Choose a new password' },
      tokenField('Token from the reset mail', resetToken),
      newPasswordField('New password (at least 10 characters)'),
      h('button', { type: 'submit' }, 'Set the new password'),
    ),
    async (form, status) => {
      await gql(RESET_PASSWORD, {
        input: { token: tokenFrom(form.token.value), newPassword: form.password.value },
      });
      form.reset();
      say(status, 'Your password is changed and every session signed out: sign in with it.', 'ok');
    },
  );
  return h(
    'details',
    { class: 'reset', open: resetToken ? true : undefined },
    h('summary', {}, 'Forgot your password?'),
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
      h('h3', { id: 'sign-in-heading' }, 'Sign in'),
      field('Email', { name: 'email', type: 'email', autocomplete: 'email', required: true }),
      field('Password', {
        name: 'password',
        type: 'password',
        autocomplete: 'current-password',
        required: true,
      }),
      h('button', { type: 'submit' }, 'Sign in'),
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
      onSignedIn(data.signIn);
    },
  );
  const confirm = handle(
    h(
      'form',
      { class: 'stack', 'aria-labelledby': 'confirm-heading' },
      h('p', { class: 'muted' }, 'Open the link in the mail we sent, or paste the token it gives here.'),
      tokenField('Token from the mail'),
      h('button', { type: 'submit' }, 'Confirm sign-up'),
    ),
    async (form) => {
      const confirmed = await confirmSignUp(tokenFrom(form.token.value));
      onSignedIn(confirmed, `Welcome, ${confirmed.account.displayName}: your account is ready.`);
    },
  );
  const confirmBox = h(
    'details',
    { class: 'confirm' },
    h('summary', { id: 'confirm-heading' }, 'Have a confirmation mail? Confirm your sign-up'),
    confirm,
  );
  const signUp = handle(
    h(
      'form',
      { class: 'stack', 'aria-labelledby': 'sign-up-heading' },
      h('h3', { id: 'sign-up-heading' }, 'New here? Create a runner account'),
      field('Your name', { name: 'displayName', autocomplete: 'name', required: true, maxlength: 100 }),
      field('Email', { name: 'email', type: 'email', autocomplete: 'email', required: true }),
      newPasswordField('Password (at least 10 characters)'),
      h('button', { type: 'submit' }, 'Create account'),
    ),
    async (form, status) => {
      const data = await gql(SIGN_UP, {
        input: {
          displayName: form.displayName.value.trim(),
          email: form.email.value.trim(),
          password: form.password.value,
        },
      });
      // The gateway answers the same whether or not the address has an account: the mail
      // tells which. The password is not kept on the page while the runner reads it.
      form.password.value = '';
      say(status, `${data.signUp.message} We wrote to ${data.signUp.email}.`, 'ok');
      confirmBox.open = true;
    },
  );
  return h('div', { class: 'auth' }, signIn, signUp, confirmBox, passwordResetBox(resetToken));
}

/** The panel for a signed-in account. `beforeSignOut()` runs while the session still
 * works (the page takes this device's push subscription off the account then). */
export function signedInPanel(account, { onSignedOut, beforeSignOut = async () => {} }) {
  const button = h('button', { type: 'button', class: 'secondary' }, 'Sign out');
  button.addEventListener('click', async () => {
    button.disabled = true;
    await beforeSignOut().catch(() => {});
    // Ends the session at the gateway; the page forgets it whatever the answer.
    await gql(SIGN_OUT).catch(() => {});
    saveSession(null);
    onSignedOut();
  });
  const organization = account.organization?.name ?? 'your organization';
  const role = {
    ORGANIZER: `organizer for ${organization}`,
    PARTNER: `partner account of ${organization}`,
  }[account.role] ?? 'runner';
  return h(
    'div',
    { class: 'who' },
    h('p', {}, 'Signed in as ', h('strong', {}, account.displayName), ` (${account.email}), ${role}.`),
    button,
  );
}

/** The runner's registrations, each with what can still be done about it. */
export function registrationsList(registrations, { onChanged }) {
  if (!registrations.length) {
    return h('p', { class: 'muted' }, 'No registrations yet: choose a race below.');
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
          h('dt', {}, 'Distance'),
          h('dd', {}, r.distance.name),
          h('dt', {}, 'Bib'),
          h('dd', { class: 'bib' }, String(r.bib)),
          h('dt', {}, 'Fee paid'),
          h('dd', {}, money(r.fee)),
          h('dt', {}, 'T-shirt'),
          h('dd', {}, r.tshirtSize ?? 'none'),
          h('dt', {}, 'Starter kit'),
          h('dd', {}, word(r.starterKit)),
          h('dt', {}, 'Race'),
          h('dd', { class: `status status-${r.event.status.toLowerCase()}` }, word(r.event.status)),
        ),
        refundPart(r, onChanged),
      ),
    ),
  );
}

function refundPart(registration, onChanged) {
  const request = registration.refundRequest;
  if (request) {
    return h(
      'p',
      { class: 'refund' },
      `Your choice: ${word(request.option)}. `,
      request.option === 'KIT_AND_DONATE'
        ? `Kit share ${money(request.kitShare)}, donated ${money(request.donation)}. `
        : `Refund ${money(request.refund)}. `,
      h('strong', {}, word(request.status)),
      request.decidedAt ? ` on ${when(request.decidedAt)}` : '',
      request.decisionNote ? `: “${request.decisionNote}”` : '.',
    );
  }
  const { event } = registration;
  if (event.status !== 'CANCELLED') return null;
  const endsAt = event.refundPolicy.deadlineEndsAt;
  if (!endsAt) return h('p', { class: 'refund muted' }, 'This race offers no refunds.');
  if (new Date(endsAt) <= new Date()) {
    return h('p', { class: 'refund muted' }, `The deadline to choose passed on ${inZone(endsAt, event.timeZone)}.`);
  }
  const id = `refund-${registration.id}`;
  const form = h(
    'form',
    { class: 'stack refund-form' },
    h(
      'fieldset',
      {},
      h('legend', {}, `The race is cancelled. Choose by ${inZone(endsAt, event.timeZone)}:`),
      h(
        'div',
        { class: 'choice' },
        h('input', { type: 'radio', name: 'option', value: 'KIT_AND_DONATE', id: `${id}-kit`, checked: true }),
        h('label', { for: `${id}-kit` }, 'Keep the starter kit, T-shirt and medal for part of the fee; the rest goes to the charities'),
      ),
      h(
        'div',
        { class: 'choice' },
        h('input', { type: 'radio', name: 'option', value: 'FULL_REFUND', id: `${id}-full` }),
        h('label', { for: `${id}-full` }, 'Full refund of the fee'),
      ),
      h(
        'div',
        { class: 'choice' },
        h('input', { type: 'checkbox', name: 'consent', id: `${id}-consent` }),
        h('label', { for: `${id}-consent` }, 'I agree that the donated part goes to the marathon’s charity projects'),
      ),
    ),
    h('button', { type: 'submit' }, 'Send my choice'),
  );
  return handle(form, async (f, status) => {
    const option = f.option.value;
    if (option === 'KIT_AND_DONATE' && !f.consent.checked) {
      say(status, 'Tick the consent box to donate, or choose a full refund.', 'error');
      return;
    }
    await gql(REQUEST_REFUND, {
      input: { registrationId: registration.id, option, donationConsent: f.consent.checked },
    });
    onChanged();
  });
}

export { handle, field };
