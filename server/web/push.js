// "Alert me on this device": Web Push through this origin's service worker.
//
// On the click: Notification permission, the gateway's VAPID key (`webPushPublicKey`),
// `pushManager.subscribe({ userVisibleOnly: true, applicationServerKey })`, and the
// subscription sent with `subscribePush` (no event ids: every race the runner is
// registered for, now or later). "Stop alerts" removes it from the gateway and the browser.
// When the gateway's key has changed since, the browser's subscription is useless (the
// push service refuses pushes signed by another key): it is replaced and sent again.

import { gql, PUBLIC_KEY, SUBSCRIBE_PUSH, UNSUBSCRIBE_PUSH } from './api.js';
import { m, t } from './i18n.js';

export function supported() {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

/** Registers the service worker (scope /); resolves to its registration. Its URL never
 * changes: a new build's sw.js is found by comparing bytes. The browser does that on its
 * own only now and then; asked on every load (past any HTTP cache), the new worker
 * installs at once (it skips waiting and claims the pages). */
export async function registerWorker() {
  const registration = await navigator.serviceWorker.register('/sw.js', { scope: '/', updateViaCache: 'none' });
  registration.update().catch(() => {});
  return navigator.serviceWorker.ready;
}

/** Hands the service worker its texts in `lang`, for a push that comes without its own
 * title or body (the gateway's come translated already). The worker cannot load i18n.js
 * itself: its policy allows no script but its own. */
export async function shareTexts(lang) {
  if (!('serviceWorker' in navigator)) return;
  const registration = await navigator.serviceWorker.ready;
  const texts = { title: t('sw.title', {}, lang), body: t('sw.body', {}, lang), byStatus: {} };
  for (const status of ['CANCELLED', 'SUSPENDED', 'RESCHEDULED', 'SCHEDULED', 'COMPLETED']) {
    texts.byStatus[status] = t(`sw.${status}`, {}, lang);
  }
  registration.active?.postMessage({ type: 'texts', language: lang, texts });
}

/** Tells the service worker who is signed in, so it can re-subscribe on its own when the
 * push service changes the subscription (`pushsubscriptionchange`). */
export async function shareSession(token) {
  if (!('serviceWorker' in navigator)) return;
  const registration = await navigator.serviceWorker.ready;
  registration.active?.postMessage({ type: 'session', token: token ?? null });
}

function base64UrlToBytes(text) {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function bytesToBase64Url(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

async function currentKey() {
  return (await gql(PUBLIC_KEY)).webPushPublicKey;
}

async function send(subscription) {
  const { endpoint, keys } = subscription.toJSON();
  await gql(SUBSCRIBE_PUSH, { input: { endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth } } });
}

async function subscribeWith(registration, key) {
  return registration.pushManager.subscribe({
    userVisibleOnly: true,
    applicationServerKey: base64UrlToBytes(key),
  });
}

/** The click on "Alert me on this device". Resolves to a sentence for the runner (a
 * translated text). */
export async function enable() {
  // Asked first, while the click still counts as the runner's gesture.
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') {
    return { on: false, message: m('push.blocked') };
  }
  const registration = await navigator.serviceWorker.ready;
  const key = await currentKey();
  let subscription = await registration.pushManager.getSubscription();
  if (subscription && !sameKey(subscription, key)) {
    await subscription.unsubscribe();
    subscription = null;
  }
  subscription ??= await subscribeWith(registration, key);
  await send(subscription);
  return { on: true, message: m('push.isOn') };
}

/** The click on "Stop alerts". */
export async function disable() {
  const registration = await navigator.serviceWorker.ready;
  const subscription = await registration.pushManager.getSubscription();
  if (subscription) {
    await gql(UNSUBSCRIBE_PUSH, { endpoint: subscription.endpoint });
    await subscription.unsubscribe();
  }
  return { on: false, message: m('push.isOff') };
}

function sameKey(subscription, key) {
  const used = subscription.options?.applicationServerKey;
  return !used || bytesToBase64Url(used) === key;
}

/**
 * On load, signed in: whether this device gets alerts for this account (`endpoints`: the
 * account's subscriptions at the gateway), re-subscribing when the gateway's key changed.
 */
export async function sync(endpoints) {
  if (!supported() || Notification.permission !== 'granted') return { on: false };
  const registration = await navigator.serviceWorker.ready;
  const subscription = await registration.pushManager.getSubscription();
  if (!subscription || !endpoints.includes(subscription.endpoint)) return { on: false };
  const key = await currentKey();
  if (sameKey(subscription, key)) return { on: true };
  await gql(UNSUBSCRIBE_PUSH, { endpoint: subscription.endpoint });
  await subscription.unsubscribe();
  await send(await subscribeWith(registration, key));
  return { on: true, message: m('push.rekeyed') };
}
