// GraphQL over HTTP to this origin's /graphql, the session kept in localStorage, and the
// documents the page sends (shapes as in schema/schema.graphql).

const SESSION_KEY = 'race-day:session';

/** An answer with GraphQL errors: `code` is the first error's extensions.code. */
export class ApiError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join('; '));
    this.code = errors[0]?.extensions?.code ?? 'INTERNAL';
  }
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
  let body;
  try {
    body = await response.json();
  } catch {
    throw new Error(`the gateway answered ${response.status}`);
  }
  if (body.errors?.length) throw new ApiError(body.errors);
  return body.data;
}

export const ACCOUNT = `id email displayName role organization { id name }`;

export const SIGN_UP = `mutation($input: SignUpInput!) {
  signUp(input: $input) { token account { ${ACCOUNT} } } }`;
export const SIGN_IN = `mutation($input: SignInInput!) {
  signIn(input: $input) { token account { ${ACCOUNT} } } }`;
export const SIGN_OUT = `mutation { signOut }`;

export const EVENTS = `query {
  events(first: 50) { edges { node {
    id slug name description venue status registrationState startsAt startsAtLocal timeZone
    placesLeft
    organizers { id }
    refundPolicy { deadline deadlineEndsAt kitShareBasisPoints donationBasisPoints }
    distances { id name lengthMeters fee { amount currency } }
    statusHistory { id previousStatus status reason startsAt occurredAt }
  } } } }`;

export const ME = `query { me {
  ${ACCOUNT}
  pushSubscriptions { id endpoint }
  registrations {
    id bib state fee { amount currency } tshirtSize starterKit
    event { id name status timeZone refundPolicy { deadline deadlineEndsAt } }
    distance { name }
    refundRequest { id option status refund { amount currency } kitShare { amount currency }
      donation { amount currency } decisionNote decidedAt }
  } } }`;

export const REGISTER = `mutation($input: RegisterInput!) {
  register(input: $input) { id bib } }`;

export const REQUEST_REFUND = `mutation($input: RequestRefundInput!) {
  requestRefund(input: $input) { id status } }`;

export const CHANGE_STATUS = `mutation($input: ChangeEventStatusInput!) {
  changeEventStatus(input: $input) { id status registrationState } }`;

export const PUSH_REPORTS = `query($eventId: ID!) {
  pushReports(eventId: $eventId) {
    notificationId status reason occurredAt queued sent delivered failed pruned dropped pending
  } }`;

export const PUBLIC_KEY = `query { webPushPublicKey }`;
export const SUBSCRIBE_PUSH = `mutation($input: SubscribePushInput!) {
  subscribePush(input: $input) { id endpoint } }`;
export const UNSUBSCRIBE_PUSH = `mutation($endpoint: String!) { unsubscribePush(endpoint: $endpoint) }`;

export const MY_NOTIFICATIONS = `subscription($after: String) {
  myNotifications(after: $after) {
    id kind
    eventStatusChange { id event { id name slug } previousStatus status reason startsAt occurredAt }
    refundDecision { refundRequestId eventName option status note decidedAt }
  } }`;
