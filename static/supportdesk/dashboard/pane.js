/**
 * The open conversation (htmx swaps #workspace): which it is, following it on the socket from
 * its last seq, reporting what the agent has seen of it as read (all their tabs clear the
 * badge), the "Show earlier messages" page that keeps the reader's place, and the visitor's
 * local time in the context panel.
 */

import { lastSeq, seenSeq } from "../realtime/log.js";

export function openLog() {
  return document.querySelector("#pane .log");
}

export function openId() {
  const log = openLog();
  return log ? Number(log.dataset.conversation) : null;
}

/** Ask the socket to follow the open conversation, from the last seq the log has. */
export function follow(conn) {
  const log = openLog();
  conn.send({
    type: "resume",
    conversation: log ? Number(log.dataset.conversation) : null,
    after: log ? lastSeq(log) : 0,
  });
}

/** The open conversation's row in the lists is marked as the current one. */
export function markOpenRow() {
  const id = openId();
  for (const link of document.querySelectorAll(".row__link[aria-current]")) link.removeAttribute("aria-current");
  if (id === null) return;
  const row = document.getElementById(`conv-row-${id}`);
  if (row) row.querySelector(".row__link").setAttribute("aria-current", "page");
}

// ---- Read state: what a visible pane shows is read -------------------------------------
let readSent = { conversation: null, seq: 0 };
let readFrame = 0;

/** A new socket knows nothing of what this page reported: report again. */
export function resetRead() {
  readSent = { conversation: null, seq: 0 };
}

export function reportRead(conn) {
  const log = openLog();
  if (!log) return;
  const conversation = Number(log.dataset.conversation);
  const seq = seenSeq(log); // what was on screen (a search hit opens mid-chat)
  if (!seq || (readSent.conversation === conversation && readSent.seq >= seq)) return;
  if (conn.send({ type: "read", conversation, seq })) readSent = { conversation, seq };
}

/** reportRead before the next paint, once for however many frames came: what is on screen is
 *  measured then, when the browser lays the page out anyway. */
export function reportReadSoon(conn) {
  cancelAnimationFrame(readFrame);
  readFrame = requestAnimationFrame(() => reportRead(conn));
}

// ---- "Show earlier messages" ----------------------------------------------------------------
/** The older page goes in above what the agent is reading, which stays where it is on screen
 *  (the log grows upwards; the reader scrolls up into the new part). */
export function keepPlaceOnEarlierMessages() {
  let fromBottom = null;
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    const log = event.target.closest && event.target.closest("ol.log");
    fromBottom = event.target.classList.contains("log__earlier") && log
      ? { log, offset: log.scrollHeight - log.scrollTop }
      : null;
  });
  // On the document, after realtime/page.js's own afterSettle work (it groups runs of messages
  // and labels days, which changes heights above the reader: the place is kept after that).
  document.addEventListener("htmx:afterSettle", () => {
    if (!fromBottom) return;
    fromBottom.log.scrollTop = fromBottom.log.scrollHeight - fromBottom.offset;
    fromBottom = null;
  });
}

// ---- Visitor's local time ----------------------------------------------------------------
const zoneClocks = new Map(); // time zone -> its formatter (made once: a formatter is costly)

export function tickLocalTimes() {
  for (const el of document.querySelectorAll("[data-local-time]")) {
    const zone = el.dataset.localTime;
    try {
      if (!zoneClocks.has(zone)) {
        zoneClocks.set(zone, new Intl.DateTimeFormat([], { timeZone: zone, hour: "2-digit", minute: "2-digit" }));
      }
      el.textContent = zoneClocks.get(zone).format(new Date());
    } catch (_) {
      el.textContent = "—"; // an unknown zone name
    }
  }
}

// ---- Triage in the pane: read-only for someone else's chat, labels, snooze -----------------

/** The pane's header (pushed live by the socket) says whose the chat is. Someone else's
 *  active chat (transferred away, or a colleague's) is read-only here: the reply box is
 *  disabled with the header's reason (internal notes stay possible), at once when a transfer
 *  away arrives. */
export function syncPane() {
  const pane = document.getElementById("pane");
  const header = pane && pane.querySelector(".pane__header");
  const form = pane && pane.querySelector(".composer");
  if (!header || !form) return;
  if (pane.dataset.renderedStatus === "ended" && header.dataset.status !== "ended") {
    // Reopened (here or by a colleague): the pane of an open chat has more in it (the transfer
    // form, labels, snooze); it is loaded again, once.
    pane.dataset.renderedStatus = header.dataset.status;
    const link = document.querySelector(`#conv-row-${pane.dataset.conversation} .row__link`);
    const url = link ? link.getAttribute("href") : `${location.pathname}`;
    window.htmx.ajax("GET", url, { target: "#workspace" });
    return;
  }
  const reason = header.querySelector("[data-readonly-reason]");
  const readOnly = Boolean(reason) && form.dataset.mode !== "note";
  const input = form.querySelector("textarea");
  const send = form.querySelector(".composer__send");
  const replyMode = form.querySelector("input[name=mode][value=reply]");
  let note = form.querySelector(".composer__readonly");
  if (!note) {
    note = document.createElement("p");
    note.className = "composer__readonly";
    note.id = `composer-readonly-${pane.dataset.conversation}`;
    note.hidden = true;
    form.prepend(note);
  }
  note.hidden = !reason;
  note.textContent = reason ? reason.textContent : "";
  // Not switched to notes by itself: a reply being typed must not go out as a note unawares.
  if (replyMode) replyMode.disabled = Boolean(reason) && form.dataset.mode === "note";
  input.disabled = readOnly;
  if (send) send.disabled = readOnly;
  form.dataset.readonly = readOnly ? "true" : "false";
  if (readOnly) input.setAttribute("aria-describedby", note.id);
  else input.removeAttribute("aria-describedby");
  // The label picker's boxes follow the header's labels (another agent may change them).
  const labels = header.dataset.labels || " ";
  for (const box of pane.querySelectorAll(".labels-picker input[data-label]")) {
    const on = labels.includes(` ${box.dataset.label} `);
    if (box.checked !== on && document.activeElement !== box) box.checked = on;
  }
  // A snoozed chat's menu has nothing left to offer.
  const menu = pane.querySelector(".snooze-menu");
  if (menu && header.hasAttribute("data-snoozed")) menu.hidden = true;
}

function togglePanel(button, open) {
  const panel = document.getElementById(button.getAttribute("aria-controls"));
  if (!panel) return;
  const show = open === undefined ? panel.hidden : open;
  panel.hidden = !show;
  button.setAttribute("aria-expanded", String(show));
  if (show) {
    const first = panel.querySelector("input, button");
    if (first) first.focus();
  }
}

/** The header's Labels and Snooze buttons open their panels below it; Escape closes them. */
export function installPaneTools() {
  document.addEventListener("click", (event) => {
    const button = event.target.closest("#pane [data-action=labels], #pane [data-action=snooze]");
    if (button) togglePanel(button);
    // A snooze chosen: the menu closes (the header, swapped in, shows the snooze).
    if (event.target.closest(".snooze-menu button")) {
      event.target.closest(".snooze-menu").hidden = true;
    }
  });
  document.addEventListener("keydown", (event) => {
    const panel = event.target.closest && event.target.closest(".labels-picker, .snooze-menu");
    if (panel && event.key === "Escape") {
      event.stopImmediatePropagation(); // not also the shortcuts' Escape
      panel.hidden = true;
      const opener = document.querySelector(`[aria-controls="${panel.id}"]`);
      if (opener) {
        opener.setAttribute("aria-expanded", "false");
        opener.focus();
      }
    }
  });
  document.addEventListener("change", (event) => {
    if (event.target.matches("#pane .composer input[name=mode]")) syncPane();
  });
}

/** `l` and `z` (shortcuts.js): open the labels or the snooze menu of the open chat. */
export function openPanel(action) {
  const button = document.querySelector(`#pane [data-action=${action}]`);
  if (button) togglePanel(button, true);
}
