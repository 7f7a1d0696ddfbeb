/**
 * Message logs (role=log) keep their reader's place. A reader at the newest message stays
 * there: when messages arrive and when the log's own box changes (the widget opens, a panel
 * grows under the log, the window or the phone's keyboard resizes it). A reader who scrolled
 * up stays where they are and is told about new messages below. A log that is not rendered
 * (inside a hidden iframe its height is 0) has no place to keep: it shows its newest message
 * once it is rendered, unless the reader scrolls up first.
 * Whenever what the reader can see may have changed, the log gets a `realtime:view` event.
 *
 * Also here, what a log holds: how far it is complete (lastSeq, what to resume from) and how far
 * its reader has seen (seenSeq, what a read mark reports).
 */

import { t } from "../text.js";

const AT_END_PX = 80;
const awayFromEnd = new WeakSet(); // logs whose reader scrolled up
const endWhenShown = new WeakSet(); // asked to show their newest message while not rendered
const watchedLogs = new WeakSet();
// Where we last scrolled each log to. A scroll event comes later, at the next frame, measured
// against the layout of then (a panel may have grown under the log meanwhile): one that finds
// the log where we put it is ours, not the reader scrolling up.
const scrolledTo = new WeakMap();
function toEnd(log) {
  log.scrollTop = log.scrollHeight;
  scrolledTo.set(log, log.scrollTop);
}
/** Whether the log is rendered (a log in a hidden iframe is 0 px high). */
export const shown = (log) => log.clientHeight > 0;
const atEnd = (log) => log.scrollHeight - log.scrollTop - log.clientHeight < AT_END_PX;
/** Whether the reader is at the newest message. Once watched, what the reader last did
 *  decides (a layout change may be pending). */
export const readerAtEnd = (log) => (watchedLogs.has(log) ? !awayFromEnd.has(log) : atEnd(log));
const viewed = (log) => log.dispatchEvent(new CustomEvent("realtime:view", { bubbles: true }));
const logResized = new ResizeObserver((entries) => {
  for (const { target } of entries) {
    if (!target.isConnected) {
      logResized.unobserve(target); // a pane or log swapped out: let it go
      continue;
    }
    if (!shown(target)) continue;
    if (endWhenShown.has(target)) awayFromEnd.delete(target);
    endWhenShown.delete(target);
    if (!awayFromEnd.has(target)) toEnd(target);
    viewed(target);
  }
});

export function watchLog(log) {
  if (watchedLogs.has(log)) return;
  watchedLogs.add(log);
  logResized.observe(log);
  log.addEventListener("scroll", () => {
    if (!shown(log) || endWhenShown.has(log)) return; // not the reader: a layout settling
    if (scrolledTo.get(log) === log.scrollTop) return viewed(log); // our own scroll
    scrolledTo.delete(log);
    notePlace(log);
  });
}

/** The reader is where the log now is: at its end, or away from it. */
function notePlace(log) {
  if (atEnd(log)) awayFromEnd.delete(log);
  else awayFromEnd.add(log);
  viewed(log);
}

/** Call `callback` after what a reader can see of a log changed (a scroll, a resize, the log
 *  shown): at most once per frame, however many changes the frame had. */
export function onView(callback) {
  let frame = 0;
  document.addEventListener("realtime:view", () => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(callback);
  });
}

export function watchLogs(root) {
  const scope = root || document;
  if (scope.matches && scope.matches('[role="log"]')) watchLog(scope);
  for (const log of scope.querySelectorAll('[role="log"]')) watchLog(log);
}

/** Show the log's newest message, and keep it shown as the log changes (see above). */
export function scrollToEnd(log) {
  watchLog(log);
  awayFromEnd.delete(log);
  if (!shown(log)) endWhenShown.add(log); // done when it is rendered (the observer)
  toEnd(log);
  const button = log.parentElement && log.parentElement.querySelector(`.new-messages[data-for="${log.id}"]`);
  if (button) button.hidden = true;
  viewed(log);
}

/** Show `el`, a message of `log`, in the middle of it, and keep the reader there as if they
 *  had scrolled to it: the log does not jump to its newest message when it changes. */
export function scrollToMessage(log, el) {
  watchLog(log);
  el.scrollIntoView({ block: "center" });
  scrolledTo.set(log, log.scrollTop);
  notePlace(log);
}

/** The reader scrolled up to read history and a message arrived below: say so, with a
 *  button that brings them down, instead of moving the page under their eyes. */
export function showNewMessages(log) {
  let button = log.parentElement.querySelector(`.new-messages[data-for="${log.id}"]`);
  if (!button) {
    button = document.createElement("button");
    button.type = "button";
    button.className = "new-messages";
    button.dataset.for = log.id;
    button.textContent = t("New messages ↓");
    button.addEventListener("click", () => {
      scrollToEnd(log);
      log.focus({ preventScroll: true });
    });
    log.addEventListener("scroll", () => {
      if (atEnd(log)) button.hidden = true;
    });
    log.after(button);
  }
  button.hidden = false;
}

/** How far the reader of `log` has seen: the seq before the first message below its fold
 *  (capped at the gap-free lastSeq), 0 while the page or the log is not on screen. A read mark
 *  reports this, not the newest seq, so nothing counts as read before it could be seen. */
export function seenSeq(log) {
  if (document.visibilityState !== "visible" || !log.clientHeight) return 0;
  const fold = log.getBoundingClientRect().bottom;
  const complete = lastSeq(log);
  for (const msg of log.querySelectorAll(":scope > [data-seq]:not([hidden])")) {
    if (msg.getBoundingClientRect().top >= fold - 4) return Math.min(complete, Number(msg.dataset.seq) - 1);
  }
  return complete;
}

/**
 * What to resume from: the highest seq up to which the log has every message. Not simply the
 * highest seq shown: a POST's answer can show the sender's own seq 7 while seq 6 is still on
 * its way (or its doorbell was lost); resuming after 7 would skip 6 for good.
 */
export function lastSeq(container) {
  if (!container) return 0;
  const seqs = new Set();
  let lowest = Infinity;
  for (const el of container.querySelectorAll(":scope > [data-seq]")) {
    const seq = Number(el.dataset.seq);
    seqs.add(seq);
    lowest = Math.min(lowest, seq);
  }
  if (!seqs.size) return 0;
  let seq = lowest; // the log may start later than seq 1 (it shows the newest messages)
  while (seqs.has(seq + 1)) seq += 1;
  return seq;
}
