/**
 * Composer and outbox: how a message leaves the page, never lost and never stored twice.
 *
 *   Composer.attach(form, {
 *     outboxKey: "supportdesk:...:outbox",   // localStorage prefix, shared by one person's tabs
 *     log: () => element,                    // where this form's optimistic copies go
 *     headers: async () => ({}),             // e.g. the visitor token (may create a session first)
 *     socket: () => conn,                    // the page's Realtime connection, if it has one
 *     socketFrame: (entry) => ({}),          // what a `send` frame for entry adds (its
 *                                            // conversation), or null: over HTTP only
 *     onStored({ conversation, seq }) {},    // stored (or stored before), before its HTML is applied
 *     onUnauthorized: async () => {},        // 401 or a login redirect: get new credentials;
 *                                            // the entry stays queued and is sent again
 *     uploads: { url, discardUrl, dropZone }, // files (uploads.js), if the form has a paperclip
 *   }) -> { flush(), restore() }
 *
 * An entry may carry files: the keys of finished uploads (`attachments`), kept in the outbox
 * like its text, so a reload sends them too.
 *
 * 1. Send (or Enter; Shift+Enter is a new line) writes {client_id, body, url} to the outbox in
 *    localStorage at once, one key per entry, and shows the text in a "Sending…" bubble.
 * 2. While the page's socket is open, an entry goes over it as a `send` frame and the answer
 *    (`ack` or `refused`) comes back on it: no request of its own, no connection to open.
 *    Without an open socket, or with no answer within SOCKET_ANSWER_MS, the same entry goes as
 *    a POST to its url (same client_id: stored once, whichever way it arrived first).
 *    One tab sends for all: the holder of the Web Lock "<outboxKey>:sender" (the first tab open;
 *    the next takes over when it closes). It sends the outbox oldest first, one message at a
 *    time, and an entry leaves the outbox only when the server has answered for it. The other
 *    tabs only add entries and show them; states ("Not sent — Retry") reach every tab over a
 *    BroadcastChannel. (localStorage is not synchronously consistent across tabs, so a lock
 *    around reads would not stop two tabs from sending the same entry; a single sender does.)
 * 3. The server stores each client_id once; the stored copy (from the POST's answer or from the
 *    socket, whichever comes first) replaces the bubble in place (Realtime.apply).
 * 4. Offline, entries wait ("Waiting for network…") and go, in order, when the browser is back
 *    online or the socket reconnects; they survive a reload. After repeated failures while
 *    online the bubble says "Not sent — Retry"; Retry (or the next reconnect) sends it again with
 *    the same client_id. A refusal that a retry cannot fix (too long, chat ended) is shown on the
 *    bubble and the entry is dropped. A rate limit (429) or a desk that cannot store it now
 *    (503 with Retry-After: busy, or its database unreachable) is waited out as its Retry-After
 *    says, longer each time (at most SLOW_DOWN_MAX_MS between tries).
 * 5. Whatever holds the oldest entry up is said on every queued bubble behind it too: "Sending
 *    delayed — retrying…" while the desk asks to wait or an answer takes over DELAYED_AFTER_MS,
 *    "Not sent — Retry" once given up on. (Later bubbles never claim "Sending…" while nothing
 *    is being sent.)
 */
(function () {
  "use strict";

  const ATTEMPTS = 3;
  const RETRY_DELAYS_MS = [600, 1500];
  const MAX_SLOW_DOWNS = 30; // 429/503 answers waited out per entry before it shows "Not sent"
  const SLOW_DOWN_MAX_MS = 10000; // the longest wait between tries (a 75 s outage: ~10 tries)
  const DELAYED_AFTER_MS = 3000; // no answer yet: the bubble says the send is delayed
  const STATE_EVENT = "outbox:state";
  const SOCKET_ANSWER_MS = 8000; // then the same entry goes over HTTP
  const SOCKET_FRAME_BYTES = 16384; // a larger frame goes over HTTP (chat.consumers accepts this)

  /** "Not now, try again in Retry-After seconds": a rate limit (429), or a desk too busy to
   * take the request (503 with Retry-After, supportdesk/handler.py); nothing was stored. */
  function slowDown(response) {
    if (!response) return false;
    return response.status === 429 || (response.status === 503 && response.headers.has("Retry-After"));
  }

  function uuid4() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    // randomUUID needs a secure context; getRandomValues does not (plain-http intranets).
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  /** The entries, one localStorage key each (`<key>:<client_id>`): adding and removing are
   *  single writes, so tabs never undo each other's changes. Memory only if storage is blocked. */
  function Store(key) {
    const memory = new Map();
    const prefix = `${key}:`;
    // The order entries were written in: a number that only grows, shared by the person's tabs
    // through localStorage (not the clock, which a time sync may turn back while messages wait).
    const orderKey = `${key}.order`;
    let counter = 0;
    const storage = () => {
      try {
        return window.localStorage;
      } catch (_) {
        return null;
      }
    };
    let lastOrder = 0;
    /** One more than any order written so far, in this tab, in another, or queued. */
    function nextOrder(entries) {
      let last = lastOrder;
      try {
        last = Math.max(last, Number(storage().getItem(orderKey)) || 0);
      } catch (_) { /* storage blocked: this tab's own count */ }
      for (const entry of entries) last = Math.max(last, entry.order || 0);
      lastOrder = last + 1;
      try {
        storage().setItem(orderKey, String(lastOrder));
      } catch (_) { /* storage blocked or full */ }
      return lastOrder;
    }
    return {
      prefix,
      all() {
        const store = storage();
        if (!store) return [...memory.values()];
        const entries = [];
        for (let i = 0; i < store.length; i += 1) {
          const name = store.key(i);
          if (!name || !name.startsWith(prefix)) continue;
          try {
            entries.push(JSON.parse(store.getItem(name)));
          } catch (_) { /* a damaged entry: skip it */ }
        }
        return entries.filter(Boolean).sort(byOrder);
      },
      add(entry) {
        entry.n = counter++;
        entry.order = nextOrder(this.all());
        memory.set(entry.client_id, entry);
        try {
          storage().setItem(prefix + entry.client_id, JSON.stringify(entry));
        } catch (_) { /* storage blocked or full: memory only */ }
      },
      remove(clientId) {
        memory.delete(clientId);
        try {
          storage().removeItem(prefix + clientId);
        } catch (_) { /* storage blocked */ }
      },
    };
  }

  /** Oldest first: by `order` (see Store); entries written before it existed, by time. */
  function byOrder(a, b) {
    return (a.order || 0) - (b.order || 0) || a.at - b.at || a.n - b.n;
  }

  const senders = new Map();

  /** The page's sender for one outbox (one per key, however many forms use it). */
  function sender(key, hooks) {
    if (senders.has(key)) return senders.get(key);
    const store = Store(key);
    const channel = "BroadcastChannel" in window ? new BroadcastChannel(`${key}:channel`) : null;
    const failed = new Set(); // given up on until Retry, a reconnect, or coming back online
    const locks = navigator.locks && navigator.locks.request ? navigator.locks : null;
    let leader = !locks; // without Web Locks every tab sends (client_id still stores it once)
    let flushing = false;
    let again = false;

    function announce(clientId, state, message) {
      const detail = { clientId, state, message };
      document.dispatchEvent(new CustomEvent(STATE_EVENT, { detail }));
      if (channel) channel.postMessage({ type: "state", ...detail });
    }

    /** The oldest entry's state, said of every queued entry: they wait on the same thing. */
    function announceQueue(state) {
      for (const queued of store.all()) announce(queued.client_id, state);
    }

    /** The entry as a `send` frame, if it may go over the page's open socket. */
    function socketFrame(entry) {
      let conn = null;
      try {
        conn = hooks.socket ? hooks.socket() : null;
      } catch (_) { /* the page has not made its connection yet */ }
      const extra = conn && hooks.socketFrame && hooks.socketFrame(entry);
      if (!extra) return null;
      const frame = { type: "send", client_id: entry.client_id, body: entry.body, ...extra };
      if (entry.attachments && entry.attachments.length) frame.attachments = entry.attachments;
      // At most 3 bytes of UTF-8 per UTF-16 unit: an upper bound without encoding it.
      return JSON.stringify(frame).length * 3 <= SOCKET_FRAME_BYTES ? { conn, frame } : null;
    }

    /** The server's answer to the entry, sent over the socket: a Response-like view of an
     *  `ack` or `refused` frame, or null if none came (not open, closed, too slow). */
    async function overSocket(entry) {
      const via = socketFrame(entry);
      if (!via) return null;
      let answer;
      try {
        answer = await via.conn.request(via.frame, SOCKET_ANSWER_MS);
      } catch (_) {
        return null;
      }
      const stored = answer.type === "ack";
      return {
        ok: stored,
        status: stored ? (answer.created ? 201 : 200) : answer.status,
        retryAfter: answer.retry_after,
        message: answer.message,
        stored: stored ? { conversation: String(answer.conversation), seq: answer.seq } : null,
        html: async () => answer.html || "",
      };
    }

    /** The POST's answer in the same shape, or null if the network failed. */
    async function overHttp(entry) {
      let response;
      try {
        response = await fetch(entry.url, {
          method: "POST",
          headers: { ...(await hooks.headers()), "Content-Type": "application/x-www-form-urlencoded" },
          body: formBody(entry),
          credentials: "same-origin",
        });
      } catch (_) {
        return null;
      }
      // fetch follows a login redirect to a 200 page: that is "signed out", not "stored".
      // 403: a CSRF token rotated by a login in another tab. Keep the entry, get credentials.
      const signedOut = response.status === 401 || response.status === 403 || response.redirected;
      const stored = response.ok && !signedOut;
      let message = null;
      if (!stored && response.status < 500) {
        try {
          message = (await response.json()).message;
        } catch (_) { /* not JSON */ }
      }
      return {
        ok: stored,
        status: signedOut ? 401 : response.status,
        retryAfter: slowDown(response) ? Number(response.headers.get("Retry-After")) || 1 : undefined,
        message,
        stored: stored
          ? { conversation: response.headers.get("X-Conversation-Id"), seq: response.headers.get("X-Seq") }
          : null,
        html: () => response.text(),
      };
    }

    /** Send one entry: "sent" | "refused" | "offline" | "failed". */
    async function deliver(entry) {
      let slowDowns = 0;
      let socketFirst = true; // once the socket gave no answer (or said "signed out"): HTTP
      for (let attempt = 1; attempt <= ATTEMPTS; attempt += 1) {
        // The browser says it is offline: wait for "online" (a socket may look open meanwhile).
        if (navigator.onLine === false) return "offline";
        const slow = setTimeout(() => announceQueue("delayed"), DELAYED_AFTER_MS);
        let answer;
        try {
          answer = socketFirst ? await overSocket(entry) : null;
          if (!answer) {
            socketFirst = false;
            answer = await overHttp(entry);
          }
        } finally {
          clearTimeout(slow);
        }
        if (!answer && navigator.onLine === false) return "offline";
        if (answer && answer.ok) {
          try {
            if (hooks.onStored) hooks.onStored(answer.stored);
            window.Realtime.apply(await answer.html());
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
          const message = answer.message
            ? `${window.Realtime.t("Not sent:")} ${answer.message}`
            : window.Realtime.t("Not sent");
          announce(entry.client_id, "refused", message);
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
            if (result === "sent" || result === "refused") {
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

    const api = { store, flush, retry };
    senders.set(key, api);
    return api;
  }

  /** An entry as the send view reads it: body, client_id, and each file key as `attachments`. */
  function formBody(entry) {
    const body = new URLSearchParams({ body: entry.body, client_id: entry.client_id });
    for (const key of entry.attachments || []) body.append("attachments", key);
    return body;
  }

  function attach(form, options) {
    const input = form.querySelector("textarea");
    const uploads =
      options.uploads && window.Uploads && form.querySelector(".composer__attach")
        ? window.Uploads.attach(form, { headers: options.headers, ...options.uploads })
        : null;
    const errorBox = form.querySelector(".composer__error");
    const outbox = sender(options.outboxKey, options);

    function showError(text) {
      if (!errorBox) return;
      errorBox.textContent = text || "";
      errorBox.hidden = !text;
    }

    function grow() {
      input.style.height = "auto";
      input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
    }

    function bubbleFor(clientId) {
      return document.querySelector(`[data-client-id="${CSS.escape(clientId)}"]`);
    }

    /** The optimistic copy, unless the stored message (or a copy) is already on the page. */
    function showPending(entry) {
      // A form whose pane was replaced shows nothing: the log on screen is another chat's.
      if (!form.isConnected || entry.url !== form.action || bubbleFor(entry.client_id)) return;
      const log = options.log();
      if (!log) return;
      const li = document.createElement("li");
      li.className = "msg msg--mine msg--pending";
      li.dataset.pending = "";
      li.dataset.clientId = entry.client_id;
      li.dataset.sort = "Infinity"; // after every stored message until it is stored itself
      const content = document.createElement("div");
      content.className = "msg__content";
      const bubble = document.createElement("p");
      bubble.className = "msg__bubble";
      bubble.textContent = entry.body; // never parsed as HTML
      bubble.hidden = !entry.body;
      const meta = document.createElement("span");
      meta.className = "msg__meta";
      const state = document.createElement("span");
      state.className = "msg__state";
      state.setAttribute("role", "status");
      meta.append(state);
      content.append(bubble);
      if (entry.files && entry.files.length) {
        const list = document.createElement("ul");
        list.className = "msg__files";
        for (const file of entry.files) {
          const item = document.createElement("li");
          item.className = "file";
          const name = document.createElement("span");
          name.className = "file__name";
          name.textContent = `📎 ${file.name}`;
          item.append(name);
          list.append(item);
        }
        content.append(list);
      }
      content.append(meta);
      li.append(content);
      log.append(li);
      log.scrollTop = log.scrollHeight;
      // Queued behind a held-up bubble: held up by the same thing.
      const ahead = log.querySelector('li[data-pending][data-state="failed"], li[data-pending][data-state="delayed"]');
      const held = ahead ? ahead.dataset.state : "sending";
      setState(entry.client_id, navigator.onLine === false ? "offline" : held);
    }

    function setState(clientId, state, message) {
      const li = bubbleFor(clientId);
      if (!li || !li.hasAttribute("data-pending")) return;
      const label = li.querySelector(".msg__state");
      li.classList.toggle("msg--failed", state === "failed" || state === "refused");
      li.dataset.state = state;
      label.textContent = {
        sending: window.Realtime.t("Sending…"),
        delayed: window.Realtime.t("Sending delayed — retrying…"),
        offline: window.Realtime.t("Waiting for network…"),
        failed: window.Realtime.t("Not sent — "),
        refused: message || window.Realtime.t("Not sent"),
      }[state];
      if (state === "refused" && form.isConnected) showError(message);
      if (state === "failed") {
        const retry = document.createElement("button");
        retry.type = "button";
        retry.className = "link-button";
        retry.textContent = window.Realtime.t("Retry");
        retry.addEventListener("click", () => {
          setState(clientId, "sending");
          outbox.retry();
        });
        label.append(retry);
      }
    }

    function submit() {
      const text = input.value.trim();
      if (uploads && uploads.busy()) {
        showError(window.Realtime.t("Wait until the files have uploaded."));
        return;
      }
      const files = uploads ? uploads.done() : [];
      if (!text && !files.length) return;
      showError("");
      const entry = { client_id: uuid4(), body: text, url: form.action, at: Date.now() };
      if (files.length) {
        entry.attachments = files.map((file) => file.key);
        entry.files = files; // what the optimistic copy shows
      }
      outbox.store.add(entry);
      if (uploads) uploads.clearDone();
      // Sent first (over an open socket the frame leaves in this very call), then shown: the
      // bubble and the emptied box make the browser lay the page out, which need not wait.
      outbox.flush();
      showPending(entry);
      input.value = "";
      grow();
    }

    /** Show what waits in the outbox for this form (after a reload, or queued in another tab). */
    function restore() {
      for (const entry of outbox.store.all()) showPending(entry);
    }

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submit();
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        submit();
      }
    });
    input.addEventListener("input", grow);
    document.addEventListener(STATE_EVENT, ({ detail }) => setState(detail.clientId, detail.state, detail.message));
    window.addEventListener("storage", (event) => {
      if (event.key && event.key.startsWith(outbox.store.prefix) && event.newValue) restore();
    });

    restore();
    outbox.flush();
    return { flush: outbox.retry, restore };
  }

  window.Composer = { attach, uuid4 };
})();
