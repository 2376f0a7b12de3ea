// graphql-sse's own client (npm `graphql-sse`, distinct connections mode) against a running
// gateway: a runner subscribes to `myNotifications` with no `after`, an organizer cancels
// a race the runner is in, the runner hears it; then the connection is cut, a second race
// is cancelled while it is down, and the client comes back with `Last-Event-ID` (the id of
// the last event it read) and hears the missed one, then a live third, and nothing twice.
//
// The reference client reads only `event:` and `data:`, so the `id:` of each event is read
// here, from a copy of the stream taken in `fetchFn`, and sent back as `Last-Event-ID` by
// the `headers` function on every (re)connect, as a browser's EventSource does by itself.
//
// Environment: GATEWAY_URL, RUNNER_TOKEN, ORGANIZER_TOKEN, EVENTS (three event ids, comma
// separated, the runner registered for each). Prints one JSON line, the report; exits 0
// only if every check held. Started by tests/tests/api/sse.rs.

import { createClient } from 'graphql-sse';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const GATEWAY = env('GATEWAY_URL').replace(/\/$/, '');
const RUNNER = env('RUNNER_TOKEN');
const ORGANIZER = env('ORGANIZER_TOKEN');
const EVENTS = env('EVENTS').split(',');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

async function within(what, promise, ms = 10_000) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function cancel(event, reason) {
  const res = await fetch(`${GATEWAY}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ORGANIZER}` },
    body: JSON.stringify({
      query: 'mutation($input: ChangeEventStatusInput!) { changeEventStatus(input: $input) { status } }',
      variables: { input: { eventId: event, status: 'CANCELLED', reason } },
    }),
  });
  const body = await res.json();
  check(!body.errors, `the cancellation of ${event}: ${JSON.stringify(body)}`);
}

// What the wire carried, event by event, across connections.
const wire = []; // { connection, event, id, data }
const lastEventIdsSent = []; // the Last-Event-ID of each connection, or null
let lastEventId = null;
let connections = 0;
let opened; // resolves when the current connection's first comment arrives
let openedNow = new Promise((resolve) => (opened = resolve));
let cutNow = null; // errors the current connection's body, as a dropped network would

// Reads one copy of an event stream: each event's `event`, `id` and `data` lines.
async function record(body, connection) {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const message = { connection, event: null, id: null, data: '' };
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const [field, ...rest] = line.split(':');
        const value = rest.join(':').replace(/^ /, '');
        if (field === 'event') message.event = value;
        if (field === 'id') message.id = value;
        if (field === 'data') message.data += value;
      }
      if (message.event === null) {
        opened();
        continue;
      }
      if (message.id !== null) lastEventId = message.id;
      wire.push(message);
    }
  }
}

async function fetchFn(url, init) {
  const abort = new AbortController();
  init.signal?.addEventListener('abort', () => abort.abort());
  const res = await fetch(url, { ...init, signal: abort.signal });
  const accept = new Headers(init.headers).get('accept') ?? '';
  if (!accept.includes('text/event-stream') || !res.body) return res;
  connections += 1;
  const connection = connections;
  lastEventIdsSent.push(new Headers(init.headers).get('last-event-id'));
  const [forClient, forRecord] = res.body.tee();
  record(forRecord, connection).catch(() => {});
  const reader = forClient.getReader();
  let controller;
  const body = new ReadableStream({
    start(c) {
      controller = c;
    },
    async pull(c) {
      try {
        const { done, value } = await reader.read();
        if (done) c.close();
        else c.enqueue(value);
      } catch (error) {
        c.error(error);
      }
    },
  });
  cutNow = () => {
    controller.error(new TypeError('the network went away (cut by the test)'));
    abort.abort();
  };
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
}

// The reconnect waits until the test lets it: the second race is cancelled in between.
let letBackIn;
const mayReconnect = new Promise((resolve) => (letBackIn = resolve));

const client = createClient({
  url: `${GATEWAY}/graphql/stream`,
  fetchFn,
  headers: () => {
    const headers = { authorization: `Bearer ${RUNNER}` };
    if (lastEventId !== null) headers['last-event-id'] = lastEventId;
    return headers;
  },
  retryAttempts: 3,
  retry: async () => {
    await mayReconnect;
  },
});

const heard = [];
let heardOne;
let nextHeard = new Promise((resolve) => (heardOne = resolve));
const errors = [];
const subscription = client.subscribe(
  { query: 'subscription { myNotifications { id kind eventStatusChange { status event { id } } } }' },
  {
    next: (result) => {
      if (result.errors) errors.push(result.errors);
      if (result.data) heard.push(result.data.myNotifications);
      heardOne();
      nextHeard = new Promise((resolve) => (heardOne = resolve));
    },
    error: (error) => errors.push(String(error)),
    complete: () => {},
  },
);

async function hear(n, what) {
  while (heard.length < n) await within(what, nextHeard);
}

try {
  await within('the stream to open', openedNow);
  await cancel(EVENTS[0], 'Storm warning');
  await hear(1, 'the first cancellation');
  // The copy of the stream is read beside the client's: its id first, then the cut.
  await within('the first event id', (async () => {
    while (lastEventId !== heard[0].id) await sleep(10);
  })());

  openedNow = new Promise((resolve) => (opened = resolve));
  cutNow();
  // Cancelled while the runner is away.
  await cancel(EVENTS[1], 'Road works');
  await sleep(200);
  letBackIn();
  await within('the stream to open again', openedNow);
  await hear(2, 'the missed cancellation, replayed');
  await cancel(EVENTS[2], 'Heat wave');
  await hear(3, 'the live cancellation after the resume');
  // Anything more (a repeat) would arrive with or before a ping answered now; give it a
  // moment on the same stream.
  await sleep(300);
} catch (error) {
  errors.push(String(error));
} finally {
  subscription();
  client.dispose();
}

const nexts = wire.filter((m) => m.event === 'next');
const report = {
  connections,
  lastEventIdsSent,
  heard: heard.map((n) => ({ id: n.id, event: n.eventStatusChange?.event?.id })),
  wire: nexts.map((m) => ({ connection: m.connection, id: m.id, notification: JSON.parse(m.data).data?.myNotifications?.id })),
  errors,
};
console.log(JSON.stringify(report));
process.exit(errors.length === 0 ? 0 : 1);
