/**
 * The reply box of the open conversation: replies and internal notes share one outbox (the
 * composer), a switch between them, saved replies ("/"), the typing signal, and where the log
 * opens (at a search hit, or at its newest message).
 */

import { attach } from "../composer.js";
import { scrollToEnd, scrollToMessage } from "../realtime/log.js";
import { watchTyping } from "../realtime/typing.js";
import { agentKey, csrfToken, goToLogin } from "./agent.js";
import { attachCanned } from "./canned.js";
import { openId, openLog } from "./pane.js";

let composer = null;

/** Send what waits in the outbox (the socket is open again). */
export function flushReplies() {
  if (composer) composer.flush();
}

export function setMode(form, mode) {
  form.dataset.mode = mode;
  form.action = mode === "note" ? form.dataset.noteUrl : form.dataset.replyUrl;
  const input = form.querySelector("textarea");
  input.placeholder =
    mode === "note"
      ? "Write an internal note… only agents see it"
      : "Write a reply… (Enter sends, Shift+Enter for a new line, / for saved replies)";
  form.querySelector(`input[name=mode][value=${mode}]`).checked = true;
  form.querySelector(`label[for=${input.id}]`).textContent = mode === "note" ? "Internal note" : "Reply";
}

/** Wire up the open pane's reply box, once per pane; `socket()`: the page's connection. */
export function attachReplyBox(socket) {
  const form = document.querySelector("#pane .composer");
  if (!form || form.dataset.attached) return;
  form.dataset.attached = "1";
  // One outbox for all of this agent's replies and notes; each entry keeps its own URL.
  composer = attach(form, {
    // Per user: replies queued by one agent are never sent under another's login.
    outboxKey: `${agentKey}:outbox`,
    log: openLog,
    uploads: {
      url: () => form.dataset.uploadUrl,
      discardUrl: (key) => form.dataset.discardUrl.replace("FILEKEY", encodeURIComponent(key)),
      dropZone: form.closest("section") || form, // the conversation pane
    },
    headers: async () => ({ "X-CSRFToken": csrfToken() }),
    socket,
    // A reply names its conversation; a note goes over HTTP (its own URL).
    socketFrame(entry) {
      const reply = /\/conversations\/(\d+)\/messages$/.exec(new URL(entry.url, location.href).pathname);
      return reply ? { conversation: Number(reply[1]) } : null;
    },
    async onUnauthorized() {
      goToLogin(); // the queued reply stays in the outbox and goes after logging in again
    },
    onEdit(entry) {
      // A refused note comes back as a note, a reply as a reply.
      const url = (path) => new URL(path, location.href).href;
      setMode(form, url(form.dataset.noteUrl) === url(entry.url) ? "note" : "reply");
    },
  });
  for (const radio of form.querySelectorAll("input[name=mode]")) {
    radio.addEventListener("change", () => setMode(form, radio.value));
  }
  attachCanned(form);
  const input = form.querySelector("textarea");
  watchTyping(
    input,
    () => (form.dataset.mode === "note" ? null : openId()), // notes are not typing to anyone
    (frame) => socket().send(frame)
  );
  const log = openLog();
  // Opened from a search hit: that message, in the middle, marked; else the newest.
  const pane = document.getElementById("pane");
  const found = pane && pane.dataset.foundSeq
    ? document.getElementById(`msg-${pane.dataset.conversation}-${pane.dataset.foundSeq}`)
    : null;
  if (found) {
    found.classList.add("msg--found");
    found.setAttribute("aria-current", "true");
    found.tabIndex = -1;
    scrollToMessage(log, found);
    found.focus({ preventScroll: true }); // a screen reader starts there too
  } else {
    scrollToEnd(log);
  }
}
