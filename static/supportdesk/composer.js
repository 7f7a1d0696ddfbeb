/**
 * Composer and outbox: how a message leaves the page, never lost and never stored twice.
 *
 *   Composer.attach(form, {
 *     outboxKey: "supportdesk:...:outbox",   // localStorage key, shared by the tabs of one person
 *     log: () => element,                    // where the optimistic copies go
 *     headers: async () => ({}),             // e.g. the visitor token; may create a session first
 *     onStored(response) {},                 // after a 2xx, before its HTML is applied
 *     onUnauthorized: async () => {},        // 401: get new credentials, then it is sent again
 *   }) -> { flush() }
 *
 * 1. Pressing Send (or Enter; Shift+Enter is a new line) puts {client_id, body, url} in the
 *    outbox in localStorage at once, and shows the text in a "Sending…" bubble.
 * 2. flush() sends the outbox in order, one message at a time, under a Web Lock, so that with
 *    the page open in several tabs each message is sent by one tab only. An entry leaves the
 *    outbox only when the server has answered for it.
 * 3. The server stores each client_id once; the stored copy (from the POST's answer or from the
 *    socket, whichever comes first) replaces the bubble in place (Realtime.apply).
 * 4. Offline, entries wait ("Waiting for network…") and go, in order, when the browser is back
 *    online or the socket reconnects; they survive a reload. After repeated failures while
 *    online the bubble says "Not sent — Retry"; Retry (or the next reconnect) sends it again with
 *    the same client_id. A refusal that a retry cannot fix (too long, conversation ended) is
 *    shown on the bubble and the entry is dropped.
 */
(function () {
  "use strict";

  const ATTEMPTS = 3;
  const RETRY_DELAYS_MS = [600, 1500];

  function uuid4() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    // randomUUID needs a secure context; getRandomValues does not (plain-http intranets).
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  /**
   * The outbox in localStorage (in memory where storage is blocked): one key per entry,
   * `<key>:<client_id>`, so that adding and removing are single writes and tabs never undo each
   * other's changes (a shared list would be read-modify-write: a race that resurrects entries).
   */
  function Outbox(key) {
    const memory = new Map();
    const prefix = `${key}:`;
    let counter = 0;
    const storage = () => {
      try {
        return window.localStorage;
      } catch (_) {
        return null;
      }
    };
    return {
      key,
      prefix,
      all() {
        const store = storage();
        const entries = [];
        if (store) {
          for (let i = 0; i < store.length; i += 1) {
            const name = store.key(i);
            if (!name || !name.startsWith(prefix)) continue;
            try {
              entries.push(JSON.parse(store.getItem(name)));
            } catch (_) { /* a damaged entry: skip it */ }
          }
        } else {
          entries.push(...memory.values());
        }
        return entries.filter(Boolean).sort((a, b) => a.at - b.at || a.n - b.n);
      },
      add(entry) {
        entry.n = counter++;
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

  function withLock(name, task) {
    if (navigator.locks && navigator.locks.request) return navigator.locks.request(name, task);
    return task(); // no Web Locks: tabs may both send; client_id still stores it once
  }

  function attach(form, options) {
    const input = form.querySelector("textarea");
    const errorBox = form.querySelector(".composer__error");
    const outbox = Outbox(options.outboxKey);
    const failedHere = new Set(); // client_ids this tab gave up on until Retry or reconnect
    let flushing = false;
    let again = false;

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
      // A composer whose pane was replaced still sends its conversation's queue, but shows
      // nothing: its log is gone, and the log on screen belongs to another conversation.
      if (!form.isConnected || bubbleFor(entry.client_id)) return;
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
      const meta = document.createElement("span");
      meta.className = "msg__meta";
      const state = document.createElement("span");
      state.className = "msg__state";
      state.setAttribute("role", "status");
      meta.append(state);
      content.append(bubble, meta);
      li.append(content);
      log.append(li);
      log.scrollTop = log.scrollHeight;
      setState(entry.client_id, navigator.onLine === false ? "offline" : "sending");
    }

    function setState(clientId, state, message) {
      const li = bubbleFor(clientId);
      if (!li || !li.hasAttribute("data-pending")) return;
      const label = li.querySelector(".msg__state");
      li.classList.toggle("msg--failed", state === "failed" || state === "refused");
      li.dataset.state = state;
      label.textContent = {
        sending: "Sending…",
        offline: "Waiting for network…",
        failed: "Not sent — ",
        refused: message || "Not sent",
      }[state];
      if (state === "failed") {
        const retry = document.createElement("button");
        retry.type = "button";
        retry.className = "link-button";
        retry.textContent = "Retry";
        retry.addEventListener("click", () => {
          failedHere.delete(clientId);
          setState(clientId, "sending");
          flush();
        });
        label.append(retry);
      }
    }

    /** Send one entry. Returns "sent" | "refused" | "offline" | "failed". */
    async function deliver(entry) {
      const fields = new URLSearchParams(new FormData(form));
      fields.set("body", entry.body);
      fields.set("client_id", entry.client_id);
      for (let attempt = 1; attempt <= ATTEMPTS; attempt += 1) {
        let response = null;
        try {
          response = await fetch(entry.url, {
            method: "POST",
            headers: { ...(await options.headers()), "Content-Type": "application/x-www-form-urlencoded" },
            body: fields,
            credentials: "same-origin",
          });
        } catch (_) {
          if (navigator.onLine === false) return "offline";
        }
        if (response && response.ok) {
          options.onStored && options.onStored(response);
          window.Realtime.apply(await response.text());
          return "sent";
        }
        if (response && response.status === 401 && options.onUnauthorized) {
          await options.onUnauthorized();
        } else if (response && response.status < 500 && response.status !== 429) {
          let message = "Not sent";
          try {
            message = `Not sent: ${(await response.json()).message}`;
          } catch (_) { /* not JSON */ }
          setState(entry.client_id, "refused", message);
          showError(message);
          return "refused";
        }
        if (attempt < ATTEMPTS) await new Promise((r) => setTimeout(r, RETRY_DELAYS_MS[attempt - 1]));
      }
      return "failed";
    }

    /** Send the outbox, oldest first; stop at the first entry that cannot go now (order). */
    async function flush() {
      if (flushing) {
        again = true;
        return;
      }
      flushing = true;
      try {
        do {
          again = false;
          await withLock(`${outbox.key}:lock`, async () => {
            for (;;) {
              const entry = outbox.all().find((e) => e.url === form.action);
              if (!entry || failedHere.has(entry.client_id)) return;
              showPending(entry);
              setState(entry.client_id, "sending");
              const result = await deliver(entry);
              if (result === "sent" || result === "refused") {
                outbox.remove(entry.client_id);
                continue;
              }
              setState(entry.client_id, result);
              if (result === "failed") failedHere.add(entry.client_id);
              return;
            }
          });
        } while (again);
      } finally {
        flushing = false;
      }
    }

    function submit() {
      const text = input.value.trim();
      if (!text) return;
      showError("");
      const entry = { client_id: uuid4(), body: text, url: form.action, at: Date.now() };
      outbox.add(entry);
      showPending(entry);
      input.value = "";
      grow();
      flush();
    }

    /** Show what is waiting in the outbox (a reload, another tab), then try to send it. */
    function restore() {
      for (const entry of outbox.all()) if (entry.url === form.action) showPending(entry);
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
    window.addEventListener("online", () => {
      failedHere.clear();
      flush();
    });
    window.addEventListener("storage", (event) => {
      // Another tab queued something: show it here too.
      if (event.key && event.key.startsWith(outbox.prefix) && event.newValue) restore();
    });

    restore();
    flush();
    return {
      flush() {
        failedHere.clear(); // a reconnect is a new chance for what failed
        return flush();
      },
      restore,
    };
  }

  window.Composer = { attach, uuid4 };
})();
