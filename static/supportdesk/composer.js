/**
 * The composer: a form whose messages go through the outbox (composer/outbox.js: never lost,
 * never stored twice), shown at once as "Sending…" bubbles.
 *
 *   attach(form, {
 *     outboxKey: "supportdesk:...:outbox",   // localStorage prefix, shared by one person's tabs
 *     log: () => element,                    // where this form's optimistic copies go
 *     headers: async () => ({}),             // e.g. the visitor token (may create a session first)
 *     socket: () => conn,                    // the page's socket (realtime/socket.js), if any
 *     socketFrame: (entry) => ({}),          // what a `send` frame for entry adds (its
 *                                            // conversation), or null: over HTTP only
 *     onStored({ conversation, seq }) {},    // stored (or stored before), before its HTML is applied
 *     onUnauthorized: async () => {},        // 401 or a login redirect: get new credentials;
 *                                            // the entry stays queued and is sent again
 *     uploads: { url, discardUrl, dropZone }, // files (uploads.js), if the form has a paperclip
 *   }) -> { flush(), restore() }
 *
 * Send (or Enter; Shift+Enter is a new line) queues {client_id, body, url} and the keys of the
 * finished uploads (`attachments`, kept in the outbox like the text, so a reload sends them too).
 * The bubble says what holds its entry up ("Waiting for network…", "Sending delayed —
 * retrying…", "Not sent — Retry", or the server's refusal), in every tab of the person's.
 */

import { t } from "./text.js";
import { uuid4 } from "./composer/entries.js";
import { STATE_EVENT, sender } from "./composer/outbox.js";
import { attach as attachUploads } from "./uploads.js";

export function attach(form, options) {
  const input = form.querySelector("textarea");
  const uploads =
    options.uploads && form.querySelector(".composer__attach")
      ? attachUploads(form, { headers: options.headers, ...options.uploads })
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
      sending: t("Sending…"),
      delayed: t("Sending delayed — retrying…"),
      offline: t("Waiting for network…"),
      failed: t("Not sent — "),
      refused: message || t("Not sent"),
    }[state];
    if (state === "refused" && form.isConnected) showError(message);
    if (state === "failed") {
      const retry = document.createElement("button");
      retry.type = "button";
      retry.className = "link-button";
      retry.textContent = t("Retry");
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
      showError(t("Wait until the files have uploaded."));
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
