// The stand-in at the push service boundary, and what the test reads of the page's service
// worker. A browser here cannot reach a real push service, so PushManager answers with a
// subscription at the project's mock push service (whose keys the mock decrypts with), and
// what the mock accepted is read back from it to be handed to the service worker.

import { GATEWAY, check, until } from './support.mjs';

/** Runs in every page of the runner's context before its scripts: PushManager answers
 * with the mock's subscription, remembered in localStorage as a browser would. */
export function fakePushService(subscription) {
  const STORE = 'journey:push-subscribed-with-key';
  const bytes = (base64url) => {
    const base64 = base64url.replace(/-/g, '+').replace(/_/g, '/');
    return Uint8Array.from(atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4)), (c) => c.charCodeAt(0));
  };
  const toBase64Url = (buffer) =>
    btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const make = (applicationServerKey) => ({
    endpoint: subscription.endpoint,
    expirationTime: null,
    options: { userVisibleOnly: true, applicationServerKey: bytes(applicationServerKey).buffer },
    getKey: (name) => bytes(name === 'p256dh' ? subscription.p256dh : subscription.auth).buffer,
    toJSON: () => ({
      endpoint: subscription.endpoint,
      expirationTime: null,
      keys: { p256dh: subscription.p256dh, auth: subscription.auth },
    }),
    unsubscribe: async () => {
      localStorage.removeItem(STORE);
      return true;
    },
  });
  PushManager.prototype.subscribe = async function subscribe(options) {
    if (!options?.userVisibleOnly || !options.applicationServerKey) {
      throw new DOMException('userVisibleOnly and applicationServerKey are required', 'NotAllowedError');
    }
    const key = typeof options.applicationServerKey === 'string'
      ? options.applicationServerKey
      : toBase64Url(options.applicationServerKey);
    localStorage.setItem(STORE, key);
    return make(key);
  };
  PushManager.prototype.getSubscription = async function getSubscription() {
    const key = localStorage.getItem(STORE);
    return key === null ? null : make(key);
  };
  PushManager.prototype.permissionState = async () => 'granted';
}

/** What the mock accepted for `subscription`, decrypted, and what it rejected. */
export async function received(mock, subscription) {
  const response = await fetch(`${mock}/received/${subscription.id}`);
  check(response.ok, `the mock answers (${response.status})`);
  return response.json();
}

export async function notifications(page) {
  return page.evaluate(async () => {
    const registration = await navigator.serviceWorker.ready;
    return (await registration.getNotifications()).map((n) => ({
      title: n.title,
      body: n.body,
      tag: n.tag,
      data: n.data,
    }));
  });
}

/** What the service worker recorded for a notification id (IndexedDB), or null. */
export async function shownRecord(page, id) {
  return page.evaluate(
    (id) =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open('race-day-worker', 1);
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const db = open.result;
          const read = db.transaction('shown').objectStore('shown').get(id);
          read.onsuccess = () => {
            resolve(read.result ?? null);
            db.close();
          };
          read.onerror = () => reject(read.error);
        };
      }),
    id,
  );
}

/** The page's service worker, through the DevTools protocol: `deliver(payload)` hands it
 * a push as the push service would (ServiceWorker.deliverPushMessage); `versions` and
 * `registration` tell its state. */
export async function pushWorker(context, page) {
  const cdp = await context.newCDPSession(page);
  const registrations = new Map();
  const versions = new Map();
  cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations: list }) => {
    for (const r of list) registrations.set(r.registrationId, r);
  });
  cdp.on('ServiceWorker.workerVersionUpdated', ({ versions: list }) => {
    for (const v of list) versions.set(v.versionId, v);
  });
  await cdp.send('ServiceWorker.enable');
  const registration = await until('the service worker registration', () =>
    [...registrations.values()].find((r) => r.scopeURL === `${GATEWAY}/` && !r.isDeleted),
  );
  return {
    cdp,
    registration,
    versions,
    deliver: (payload) =>
      cdp.send('ServiceWorker.deliverPushMessage', {
        origin: GATEWAY,
        registrationId: registration.registrationId,
        data: typeof payload === 'string' ? payload : JSON.stringify(payload),
      }),
    detach: () => cdp.detach(),
  };
}
