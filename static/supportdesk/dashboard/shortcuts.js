/** Keyboard shortcuts (the "?" overlay lists them): j/k move in the list, r/n write a reply or
 *  a note, c/t/e claim, transfer, end, l/z labels and snooze, o reopens, "/" searches, 1-5
 *  switch lists. */

import { showView } from "./lists.js";
import { openId, openPanel } from "./pane.js";
import { setMode } from "./reply-box.js";

function visibleRows() {
  return Array.from(document.querySelectorAll(".list > [data-conversation]")).filter(
    (row) => row.offsetParent !== null
  );
}

function moveInList(step) {
  const rows = visibleRows();
  if (!rows.length) return;
  const at = rows.findIndex((row) => Number(row.dataset.conversation) === openId());
  const next = rows[Math.min(rows.length - 1, Math.max(0, at === -1 ? 0 : at + step))];
  next.querySelector(".row__link").click();
  next.scrollIntoView({ block: "nearest" });
}

function focusComposer(mode) {
  const form = document.querySelector("#pane .composer");
  if (!form) return;
  setMode(form, mode);
  form.querySelector("textarea").focus();
}

function clickAction(name) {
  const el = document.querySelector(`#pane [data-action=${name}]`);
  if (!el) return;
  // A pane swapped in a moment ago may not be wired up by htmx yet (it does so on settle);
  // processing twice is harmless, a shortcut that does nothing is not.
  window.htmx.process(el);
  el.click();
}

/** Installed after the transfer form's Escape (transfer.js), which stops this one. */
export function installShortcuts() {
  const help = document.getElementById("help");
  document.getElementById("help-open").addEventListener("click", () => help.showModal());
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    const typing = event.target.closest("input, textarea, select, [contenteditable]");
    if (event.key === "Escape" && typing) {
      event.target.blur();
      return;
    }
    if (typing || help.open) return;
    const actions = {
      j: () => moveInList(1),
      k: () => moveInList(-1),
      r: () => focusComposer("reply"),
      n: () => focusComposer("note"),
      c: () => clickAction("claim"),
      t: () => clickAction("transfer"),
      e: () => clickAction("end"),
      l: () => openPanel("labels"),
      z: () => openPanel("snooze"),
      o: () => clickAction("reopen"),
      "/": () => document.getElementById("search-input").focus(),
      "?": () => help.showModal(),
      1: () => showView("waiting"),
      2: () => showView("mine"),
      3: () => showView("open"),
      4: () => showView("ended"),
      5: () => showView("snoozed"),
    };
    const action = actions[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  });
}
