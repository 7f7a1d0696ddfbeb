/**
 * What the browser adds to the server's markup, since only it knows the reader's time zone and
 * what else is on the page: local times, day labels and runs of messages, read receipts (✓✓),
 * and counters. Each is done again after every change (idempotent: ids and markup stay as sent).
 */

import { t } from "../text.js";

/** Times are rendered in UTC; show them in the reader's own time zone. */
// Made once: each toLocale*String call with options builds a new formatter (about a
// millisecond each in Chromium), and every message and row shows a time.
const formats = {
  time: new Intl.DateTimeFormat([], { hour: "2-digit", minute: "2-digit" }),
  datetime: new Intl.DateTimeFormat([], { dateStyle: "medium", timeStyle: "short" }),
  title: new Intl.DateTimeFormat([], {
    year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "2-digit", second: "2-digit",
  }), // what toLocaleString() shows
};

export function localize(root) {
  for (const time of (root || document).querySelectorAll("time[datetime]")) {
    const moment = new Date(time.dateTime);
    if (Number.isNaN(moment.getTime())) continue;
    time.textContent = (time.dataset.format === "datetime" ? formats.datetime : formats.time).format(moment);
    time.title = formats.title.format(moment);
  }
}

/** Day labels: the first message of each day (in the reader's time zone) carries
 *  `data-day` ("Today", "Yesterday", or the date), shown above it by the stylesheet.
 *  Runs: a message by the same sender (`data-author`) as the one shown before it, on the same
 *  day, is `msg--cont` (the stylesheet shows the name and avatar once per run). */
export function labelDays(root) {
  const logs = root.matches && root.matches(".log") ? [root] : (root || document).querySelectorAll(".log");
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  const sameDay = (a, b) => a.toDateString() === b.toDateString();
  for (const log of logs) {
    let previous = null;
    let previousAuthor = null;
    for (const msg of log.querySelectorAll(":scope > [data-seq]:not([hidden])")) {
      const time = msg.querySelector("time[datetime]");
      const day = new Date(time ? time.dateTime : NaN);
      if (Number.isNaN(day.getTime())) continue;
      let label = "";
      if (!previous || !sameDay(previous, day)) {
        if (sameDay(day, today)) label = t("Today");
        else if (sameDay(day, yesterday)) label = t("Yesterday");
        else label = day.toLocaleDateString([], { weekday: "short", day: "numeric", month: "long", year: "numeric" });
      }
      if (label) msg.dataset.day = label;
      else delete msg.dataset.day;
      const author = msg.dataset.author || null;
      msg.classList.toggle("msg--cont", !label && author !== null && author === previousAuthor);
      previous = day;
      previousAuthor = author;
    }
  }
}

/** Read receipts: a watermark element (`data-read-watermark`, one per conversation and
 *  reader) turns the reader's counterpart's messages up to it from ✓ (stored) to ✓✓ (read). */
export function applyReceipts() {
  for (const mark of document.querySelectorAll("[data-read-watermark]")) {
    const log = document.getElementById(`log-${mark.dataset.conversation}`);
    if (!log) continue;
    const upTo = Number(mark.dataset.readWatermark);
    for (const msg of log.querySelectorAll(":scope > .msg--mine[data-seq]:not(.msg--read)")) {
      if (Number(msg.dataset.seq) > upTo) continue;
      msg.classList.add("msg--read");
      const state = msg.querySelector(".msg__state");
      if (state) {
        state.textContent = "✓✓";
        state.setAttribute("aria-label", t("Read"));
      }
    }
  }
}

/** Counters say how many elements match their `data-count` selector (e.g. list rows). */
export function updateCounts() {
  for (const counter of document.querySelectorAll("[data-count]")) {
    counter.textContent = String(document.querySelectorAll(counter.dataset.count).length);
  }
}
