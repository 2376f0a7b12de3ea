// GraphiQL from the gateway's own pinned files: queries and mutations over POST /graphql,
// subscriptions over /graphql/ws with the vendored graphql-ws client. The Authorization
// value of GraphiQL's Headers tab goes into `connection_init` as `authorization`, as the
// gateway expects, so a signed-in subscription (`myNotifications`) works here too.
//
// The schema (documentation, completion, validation) is built from the committed SDL the
// gateway embeds, which a test keeps equal to the code: one small file instead of
// GraphiQL's introspection query (14 levels deep, near QUERY_DEPTH_LIMIT). With
// INTROSPECTION=false the gateway serves neither, and GraphiQL runs without a schema.

import { createClient } from './vendor/graphql-ws-6.4.2/client.js';
import { initialLanguage, setLanguage, t } from './i18n.js';

const { React, ReactDOM, GraphiQL } = window;

// The welcome comment in the runner page's language (this device's choice, else the
// browser's); the rest of GraphiQL is GraphiQL's own English.
setLanguage(initialLanguage());
document.documentElement.lang = initialLanguage();
const DEFAULT_QUERY = `# ${t('graphiql.welcome')}
{
  events(first: 10) {
    edges { node { id name status registrationState startsAtLocal
      distances { name fee { amount currency } } } }
  }
}
`;

const httpFetcher = GraphiQL.createFetcher({ url: '/graphql' });

/** One WebSocket client per Authorization value. */
const clients = new Map();
function wsClient(authorization) {
  const key = authorization ?? '';
  if (!clients.has(key)) {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql/ws`;
    clients.set(
      key,
      createClient({ url, connectionParams: authorization ? { authorization } : {} }),
    );
  }
  return clients.get(key);
}

/** Whether the operation to run is a subscription. The query text is parsed here: the
 * `documentAST` GraphiQL passes along can lag behind an edit made just before running. */
function isSubscription(params) {
  let document;
  try {
    document = GraphiQL.GraphQL.parse(params.query);
  } catch {
    return false;
  }
  const operations = document.definitions.filter((d) => d.kind === 'OperationDefinition');
  const chosen = params.operationName
    ? operations.find((op) => op.name?.value === params.operationName)
    : operations.length === 1
      ? operations[0]
      : undefined;
  return chosen?.operation === 'subscription';
}

function authorizationOf(headers) {
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (name.toLowerCase() === 'authorization') return String(value);
  }
  return undefined;
}

function fetcher(params, options) {
  if (isSubscription(params)) {
    return wsClient(authorizationOf(options?.headers)).iterate({
      query: params.query,
      variables: params.variables ?? undefined,
      operationName: params.operationName ?? undefined,
    });
  }
  return httpFetcher(params, options);
}

async function schema() {
  try {
    const response = await fetch('/assets/schema.graphql');
    if (!response.ok) return undefined;
    return GraphiQL.GraphQL.buildSchema(await response.text());
  } catch {
    // Without it GraphiQL introspects as usual (refused too when introspection is off).
    return undefined;
  }
}

ReactDOM.createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, {
    fetcher,
    schema: await schema(),
    defaultQuery: DEFAULT_QUERY,
    defaultEditorToolsVisibility: true,
  }),
);
