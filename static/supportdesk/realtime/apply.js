/**
 * apply(html) upserts every top-level element of `html` (server-rendered, from the socket or a
 * POST's answer) by id. The rules, so applying anything twice, or out of order, changes nothing:
 *  - an element with data-replace always replaces the element with its id;
 *  - an element with data-version replaces its twin only if its version is higher;
 *  - any other element is immutable: if its id is already on the page, it is skipped;
 *  - data-container names the list it belongs in, kept ordered by numeric data-sort
 *    (the list's data-order is "asc" or "desc"); it moves there if it was elsewhere;
 *  - an element with data-client-id replaces the sender's optimistic copy (data-pending).
 * Afterwards the document gets a `realtime:applied` event.
 */

import { applyReceipts, labelDays, localize, updateCounts } from "./annotate.js";
import { readerAtEnd, scrollToEnd, showNewMessages, shown, watchLog } from "./log.js";

export function apply(html) {
  const template = document.createElement("template");
  template.innerHTML = html;
  for (const el of Array.from(template.content.children)) {
    if (!el.id) continue;
    const current = document.getElementById(el.id);
    if (current && !supersedes(el, current)) continue;
    if (current && el.dataset.contentKey && el.dataset.contentKey === current.dataset.contentKey) {
      // Newer, but showing the same thing: keep the element (a button in it may be mid-click,
      // waiting on a confirm dialog; replacing it would drop that click's request).
      current.dataset.version = el.dataset.version;
      continue;
    }
    if (!current && el.dataset.clientId) {
      const pending = document.querySelector(
        `[data-pending][data-client-id="${CSS.escape(el.dataset.clientId)}"]`
      );
      if (pending) pending.remove();
    }
    if (el.dataset.container) {
      const container = document.getElementById(el.dataset.container);
      if (current) current.remove();
      if (!container) continue; // not shown on this page (another conversation)
      const isLog = container.getAttribute("role") === "log";
      // Decided before the insertion, and only for a log on screen: a hidden one (the widget
      // closed) has no position to keep; it opens at its newest message. (Measured once: each
      // measure after a change makes the browser lay the page out again.)
      const onScreen = isLog && shown(container);
      const wasAtEnd = onScreen && readerAtEnd(container);
      insertSorted(container, el);
      if (onScreen && el.dataset.seq) {
        watchLog(container);
        if (wasAtEnd) scrollToEnd(container);
        else if (!el.classList.contains("msg--mine")) showNewMessages(container);
      }
    } else if (current) {
      current.replaceWith(el);
    } else {
      continue;
    }
    settle(el);
  }
  updateCounts();
  applyReceipts();
  labelDays(document);
  document.dispatchEvent(new CustomEvent("realtime:applied"));
}

function supersedes(incoming, current) {
  if (incoming.hasAttribute("data-replace")) return true;
  if (incoming.dataset.version === undefined) return false;
  return Number(incoming.dataset.version) > Number(current.dataset.version || -1);
}

function insertSorted(container, el) {
  const key = Number(el.dataset.sort);
  const desc = container.dataset.order === "desc";
  // Walk back from the end: new messages and fresh rows usually belong there or near it.
  let after = container.lastElementChild;
  while (after) {
    const other = after.dataset.sort === undefined ? Infinity : Number(after.dataset.sort);
    if (desc ? other >= key : other <= key) break;
    after = after.previousElementSibling;
  }
  container.insertBefore(el, after ? after.nextSibling : container.firstChild);
}

function settle(el) {
  // Ephemeral elements ("Alice is typing…") hide themselves unless a newer copy replaces them.
  if (el.dataset.expiresMs) setTimeout(() => { el.hidden = true; }, Number(el.dataset.expiresMs));
  localize(el);
  if (window.htmx) window.htmx.process(el);
}
