/**
 * Notifications: the tab title's count, desktop notifications and a sound for each new chat in
 * the queue, each chat assigned to the agent and each new unread message in their chats (one
 * summary for a burst). Only what is this agent's to answer: the queue and their own chats, not
 * colleagues'.
 */

import { isolated } from "../text.js";
import { store } from "./agent.js";
import { showView } from "./lists.js";
import { openId } from "./pane.js";

const baseTitle = document.title;
let soundOn = store("sound") === "on";
let notifyOn = store("notify") !== "off"; // given the browser's permission
let known = null; // conversation id -> unread count, as last seen; null until the first list
let knownWaiting = new Set();

// News is gathered for NOTIFY_GATHER_MS (a reconnect brings its rows frame by frame); more
// than NOTIFY_BURST at once (back from standby, after an outage) makes one summary
// notification and one beep, not a flood of them.
const NOTIFY_BURST = 3;
const NOTIFY_GATHER_MS = 400;
const pendingNews = new Map(); // conversation id -> "New chat" | "New message"
let newsTimer = null;

/** A top-bar toggle's state: aria-pressed, the word after its name ("Sound: on"), its title. */
function renderToggle(button, state) {
  button.setAttribute("aria-pressed", String(state === "on"));
  const word = button.querySelector(".topbar__state");
  word.textContent = `: ${word.dataset[state]}`;
  button.title = button.dataset[`${state}Title`];
  button.dataset.state = state;
  if (state === "blocked") button.setAttribute("aria-disabled", "true");
  else button.removeAttribute("aria-disabled");
}

function notifyState() {
  if (Notification.permission === "denied") return "blocked";
  return Notification.permission === "granted" && notifyOn ? "on" : "off";
}

/** The Notifications and Sound toggles of the top bar. Notifications: the first press asks the
 *  browser's permission; later presses turn them off and on for this agent in this browser (a
 *  permission, once given, cannot be taken back by the page). Blocked in the browser: the
 *  button says so, and its title says where to allow them. */
export function installNotificationButtons() {
  const soundButton = document.getElementById("sound-toggle");
  const notifyButton = document.getElementById("notify-toggle");
  soundButton.addEventListener("click", () => {
    soundOn = !soundOn;
    store("sound", soundOn ? "on" : "off");
    renderSound();
    if (soundOn) beep();
  });
  if (!("Notification" in window)) return; // this browser has none: no button
  notifyButton.hidden = false;
  renderToggle(notifyButton, notifyState());
  // Allowed or blocked in the browser's settings meanwhile: the button says so on return.
  document.addEventListener("visibilitychange", () => renderToggle(notifyButton, notifyState()));
  notifyButton.addEventListener("click", () => {
    if (Notification.permission === "granted") {
      notifyOn = !notifyOn;
      store("notify", notifyOn ? "on" : "off");
      renderToggle(notifyButton, notifyState());
    } else if (Notification.permission === "default") {
      Notification.requestPermission().finally(() => {
        notifyOn = true;
        store("notify", "on");
        renderToggle(notifyButton, notifyState());
      });
    }
  });
}

export function renderSound() {
  renderToggle(document.getElementById("sound-toggle"), soundOn ? "on" : "off");
}

let audio = null;
function beep() {
  try {
    audio = audio || new AudioContext();
    // Made before the agent touched the page, a context starts suspended (autoplay rules).
    if (audio.state === "suspended") audio.resume();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.08, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.25);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.25);
  } catch (_) { /* no audio: the title and the notification still tell */ }
}

function rowSummary(row) {
  return {
    name: row.querySelector(".row__name").textContent,
    preview: row.querySelector(".row__preview").textContent,
  };
}

function needsAttention(row) {
  return document.hidden || Number(row.dataset.conversation) !== openId();
}

function desktopNotification(title, options, onclick) {
  if (!("Notification" in window) || Notification.permission !== "granted" || !document.hidden) return;
  if (!notifyOn) return; // turned off in the top bar
  const n = new Notification(title, options);
  n.onclick = () => {
    window.focus();
    onclick();
    n.close();
  };
}

function notify(row, title) {
  const id = row.dataset.conversation;
  const { name, preview } = rowSummary(row);
  desktopNotification(`${title}: ${isolated(name)}`, { body: preview, tag: `conv-${id}` }, () => {
    // The row has been re-rendered since, most likely: find the current one.
    const current = document.getElementById(`conv-row-${id}`);
    if (current) current.querySelector(".row__link").click();
  });
}

function notifySummary(count) {
  const body = "Open the desk to see them.";
  desktopNotification(`${count} chats need you`, { body, tag: "supportdesk-summary" }, () => {
    showView("open");
  });
}

function flushNews() {
  newsTimer = null;
  const wanted = [];
  for (const [id, title] of pendingNews) {
    // Still this agent's to answer (not taken by a colleague meanwhile)?
    const row = document.querySelector(
      `#list-waiting > #conv-row-${id}, #list-active > #conv-row-${id}[data-mine]`
    );
    if (row) wanted.push([row, title]);
  }
  pendingNews.clear();
  if (wanted.length && soundOn) beep();
  if (wanted.length > NOTIFY_BURST) notifySummary(wanted.length);
  else for (const [row, title] of wanted) notify(row, title);
}

/** After every change to the lists: the tab title count, and the news to tell. */
export function onListsChanged() {
  const rows = document.querySelectorAll("#list-waiting > [data-conversation], #list-active > [data-mine]");
  const unread = new Map();
  const waiting = new Set();
  for (const row of rows) {
    const id = Number(row.dataset.conversation);
    const badge = row.querySelector(".unread");
    unread.set(id, badge ? Number(badge.dataset.unread) : 0);
    if (row.parentElement.id === "list-waiting") waiting.add(id);
  }
  if (known !== null) {
    for (const row of rows) {
      const id = Number(row.dataset.conversation);
      if (!needsAttention(row)) continue; // news in the chat the agent is looking at
      if (waiting.has(id) && !knownWaiting.has(id) && !known.has(id)) pendingNews.set(id, "New chat");
      // Handed over by a colleague or an admin, or given by automatic assignment.
      else if (!waiting.has(id) && !known.has(id)) pendingNews.set(id, "Assigned to you");
      else if ((unread.get(id) || 0) > (known.get(id) || 0) && !pendingNews.has(id)) {
        pendingNews.set(id, "New message");
      }
    }
    if (pendingNews.size && newsTimer === null) newsTimer = setTimeout(flushNews, NOTIFY_GATHER_MS);
  }
  known = unread;
  knownWaiting = waiting;
  const needing = new Set([...waiting, ...[...unread].filter(([, n]) => n > 0).map(([id]) => id)]);
  document.title = needing.size ? `(${needing.size}) ${baseTitle}` : baseTitle;
}
