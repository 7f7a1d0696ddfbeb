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
