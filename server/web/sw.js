// The runner page's service worker (scope /): shows each race alert pushed by the gateway
// once, opens the race when a notification is clicked, tells the gateway that it showed
// the push and that the runner clicked it (the organizer's reach report), and
// re-subscribes when the push service replaces the subscription.
//
// The gateway writes each push's title and body in the runner's language; they are shown
// as sent. Only a push without them gets the worker's own words, in the page's language
// (the page hands them over from i18n.js: this worker's policy lets it load no script).
//
// Delivery is at least once (a push worker that dies after sending is retried), so every
// payload carries a stable `notificationId`. The ids already shown are kept in IndexedDB,
// not in a variable: a browser stops an idle worker within about 30 s, and a repeat often
// arrives after that. Recording an id is an `add` in one transaction, which fails for an
// id already there, so two copies arriving at once still show one notification.

const DB_NAME = 'race-day-worker';
const SHOWN = 'shown';
const SETTINGS = 'settings';
/** Ids kept: far more than the alerts a runner gets while one copy may still arrive. */
const KEEP = 500;

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => {
      const db = request.result;
      db.createObjectStore(SHOWN, { keyPath: 'id' }).createIndex('at', 'at');
      db.createObjectStore(SETTINGS);
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** Resolves when `transaction` commits; rejects if it aborts. (A request error that a
 * handler dealt with, calling preventDefault, does not abort it.) */
function done(transaction) {
  return new Promise((resolve, reject) => {
    transaction.oncomplete = () => resolve();
    transaction.onabort = () => reject(transaction.error ?? new Error('transaction aborted'));
  });
}

/** Records `id` as shown; false when it already was (then counts the repeat). */
async function firstTime(id) {
  const db = await openDb();
  try {
    const tx = db.transaction(SHOWN, 'readwrite');
    const store = tx.objectStore(SHOWN);
    let first = true;
    const added = store.add({ id, at: Date.now(), repeats: 0 });
    added.onerror = (event) => {
      // ConstraintError: shown before. Keep the transaction going to count the repeat.
      event.preventDefault();
      event.stopPropagation();
      first = false;
      const read = store.get(id);
      read.onsuccess = () => {
        if (read.result) store.put({ ...read.result, repeats: read.result.repeats + 1 });
      };
    };
    await done(tx);
    if (first) await prune(db);
    return first;
  } finally {
    db.close();
  }
}

async function forget(id) {
  const db = await openDb();
  try {
    const tx = db.transaction(SHOWN, 'readwrite');
    tx.objectStore(SHOWN).delete(id);
    await done(tx);
  } finally {
    db.close();
  }
}

/** Drops the oldest ids beyond KEEP. */
async function prune(db) {
  const tx = db.transaction(SHOWN, 'readwrite');
  const store = tx.objectStore(SHOWN);
  const counted = store.count();
  counted.onsuccess = () => {
    let excess = counted.result - KEEP;
    if (excess <= 0) return;
    store.index('at').openCursor().onsuccess = (event) => {
      const cursor = event.target.result;
      if (!cursor || excess-- <= 0) return;
      cursor.delete();
      cursor.continue();
    };
  };
  await done(tx);
}

async function setting(name, value) {
  const db = await openDb();
  try {
    const tx = db.transaction(SETTINGS, value === undefined ? 'readonly' : 'readwrite');
    const store = tx.objectStore(SETTINGS);
    let result;
    if (value === undefined) {
      const read = store.get(name);
      read.onsuccess = () => {
        result = read.result;
      };
    } else if (value === null) {
      store.delete(name);
    } else {
      store.put(value, name);
    }
    await done(tx);
    return result;
  } finally {
    db.close();
  }
}

// As api.js's (a classic worker cannot import the page's module), so that the gateway's
// metrics name them and they are among the page's registered documents
// (server/web/documents.json; TRUSTED_DOCUMENTS=only runs no other for a runner).
const ACKNOWLEDGE_PUSH = `mutation AcknowledgePush($token: String!, $action: PushAcknowledgement!) {
  acknowledgePush(token: $token, action: $action) }`;
const PUBLIC_KEY = `query WebPushPublicKey { webPushPublicKey }`;
const SUBSCRIBE_PUSH = `mutation SubscribePush($input: SubscribePushInput!) {
  subscribePush(input: $input) { id endpoint } }`;
const UNSUBSCRIBE_PUSH = `mutation UnsubscribePush($endpoint: String!) { unsubscribePush(endpoint: $endpoint) }`;

/** Reports `action` (DISPLAYED, CLICKED) for the delivery whose `ack` token the push
 * carried. No session: the token is the credential. Never throws: the notification
 * stands either way, and a token used twice is refused, so there is no retry. */
async function acknowledge(token, action) {
  if (typeof token !== 'string' || !token) return;
  try {
    const response = await fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: ACKNOWLEDGE_PUSH, variables: { token, action } }),
    });
    const body = await response.json();
    if (body.errors?.length) console.warn(`push ${action} not acknowledged: ${body.errors[0].message}`);
  } catch (error) {
    console.warn(`push ${action} not acknowledged: ${error}`);
  }
}

function readPayload(event) {
  if (!event.data) return null;
  try {
    return event.data.json();
  } catch {
    return { body: event.data.text() };
  }
}

/** The page's texts for a push that lacks its own ({ title, body, byStatus }); English
 * until a page has handed them over. */
async function fallbackTexts() {
  const english = { title: 'Race update', body: '', byStatus: {} };
  try {
    return (await setting('texts'))?.texts ?? english;
  } catch {
    return english;
  }
}

async function onPush(event) {
  const alert = readPayload(event);
  if (!alert) return;
  const id = alert.notificationId ? String(alert.notificationId) : null;
  if (id && !(await firstTime(id))) return;
  const own = alert.title && alert.body ? null : await fallbackTexts();
  try {
    await self.registration.showNotification(alert.title || own.byStatus?.[alert.status] || own.title, {
      body: alert.body || own.body || '',
      // One notification per race, as the gateway's Topic: a newer alert replaces an
      // older one, quietly.
      tag: alert.eventId ? `event-${alert.eventId}` : undefined,
      renotify: false,
      timestamp: Date.now(),
      data: {
        notificationId: id,
        eventId: alert.eventId ?? null,
        status: alert.status ?? null,
        url: alert.url ?? '/',
        ack: alert.ack ?? null,
      },
    });
  } catch (error) {
    // Not shown: a later copy may show it.
    if (id) await forget(id);
    throw error;
  }
  await acknowledge(alert.ack, 'DISPLAYED');
}

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) =>
  event.waitUntil(
    onPush(event).catch((error) => {
      console.error(`push not shown: ${error}`);
      throw error;
    }),
  ),
);

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const data = event.notification.data ?? {};
  const open = (async () => {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const page = windows.find((client) => new URL(client.url).origin === self.location.origin);
    if (page) {
      await page.focus();
      page.postMessage({ type: 'show-event', eventId: data.eventId });
      return;
    }
    await self.clients.openWindow(data.url || '/');
  })();
  event.waitUntil(Promise.all([open, acknowledge(data.ack, 'CLICKED')]));
});

self.addEventListener('message', (event) => {
  if (event.data?.type === 'session') {
    event.waitUntil(setting('token', event.data.token ?? null));
  } else if (event.data?.type === 'texts' && event.data.texts?.title) {
    event.waitUntil(setting('texts', { language: event.data.language, texts: event.data.texts }));
  }
});

async function graphql(token, query, variables) {
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors?.length) throw new Error(body.errors[0].message);
  return body.data;
}

self.addEventListener('pushsubscriptionchange', (event) => {
  event.waitUntil(
    (async () => {
      const token = await setting('token');
      if (!token) return;
      let subscription = event.newSubscription;
      if (!subscription) {
        const { webPushPublicKey } = await graphql(token, PUBLIC_KEY, {});
        const padded = webPushPublicKey.replace(/-/g, '+').replace(/_/g, '/');
        const key = Uint8Array.from(
          atob(padded + '='.repeat((4 - (padded.length % 4)) % 4)),
          (c) => c.charCodeAt(0),
        );
        subscription = await self.registration.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: key,
        });
      }
      const { endpoint, keys } = subscription.toJSON();
      await graphql(token, SUBSCRIBE_PUSH, {
        input: { endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth } },
      });
      if (event.oldSubscription && event.oldSubscription.endpoint !== endpoint) {
        await graphql(token, UNSUBSCRIBE_PUSH, { endpoint: event.oldSubscription.endpoint });
      }
    })(),
  );
});
