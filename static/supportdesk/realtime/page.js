/**
 * What every page of the desk does with server-rendered HTML (base.html loads this module; the
 * dashboard and the widget import it first, so its listeners run before theirs): times shown in
 * the reader's zone, counters, day labels and read receipts after each htmx swap, message logs
 * that keep their reader's place, and htmx answers that find their target after apply()
 * replaced it.
 */

import { applyReceipts, labelDays, localize, updateCounts } from "./annotate.js";
import { watchLogs } from "./log.js";

document.addEventListener("DOMContentLoaded", () => {
  localize(document);
  updateCounts();
  labelDays(document);
  watchLogs(document);
});

// `apply` may replace an htmx request's target, and the button that sent it, while the request
// is on its way (a pane header, re-rendered when a colleague claimed the chat a moment
// earlier). The answer then goes to the element that has that id now, not the detached one
// where nobody would see "Bob already took this chat.". htmx fires beforeSwap on the target,
// which is detached by then, so the event never reaches the document: the listener goes on the
// target itself.
function retargetDetached(event) {
  const target = event.detail.target;
  if (target && target.id && !target.isConnected) {
    const current = document.getElementById(target.id);
    if (current) event.detail.target = current;
  }
}
document.addEventListener("htmx:beforeRequest", (event) => {
  const target = event.detail.target;
  if (target) target.addEventListener("htmx:beforeSwap", retargetDetached, { once: true });
});

document.addEventListener("htmx:afterSettle", (event) => {
  watchLogs(event.target);
  localize(event.target);
  updateCounts();
  applyReceipts();
  labelDays(document);
});
