/**
 * The lists: their tabs (Waiting / Mine / All open / Ended / Snoozed, one shows at a time,
 * remembered per agent), and triage on their rows:
 *  - how long each visitor has waited ("3 min"), written here from the row's
 *    data-waiting-since and kept current by a timer (no server frame per minute), amber past
 *    its inbox's warning and red past its alert (#wait-thresholds, from the server);
 *  - the sort of the open lists: newest activity (the server's order), or longest waiting;
 *  - a label filter, and the labels' colours (set here: the pages' CSP allows no inline style).
 */

import { t } from "../text.js";
import { store } from "./agent.js";

const VIEWS = ["waiting", "mine", "open", "ended", "snoozed"];
const SORTED_LISTS = ["list-waiting", "list-active", "list-bot", "list-snoozed"];

export function showView(view) {
  if (!VIEWS.includes(view)) view = "open";
  document.querySelector(".sidebar").dataset.view = view;
  for (const tab of document.querySelectorAll("[data-view-button]")) {
    tab.setAttribute("aria-selected", String(tab.dataset.viewButton === view));
  }
  store("view", view);
}

export function installListTabs() {
  for (const tab of document.querySelectorAll("[data-view-button]")) {
    tab.addEventListener("click", () => showView(tab.dataset.viewButton));
  }
  const sort = document.getElementById("list-sort");
  if (sort) {
    sort.value = store("sort") === "wait" ? "wait" : "activity";
    sort.addEventListener("change", () => {
      store("sort", sort.value);
      sortLists();
    });
  }
  const filter = document.getElementById("label-filter");
  if (filter) filter.addEventListener("change", filterRows);
  setInterval(tickWaits, 15000);
}

/** Everything on the rows that depends on time or on this page's choices; after every change
 *  the socket applies (dashboard.js), and at start. */
export function refreshRows() {
  tickWaits();
  paintLabels(document);
  filterRows();
  sortLists();
}

// ---- Waiting times ------------------------------------------------------------------------
let thresholdsSource = null;
let thresholds = {};

function inboxThresholds(inbox) {
  const script = document.getElementById("wait-thresholds");
  if (script !== thresholdsSource) {
    thresholdsSource = script;
    try {
      thresholds = script ? JSON.parse(script.textContent) : {};
    } catch (_) {
      thresholds = {};
    }
  }
  return thresholds[inbox] || [2 * 60000, 5 * 60000];
}

function fill(text, ...values) {
  let i = 0;
  return t(text).replace(/%s/g, () => String(values[i++]));
}

/** A wait as people read it, in minutes: "< 1 min", "3 min", "1 h 20 min", "12 h", "2 d". */
export function waitText(ms) {
  const minutes = Math.floor(ms / 60000);
  if (minutes < 1) return t("< 1 min");
  if (minutes < 60) return fill("%s min", minutes);
  const hours = Math.floor(minutes / 60);
  if (hours < 24) {
    return minutes % 60 && hours < 10 ? fill("%s h %s min", hours, minutes % 60) : fill("%s h", hours);
  }
  return fill("%s d", Math.floor(hours / 24));
}

export function tickWaits() {
  const now = Date.now();
  for (const row of document.querySelectorAll(".row[data-waiting-since]")) {
    const label = row.querySelector(".row__wait");
    if (!label) continue;
    const waited = Math.max(0, now - Number(row.dataset.waitingSince));
    const [warn, alert] = inboxThresholds(row.dataset.inbox);
    const level = waited >= alert ? "alert" : waited >= warn ? "warn" : "";
    const text = waitText(waited);
    if (label.textContent !== text) {
      label.textContent = text;
      label.setAttribute("aria-label", fill("waiting %s", text));
      label.title = fill("Waiting for %s", text);
    }
    if (label.dataset.level !== level) label.dataset.level = level;
    if (row.dataset.level !== level) row.dataset.level = level;
  }
}

// ---- Sort: longest waiting first ------------------------------------------------------------
function waitKey(row) {
  // Rows without a wait (the agent answered last) after every waiting one, by activity.
  return row.dataset.waitingSince ? Number(row.dataset.waitingSince) : Infinity;
}

export function sortLists() {
  const byWait = store("sort") === "wait";
  for (const id of SORTED_LISTS) {
    const list = document.getElementById(id);
    if (!list) continue;
    const rows = Array.from(list.children).filter((row) => row.dataset.sort !== undefined);
    const desc = list.dataset.order === "desc";
    const sorted = rows.slice().sort((a, b) => {
      if (byWait) {
        const d = waitKey(a) - waitKey(b);
        if (d) return d;
      }
      const s = Number(a.dataset.sort) - Number(b.dataset.sort);
      return desc ? -s : s;
    });
    // Move only what is out of place: no layout jump, focus kept.
    if (sorted.every((row, i) => rows[i] === row)) continue;
    for (const row of sorted) list.appendChild(row);
  }
}

// ---- Labels ---------------------------------------------------------------------------------
/** Each label chip gets its colour from data-color (a #rrggbb the server checked). */
export function paintLabels(root) {
  for (const chip of root.querySelectorAll(".label[data-color]:not([data-painted])")) {
    if (/^#[0-9a-f]{6}$/i.test(chip.dataset.color)) chip.style.setProperty("--label", chip.dataset.color);
    chip.dataset.painted = "";
  }
}

export function filterRows() {
  const filter = document.getElementById("label-filter");
  const wanted = filter ? filter.value : "";
  for (const row of document.querySelectorAll(".list > .row")) {
    const shown = !wanted || (row.dataset.labels || "").includes(` ${wanted} `);
    if (row.hidden === shown) row.hidden = !shown;
  }
}
