// GraphQL over HTTP to this origin's /graphql, the session kept in localStorage, and the
// documents the page sends (shapes as in schema/schema.graphql).

import { m } from './i18n.js';

const SESSION_KEY = 'race-day:session';

/** An answer with GraphQL errors: `code` is the first error's extensions.code;
 * `retryAfter` the seconds to wait when the gateway refused for a rate limit (a 429). */
export class ApiError extends Error {
  constructor(errors, retryAfter = null) {
    super(errors.map((e) => e.message).join('; '));
    this.code = errors[0]?.extensions?.code ?? 'INTERNAL';
    this.retryAfter = retryAfter;
  }
}

/** Seconds from a Retry-After header (seconds or an HTTP date), or null. */
function retryAfterSeconds(value) {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d{1,9}$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/** The gateway answered something that is not GraphQL (a proxy's error page, say). */
class GatewayError extends Error {}

/** Codes that mean "busy, try again soon". */
const BUSY = new Set(['UNAVAILABLE', 'TOO_MANY_CONNECTIONS', 'TIMEOUT', 'REQUEST_TIMEOUT', 'SHUTTING_DOWN']);

/** What to tell a person about an error, in a sentence of the page's own (i18n.js, per
 * `extensions.code`); the gateway's English `message` only for a code the page does not
 * know. */
export function explain(error) {
  if (error instanceof ApiError) {
    if (error.code === 'RATE_LIMITED') {
      if (error.retryAfter === null) return m('error.RATE_LIMITED');
      return m('error.RATE_LIMITED.wait', { seconds: Math.max(1, error.retryAfter) });
    }
    if (BUSY.has(error.code)) return m('error.busy');
    return m(`error.${error.code}`, {}, error.message);
  }
  if (error instanceof GatewayError) return m('error.busy');
  // fetch rejects with a TypeError when the network is down.
  if (error instanceof TypeError) return m('error.network');
  return error?.message ?? String(error);
}

/** { token, account: { id, email, role, displayName } } or null. */
export function session() {
  try {
    return JSON.parse(localStorage.getItem(SESSION_KEY) ?? 'null');
  } catch {
    return null;
  }
}

export function saveSession(value) {
  if (value) localStorage.setItem(SESSION_KEY, JSON.stringify(value));
  else localStorage.removeItem(SESSION_KEY);
}

// The device token signIn gives this browser, per account email: shown at the next sign-in,
// it keeps this browser's own guessing budget when strangers spend the account's. It
// outlives sign-out on purpose (a password change withdraws it).
const deviceKey = (email) => `race-day:device:${email.toLowerCase()}`;

/** The device token this browser keeps for `email`, or null. */
export function deviceToken(email) {
  return localStorage.getItem(deviceKey(email));
}

/** Keeps the device token signIn gave for `email`. */
export function saveDeviceToken(email, token) {
  if (token) localStorage.setItem(deviceKey(email), token);
}

/** Calls `changed(session or null)` when another tab of this origin signs in or out (the
 * tab that opened the mail's confirmation link, say). */
export function onSessionChangedElsewhere(changed) {
  window.addEventListener('storage', (event) => {
    if (event.key === SESSION_KEY || event.key === null) changed(session());
  });
}

/** Runs a query or mutation; resolves to `data`, rejects with ApiError or a network error. */
export async function gql(query, variables = {}) {
  const headers = {
    'content-type': 'application/json',
    accept: 'application/graphql-response+json, application/json',
  };
  const token = session()?.token;
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch('/graphql', {
    method: 'POST',
    headers,
    body: JSON.stringify({ query, variables }),
  });
  // A rate limit answers 429 with Retry-After (the error's extensions carry the same wait).
  const limited = response.status === 429;
  const retryAfter = limited ? retryAfterSeconds(response.headers.get('retry-after')) : null;
  let body;
  try {
    body = await response.json();
  } catch {
    if (limited) throw new ApiError([{ message: 'too many requests', extensions: { code: 'RATE_LIMITED' } }], retryAfter);
    throw new GatewayError(`the gateway answered ${response.status}`);
  }
  if (body.errors?.length) {
    const wait = limited ? retryAfter ?? body.errors[0]?.extensions?.retryAfter ?? null : null;
    throw new ApiError(body.errors, wait);
  }
  return body.data;
}

export const ACCOUNT = `id email displayName role language organization { id name }`;

export const SIGN_UP = `mutation SignUp($input: SignUpInput!) {
  signUp(input: $input) { email message } }`;
export const CONFIRM_SIGN_UP = `mutation ConfirmSignUp($token: String!) {
  confirmSignUp(token: $token) { token account { ${ACCOUNT} } } }`;
export const SIGN_IN = `mutation SignIn($input: SignInInput!) {
  signIn(input: $input) { token deviceToken account { ${ACCOUNT} } } }`;
export const SIGN_OUT = `mutation SignOut { signOut }`;
export const REQUEST_PASSWORD_RESET = `mutation RequestPasswordReset($email: String!) { requestPasswordReset(email: $email) }`;
export const RESET_PASSWORD = `mutation ResetPassword($input: ResetPasswordInput!) { resetPassword(input: $input) }`;

export const EVENTS = `query Races {
  events(first: 25) { edges { node {
    id slug name description venue status registrationState startsAt startsAtLocal timeZone
    placesLeft
    organizers { id }
    refundPolicy { deadline deadlineEndsAt kitShareBasisPoints donationBasisPoints }
    distances { id name lengthMeters fee { amount currency } }
    statusHistory { id previousStatus status reason reasons { language text } startsAt occurredAt }
  } } } }`;

export const ME = `query Me { me {
  ${ACCOUNT}
  pushSubscriptions { id endpoint }
  registrations {
    id bib state fee { amount currency } tshirtSize starterKit
    event { id name status timeZone refundPolicy { deadline deadlineEndsAt } }
    distance { name }
    refundRequest { id option status refund { amount currency } kitShare { amount currency }
      donation { amount currency } decisionNote decidedAt }
  } } }`;

export const UPDATE_ACCOUNT = `mutation UpdateAccount($input: UpdateAccountInput!) {
  updateAccount(input: $input) { id language } }`;

export const REGISTER = `mutation Register($input: RegisterInput!) {
  register(input: $input) { id bib } }`;

export const REQUEST_REFUND = `mutation RequestRefund($input: RequestRefundInput!) {
  requestRefund(input: $input) { id status } }`;

export const CHANGE_STATUS = `mutation ChangeEventStatus($input: ChangeEventStatusInput!) {
  changeEventStatus(input: $input) { id status registrationState } }`;

export const PUSH_REPORTS = `query PushReports($eventId: ID!) {
  pushReports(eventId: $eventId) {
    notificationId status reason occurredAt queued sent delivered failed pruned dropped pending
  } }`;

export const REACH_REPORT = `query ReachReport($notificationId: ID!) {
  reachReport(notificationId: $notificationId) {
    notificationId targeted acknowledged liveSeen pushDelivered pushDisplayed pushClicked
    emailed emailFailed emailPending unreached
    runners(filter: UNREACHED, first: 20) { pageInfo { hasNextPage } edges { node { name email emailStatus emailReply } } }
  } }`;

export const PUBLIC_KEY = `query WebPushPublicKey { webPushPublicKey }`;
export const SUBSCRIBE_PUSH = `mutation SubscribePush($input: SubscribePushInput!) {
  subscribePush(input: $input) { id endpoint } }`;
export const UNSUBSCRIBE_PUSH = `mutation UnsubscribePush($endpoint: String!) { unsubscribePush(endpoint: $endpoint) }`;

export const NOTIFICATIONS_CURSOR = `query NotificationsCursor { notificationsCursor }`;
export const MY_NOTIFICATIONS = `subscription MyNotifications($after: String) {
  myNotifications(after: $after) {
    id kind
    eventStatusChange { id event { id name slug timeZone } previousStatus status reason reasons { language text } startsAt occurredAt }
    refundDecision { refundRequestId eventName option status note decidedAt }
  } }`;

export const NOTIFICATION_LOG = `query NotificationLog($first: Int, $after: String) {
  notificationLog(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node {
      id kind
      eventStatusChange { id event { id name slug timeZone } previousStatus status reason reasons { language text } startsAt occurredAt }
      refundDecision { refundRequestId eventName option status note decidedAt }
    } } } }`;
export const ACKNOWLEDGE_NOTIFICATIONS = `mutation AcknowledgeNotifications($upTo: ID!) {
  acknowledgeNotifications(upTo: $upTo) }`;
// Sent by sw.js, which cannot import this module: it carries the same text (the browser
// journey checks that), so that the metrics know its name.
export const ACKNOWLEDGE_PUSH = `mutation AcknowledgePush($token: String!, $action: PushAcknowledgement!) {
  acknowledgePush(token: $token, action: $action) }`;
