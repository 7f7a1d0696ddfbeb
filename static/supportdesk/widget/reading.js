/**
 * Read receipts and the launcher's badge: what the visitor sees with the chat open counts as
 * read (reported over the socket); agent messages not seen yet are counted on the launcher
 * (drawn by the embed script on the host page).
 */

import { onView, seenSeq } from "../realtime/log.js";
import { log } from "./conversation.js";

let isOpen = false;
let readSent = { conversation: 0, seq: 0 };
let badgeSent = -1;

/** The host page opened or closed the chat. */
export function setOpen(open) {
  isOpen = open;
}

/** The launcher's badge: agent messages the visitor has not seen. Seen means shown with the
 *  chat open, here or in an earlier visit. */
export function postUnread() {
  const current = log();
  const conversation = Number(current.dataset.conversation);
  let count = 0;
  if (!isOpen && conversation) {
    const seen = Math.max(
      Number(current.dataset.visitorRead || 0),
      readSent.conversation === conversation ? readSent.seq : 0
    );
    for (const msg of current.querySelectorAll(":scope > :is(.msg--agent, .msg--bot)[data-seq]")) {
      if (Number(msg.dataset.seq) > seen) count += 1;
    }
  }
  if (count === badgeSent) return;
  badgeSent = count;
  window.parent.postMessage({ type: "supportdesk:unread", count }, "*");
}

/** Report how far the visitor can have read (seenSeq), and nothing while the chat is closed:
 *  replies that came meanwhile are not read until it opens. */
export function reportRead(conn) {
  postUnread();
  const current = log();
  const conversation = Number(current.dataset.conversation);
  if (!conn || !conversation) return;
  const seq = isOpen ? seenSeq(current) : 0;
  if (!seq || (readSent.conversation === conversation && readSent.seq >= seq)) return;
  if (conn.send({ type: "read", conversation, seq })) readSent = { conversation, seq };
}

/** Keep the badge and the read mark up to date; `connection()`: the page's socket, or null. */
export function installReadReports(connection) {
  document.addEventListener("realtime:applied", postUnread);
  document.body.addEventListener("htmx:afterSettle", postUnread);
  document.addEventListener("visibilitychange", () => reportRead(connection()));
  // The reader scrolled, or the log was resized or shown: report it (once per frame at most).
  onView(() => reportRead(connection()));
}
