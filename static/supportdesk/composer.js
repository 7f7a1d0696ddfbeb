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
 *     onEdit(entry) {},                      // a refused entry's text is back in the box (the
 *                                            // dashboard switches to its reply/note mode)
 *     uploads: { url, discardUrl, dropZone }, // files (uploads.js), if the form has a paperclip
 *   }) -> { flush(), restore() }
 *
 * Send (or Enter; Shift+Enter is a new line) queues {client_id, body, url} and the keys of the
 * finished uploads (`attachments`, kept in the outbox like the text, so a reload sends them too).
 * The bubble says what holds its entry up ("Waiting for network…", "Sending delayed —
 * retrying…", "Not sent — Retry", or the server's refusal), in every tab of the person's.
 *
 * The form's data-max-length is the server's limit (SUPPORTDESK_MAX_MESSAGE_LENGTH, counted in
 * characters as Python counts them: code points of the trimmed text). Near it a counter shows
 * under the box (what is left, or how many too many); past it Send is aria-disabled, described
 * by the counter, and Enter says why instead of sending. The server is still the judge: a
 * message it refuses (too long, the chat ended...) keeps its place in the log, says why once,
 * in the bubble, and offers Retry (same client_id), Edit (its text back in the box) and Remove.
 */

import { t } from "./text.js";
import { uuid4 } from "./composer/entries.js";
import { actionButton, insertAt, keepPlace, pendingBubble } from "./composer/bubble.js";
import { fill, lengthGuard, messageLength, number } from "./composer/length.js";
import { STATE_EVENT, sender } from "./composer/outbox.js";
import { attach as attachUploads } from "./uploads.js";

export function attach(form, options) {
  const input = form.querySelector("textarea");
  const send = form.querySelector(".composer__send");
  const uploads =
    options.uploads && form.querySelector(".composer__attach")
      ? attachUploads(form, { headers: options.headers, ...options.uploads })
      : null;
  const errorBox = form.querySelector(".composer__error");
  const outbox = sender(options.outboxKey, options);
  const guard = lengthGuard(form, input, send);
  const pageLimit = Number(form.dataset.maxLength || 0); // what the server said when it rendered this

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

  /** Whether `entry` was written in this form: its reply or its note URL (the dashboard's
   *  form switches between them), or the form's own. */
  function belongsHere(entry) {
    const urls = [form.action, form.dataset.replyUrl, form.dataset.noteUrl]
      .filter(Boolean)
      .map((url) => new URL(url, location.href).href);
    return urls.includes(new URL(entry.url, location.href).href);
  }

  /** The optimistic copy, unless the stored message (or a copy) is already on the page.
   *  `sort`: where in the log (a refused one keeps the place it was written at); by default
   *  after every stored message until it is stored itself. */
  function showPending(entry, sort = Infinity) {
    // A form whose pane was replaced shows nothing: the log on screen is another chat's.
    if (!form.isConnected || !belongsHere(entry) || bubbleFor(entry.client_id)) return;
    const log = options.log();
    if (!log) return;
    const li = pendingBubble(entry, sort);
    insertAt(log, li);
    if (sort === Infinity) log.scrollTop = log.scrollHeight;
    return li;
  }

  /** The state a bubble just shown starts in: offline, or (queued behind a held-up bubble) held
   *  up by the same thing, or sending. */
  function startState(li) {
    if (navigator.onLine === false) return "offline";
    const ahead = li.parentElement.querySelector(
      'li[data-pending][data-state="failed"], li[data-pending][data-state="delayed"]'
    );
    return ahead && ahead !== li ? ahead.dataset.state : "sending";
  }

  /** The refusal in words a visitor understands (the server's own words where we have none). */
  function refusalText(entry, message, code) {
    if (code === "too_long") {
      const max = Number(form.dataset.maxLength || 0) || pageLimit;
      const length = messageLength(entry ? entry.body : "");
      return max && length
        ? fill(
            t("Not sent: this message is too long (%s characters; at most %s)."),
            number(length),
            number(max)
          )
        : t("Not sent: this message is too long.");
    }
    if (code === "conversation_ended") return t("Not sent: this chat has ended.");
    return message ? `${t("Not sent:")} ${message}` : t("Not sent");
  }

  function setState(clientId, state, message, code) {
    // The dashboard attaches a form per opened chat: only the one on screen answers.
    if (!form.isConnected) return;
    const li = bubbleFor(clientId);
    if (!li || !li.hasAttribute("data-pending")) return;
    const label = li.querySelector(".msg__state");
    li.classList.toggle("msg--failed", state === "failed" || state === "refused");
    li.dataset.state = state;
    if (state === "failed" || state === "refused") keepPlace(li);
    if (state === "refused") {
      const entry = outbox.held.get(clientId);
      if (entry && entry.after === undefined) {
        // Where it stays after a reload too.
        const log = li.parentElement;
        const conversation = (log && log.dataset.conversation) || "";
        outbox.held.put({ ...entry, after: Number(li.dataset.sort), conversation });
      }
      const refusal = (entry && entry.refusal) || {};
      label.textContent = `${refusalText(entry, message ?? refusal.message, code ?? refusal.code)} `;
      const actions = document.createElement("span");
      actions.className = "msg__actions";
      actions.append(
        actionButton(t("Retry"), () => {
          outbox.resend(clientId);
          input.focus();
        })
      );
      if (entry && !(entry.attachments && entry.attachments.length)) {
        // Files are not put back in the tray: a message with files is retried or removed.
        actions.append(actionButton(t("Edit"), () => edit(clientId)));
      }
      actions.append(
        actionButton(t("Remove"), () => {
          outbox.drop(clientId);
          li.remove();
          input.focus();
        })
      );
      label.append(actions);
      return;
    }
    label.textContent = {
      sending: t("Sending…"),
      delayed: t("Sending delayed — retrying…"),
      offline: t("Waiting for network…"),
      failed: t("Not sent — "),
    }[state];
    if (state === "failed") {
      label.append(
        actionButton(t("Retry"), () => {
          setState(clientId, "sending");
          outbox.retry();
        })
      );
    }
  }

  /** A refused message's text back in the box (after what is there already), to change and send
   *  as a new message. */
  function edit(clientId) {
    const entry = outbox.held.get(clientId);
    const li = bubbleFor(clientId);
    if (!entry) return;
    if (options.onEdit) options.onEdit(entry);
    const draft = input.value.trim();
    input.value = draft ? `${draft}\n\n${entry.body}` : entry.body;
    outbox.drop(clientId);
    if (li) li.remove();
    grow();
    guard.update();
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }

  function submit() {
    const text = input.value.trim();
    if (uploads && uploads.busy()) {
      showError(t("Wait until the files have uploaded."));
      return;
    }
    if (!guard.update()) {
      guard.refuse(); // the counter says why; a screen reader hears it now
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
    const li = showPending(entry);
    if (li) setState(entry.client_id, startState(li));
    input.value = "";
    grow();
    guard.update();
  }

  /** Show what waits in the outbox for this form (after a reload, or queued in another tab),
   *  and what the server refused, where it was written. */
  function restore() {
    for (const entry of outbox.store.all()) {
      const li = showPending(entry);
      if (li) setState(entry.client_id, startState(li));
    }
    const log = options.log();
    for (const entry of outbox.held.all()) {
      // In the chat it was written in, where it was; a newer chat shows it at its end.
      const here =
        log && entry.after !== undefined && (entry.conversation || "") === (log.dataset.conversation || "");
      if (showPending(entry, here ? entry.after : Infinity)) setState(entry.client_id, "refused");
    }
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
  input.addEventListener("input", () => {
    grow();
    guard.update();
  });
  document.addEventListener(STATE_EVENT, ({ detail }) =>
    setState(detail.clientId, detail.state, detail.message, detail.code)
  );
  window.addEventListener("storage", (event) => {
    if (!form.isConnected || !event.key) return;
    if (event.key.startsWith(outbox.store.prefix) && event.newValue) restore();
    if (event.key.startsWith(outbox.held.prefix)) {
      const clientId = event.key.slice(outbox.held.prefix.length);
      if (event.newValue) restore();
      else if (!outbox.store.get(clientId)) {
        // Edited or removed in another tab (not sent again: then it is queued).
        const li = bubbleFor(clientId);
        if (li && li.dataset.state === "refused") li.remove();
      }
    }
  });

  guard.update();
  restore();
  outbox.flush();
  return { flush: outbox.retry, restore };
}
