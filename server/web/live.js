// Live alerts: `myNotifications` over graphql-transport-ws with the real graphql-ws client.
//
// The page reads the alert log first (`notificationLog`) and subscribes `after` the newest
// id it knows. The cursor lives in this page (two tabs of one account each hear every
// alert), and graphql-ws re-sends the same subscribe payload on each reconnect, so the
// cursor is updated in that payload as notifications arrive: a dropped connection or a
// gateway restart (it closes sockets with 1001) replays what was missed. Ids only grow,
// so anything at or below the cursor is a repeat and is dropped here as well.

import { createClient } from './vendor/graphql-ws-6.4.2/client.js';
import { MY_NOTIFICATIONS } from './api.js';

const seenKey = (accountId) => `race-day:last-notification:${accountId}`;

/** The newest notification id this device showed the account, or null: on the next load,
 * a newer one is what happened while away (and gets the banner). */
export function lastSeen(accountId) {
  const value = localStorage.getItem(seenKey(accountId));
  return value !== null && /^\d{1,19}$/.test(value) ? value : null;
}

/** Notes that this device showed the account notification `id` (never moves back). */
export function remember(accountId, id) {
  const seen = lastSeen(accountId);
  if (seen === null || BigInt(id) > BigInt(seen)) localStorage.setItem(seenKey(accountId), id);
}

/** Backoff for the n-th retry. The first anywhere in the next second (full jitter): the
 * pages of an instance that died spread over a second, not a quarter, when they arrive at
 * the survivor; then exponential from 1 s, at most 30 s, half of it jitter. */
export function retryDelayMs(retries) {
  if (retries === 0) return Math.random() * 1000;
  const ceiling = Math.min(30_000, 1000 * 2 ** retries);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/**
 * Listens for the signed-in account's notifications after id `after` until `stop()`.
 * onNotification(notification) for each new one, in order; onState('live' | 'connecting' |
 * 'offline' | 'signed-out' | 'too-old', detail) as the connection changes. After 'too-old'
 * (the cursor is further back than the gateway replays) it subscribes no more: read the
 * log again and listen anew.
 */
export function listen({ token, after, onNotification, onState }) {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql/ws`;
  let stopped = false;
  // A gateway that vanishes without closing (its machine gone, a network cut) sends no
  // close: the page pings every 10 s and gives the socket up when no pong comes within
  // 5 s, so it reconnects (to another instance) within 15 s, not after TCP's minutes.
  let socket = null;
  let pongDue = null;
  const client = createClient({
    url,
    connectionParams: () => ({ authorization: `Bearer ${token}` }),
    retryAttempts: Infinity,
    // Every close is retried (1001 on a gateway restart above all) except a rejected token.
    shouldRetry: (event) => event?.code !== 4403,
    retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, retryDelayMs(retries))),
    keepAlive: 10_000,
    on: {
      connecting: () => !stopped && onState('connecting'),
      connected: (opened) => {
        socket = opened;
        if (!stopped) onState('live');
      },
      closed: (event) => {
        clearTimeout(pongDue);
        if (!stopped) onState('offline', event?.code);
      },
      ping: (received) => {
        if (received) return; // the gateway's own ping, answered by the client
        clearTimeout(pongDue);
        pongDue = setTimeout(() => {
          if (socket?.readyState === WebSocket.OPEN) client.terminate();
        }, 5_000);
      },
      pong: (received) => {
        if (received) clearTimeout(pongDue);
      },
    },
  });
  let cursor = after;
  const payload = { query: MY_NOTIFICATIONS, variables: { after: cursor } };
  let unsubscribe = () => {};
  // Each subscription's sink acts only while it is the current one: restart() ends the
  // previous one, whose completion must not start another.
  let generation = 0;
  let failures = 0;
  const subscribe = () => {
    const mine = ++generation;
    const current = () => !stopped && mine === generation;
    payload.variables.after = cursor;
    // Tried again later, from the cursor, with the same back-off as a lost connection.
    const again = () => {
      if (!current()) return;
      setTimeout(() => current() && subscribe(), retryDelayMs(failures++));
    };
    unsubscribe = client.subscribe(payload, {
      next({ data, errors }) {
        if (errors?.length || !data) return;
        failures = 0;
        const notification = data.myNotifications;
        if (BigInt(notification.id) <= BigInt(cursor)) return;
        cursor = notification.id;
        payload.variables.after = cursor;
        onNotification(notification);
      },
      error(error) {
        if (!current()) return;
        const codes = Array.isArray(error) ? error.map((e) => e.extensions?.code) : [];
        if (codes.includes('UNAUTHENTICATED') || error?.code === 4403) {
          onState('signed-out');
          return;
        }
        if (codes.includes('CURSOR_TOO_OLD')) {
          onState('too-old');
          return;
        }
        // GraphQL errors end only this subscription (the socket stays up); anything else
        // is the connection giving up.
        if (!Array.isArray(error)) onState('offline', error?.code);
        again();
      },
      // The gateway ended the stream without closing the socket: subscribe again.
      complete() {
        again();
      },
    });
  };
  subscribe();
  return {
    /** Subscribes again from the cursor (after a registration, say). */
    restart() {
      unsubscribe();
      subscribe();
    },
    stop() {
      stopped = true;
      clearTimeout(pongDue);
      // A sign-out closes the session's sockets from the gateway's side too: ending the
      // subscription on a socket already closing would send on it.
      if (socket?.readyState === WebSocket.OPEN) unsubscribe();
      client.dispose();
    },
  };
}
