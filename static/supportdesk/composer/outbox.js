/**
 * The outbox: how a message leaves the page, never lost and never stored twice.
 *
 * 1. Send writes {client_id, body, url} to the outbox in localStorage at once (entries.js), and
 *    the composer shows the text in a "Sending…" bubble.
 * 2. While the page's socket is open, an entry goes over it as a `send` frame and the answer
 *    (`ack` or `refused`) comes back on it: no request of its own, no connection to open.
 *    Without an open socket, or with no answer in time, the same entry goes as a POST to its url
 *    (same client_id: stored once, whichever way it arrived first; transport.js).
 *    One tab sends for all: the holder of the Web Lock "<outboxKey>:sender" (the first tab open;
 *    the next takes over when it closes). It sends the outbox oldest first, one message at a
 *    time, and an entry leaves the outbox only when the server has answered for it. The other
 *    tabs only add entries and show them; states ("Not sent — Retry") reach every tab over a
 *    BroadcastChannel. (localStorage is not synchronously consistent across tabs, so a lock
 *    around reads would not stop two tabs from sending the same entry; a single sender does.)
 * 3. The server stores each client_id once; the stored copy (from the POST's answer or from the
 *    socket, whichever comes first) replaces the bubble in place (apply).
 * 4. Offline, entries wait ("Waiting for network…") and go, in order, when the browser is back
 *    online or the socket reconnects; they survive a reload. After repeated failures while
 *    online the bubble says "Not sent — Retry"; Retry (or the next reconnect) sends it again with
 *    the same client_id. A refusal (too long, chat ended: a 4xx other than 401 and 429) leaves
 *    the queue, so it holds up nothing behind it, but not the page: the entry moves to the held
 *    store (`<key>.held`, localStorage too), and its bubble stays where it was written, saying
 *    why, with Retry (the same entry, same client_id, back in the queue: resend), Edit (its text
 *    back in the box) and Remove (drop); see composer.js. A rate limit (429) or a desk that
 *    cannot store it now (503 with Retry-After: busy, or its database unreachable) is waited out
 *    as its Retry-After says, longer each time (at most SLOW_DOWN_MAX_MS between tries).
 * 5. Whatever holds the oldest entry up is said on every queued bubble behind it too: "Sending
 *    delayed — retrying…" while the desk asks to wait or an answer takes over DELAYED_AFTER_MS,
 *    "Not sent — Retry" once given up on. (Later bubbles never claim "Sending…" while nothing
 *    is being sent.)
 *
 * Each entry's state goes out as a STATE_EVENT on the document: {clientId, state, message, code}
 * (message and code: the server's refusal, for "refused").
 */

import { apply } from "../realtime/apply.js";
import { entryStore } from "./entries.js";
import { overHttp, overSocket } from "./transport.js";

const ATTEMPTS = 3;
const RETRY_DELAYS_MS = [600, 1500];
const MAX_SLOW_DOWNS = 30; // 429/503 answers waited out per entry before it shows "Not sent"
const SLOW_DOWN_MAX_MS = 10000; // the longest wait between tries (a 75 s outage: ~10 tries)
const DELAYED_AFTER_MS = 3000; // no answer yet: the bubble says the send is delayed
export const STATE_EVENT = "outbox:state";

const senders = new Map();

/** The page's sender for one outbox (one per key, however many forms use it): {store, held,
 *  flush, retry, resend, drop}. `hooks`: the composer's options (socket, socketFrame, headers,
 *  onStored, onUnauthorized). */
export function sender(key, hooks) {
  if (senders.has(key)) return senders.get(key);
  const store = entryStore(key);
  const held = entryStore(`${key}.held`); // refused by the server: kept, out of the queue
  const channel = "BroadcastChannel" in window ? new BroadcastChannel(`${key}:channel`) : null;
  const failed = new Set(); // given up on until Retry, a reconnect, or coming back online
  const locks = navigator.locks && navigator.locks.request ? navigator.locks : null;
  let leader = !locks; // without Web Locks every tab sends (client_id still stores it once)
  let flushing = false;
  let again = false;

  function announce(clientId, state, message, code) {
    const detail = { clientId, state, message, code };
    document.dispatchEvent(new CustomEvent(STATE_EVENT, { detail }));
    if (channel) channel.postMessage({ type: "state", ...detail });
  }

  /** The oldest entry's state, said of every queued entry: they wait on the same thing. */
  function announceQueue(state) {
    for (const queued of store.all()) announce(queued.client_id, state);
  }

  /** Send one entry: "sent" | "refused" (then entry.refusal: {status, code, message}) |
   *  "offline" | "failed". */
  async function deliver(entry) {
    let slowDowns = 0;
    let socketFirst = true; // once the socket gave no answer (or said "signed out"): HTTP
    for (let attempt = 1; attempt <= ATTEMPTS; attempt += 1) {
      // The browser says it is offline: wait for "online" (a socket may look open meanwhile).
      if (navigator.onLine === false) return "offline";
      const slow = setTimeout(() => announceQueue("delayed"), DELAYED_AFTER_MS);
      let answer;
      try {
        answer = socketFirst ? await overSocket(entry, hooks) : null;
        if (!answer) {
          socketFirst = false;
          answer = await overHttp(entry, hooks);
        }
      } finally {
        clearTimeout(slow);
      }
      if (!answer && navigator.onLine === false) return "offline";
      if (answer && answer.ok) {
        try {
          if (hooks.onStored) hooks.onStored(answer.stored);
          apply(await answer.html());
        } catch (_) {
          // Stored all the same: the socket brings the stored copy.
        }
        return "sent";
      }
      if (answer && answer.retryAfter !== undefined && slowDowns < MAX_SLOW_DOWNS) {
        // A rate limit, a busy desk or an unreachable database refused it before storing
        // anything: wait as told (longer each time, up to SLOW_DOWN_MAX_MS, unless told more),
        // then the same entry again (same client_id). Waiting does not use up an attempt.
        slowDowns += 1;
        announceQueue("delayed");
        const told = Math.min(60, Math.max(1, answer.retryAfter)) * 1000;
        const backoff = Math.min(SLOW_DOWN_MAX_MS, 1000 * 2 ** (slowDowns - 1));
        await new Promise((r) => setTimeout(r, Math.max(told, backoff)));
        attempt -= 1;
        continue;
      }
      if (answer && answer.status === 401) {
        socketFirst = false; // the socket's credentials went with the page's
        if (!hooks.onUnauthorized) return "failed";
        await hooks.onUnauthorized(); // new credentials; the entry stays queued meanwhile
      } else if (answer && answer.status < 500 && answer.status !== 429) {
        const { status, code, message } = answer;
        entry.refusal = { status, code: code || "", message: message || "" };
        return "refused";
      }
      if (attempt < ATTEMPTS) {
        announceQueue("delayed"); // no answer, or a server error: tried again in a moment
        await new Promise((r) => setTimeout(r, RETRY_DELAYS_MS[attempt - 1]));
      }
    }
    return "failed";
  }

  /** Send the outbox oldest first; stop at the first entry that cannot go now (order). */
  async function flush() {
    if (!leader) {
      if (channel) channel.postMessage({ type: "flush" });
      return;
    }
    if (flushing) {
      again = true;
      return;
    }
    flushing = true;
    try {
      do {
        again = false;
        for (;;) {
          const entry = store.all()[0];
          if (!entry) break;
          if (failed.has(entry.client_id)) {
            announceQueue("failed"); // a tab or pane that just showed one learns it
            break;
          }
          announce(entry.client_id, "sending");
          const result = await deliver(entry);
          if (result === "refused") {
            // Kept first, then out of the queue: never in neither store.
            held.put(entry);
            store.remove(entry.client_id);
            const { message, code } = entry.refusal;
            announce(entry.client_id, "refused", message, code);
            continue;
          }
          if (result === "sent") {
            store.remove(entry.client_id);
            continue;
          }
          announceQueue(result); // "offline" or "failed": the queue behind it waits too
          if (result === "failed") failed.add(entry.client_id);
          break;
        }
      } while (again);
    } finally {
      flushing = false;
    }
  }

  function retry() {
    if (!leader) {
      if (channel) channel.postMessage({ type: "retry" });
      return;
    }
    failed.clear();
    flush();
  }

  /** A refused entry sent again, as it is (same client_id: stored once however often it goes),
   *  from the back of the queue. Any tab may: the sender reads the queue from localStorage. */
  function resend(clientId) {
    const entry = held.get(clientId);
    if (!entry) return;
    delete entry.refusal;
    store.add(entry); // queued first, then no longer held: never in neither store
    held.remove(clientId);
    announce(clientId, "sending");
    flush();
  }

  /** A refused entry given up on (removed, or its text taken back into the box). */
  function drop(clientId) {
    held.remove(clientId);
  }

  if (channel) {
    channel.onmessage = ({ data }) => {
      if (data.type === "state") {
        document.dispatchEvent(new CustomEvent(STATE_EVENT, { detail: data }));
      } else if (data.type === "flush" && leader) {
        flush();
      } else if (data.type === "retry" && leader) {
        retry();
      }
    };
  }
  window.addEventListener("online", retry);
  window.addEventListener("storage", (event) => {
    // Another tab queued something; it is visible here now.
    if (leader && event.key && event.key.startsWith(store.prefix) && event.newValue) flush();
  });
  if (locks) {
    // Held until this tab goes away; then the next tab in line becomes the sender.
    locks
      .request(`${key}:sender`, () => {
        leader = true;
        flush();
        return new Promise(() => {});
      })
      .catch(() => {
        // Locks refused (storage blocked in a third-party frame): this tab sends its own.
        leader = true;
        flush();
      });
  }

  const api = { store, held, flush, retry, resend, drop };
  senders.set(key, api);
  return api;
}
