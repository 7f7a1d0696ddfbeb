/** Transfer: the button in the pane's header (which the socket re-renders) opens the form
 *  below it, whose choices show each colleague's live presence; Cancel or Escape closes it, and
 *  so does a transfer that went through (the header above it shows the new agent). */

import { isolated } from "../text.js";

/** The transfer form's choices as they are now: not the chat's current agent (the header,
 *  which the socket re-renders, says who), not oneself, each with their live presence. */
function refreshTransferTargets(panel) {
  const header = document.querySelector("#pane .pane__header");
  const assigned = header ? header.dataset.assigned : "";
  const select = panel.querySelector("select");
  for (const option of select.querySelectorAll("option[data-agent]")) {
    const id = option.dataset.agent;
    const member = document.getElementById(`member-${id}`);
    const presence = member ? member.dataset.presence : option.dataset.presence;
    option.hidden = option.disabled = id === assigned || id === document.body.dataset.agent;
    option.textContent = `${isolated(option.dataset.name)} (${presence})`;
  }
  if (select.selectedOptions[0] && select.selectedOptions[0].disabled) select.value = "";
  const placeholder = select.querySelector('option[value=""]');
  placeholder.dataset.chooseText = placeholder.dataset.chooseText || placeholder.textContent;
  const anyone = select.querySelector("option[data-agent]:not([disabled])");
  placeholder.textContent = anyone ? placeholder.dataset.chooseText : placeholder.dataset.noneText;
}

function closeTransfer(panel) {
  panel.hidden = true;
  const opener = document.querySelector(`[data-action=transfer][aria-controls="${panel.id}"]`);
  if (opener) opener.focus();
}

/** Installed before the keyboard shortcuts: its Escape stops theirs. */
export function installTransfer() {
  document.addEventListener("click", (event) => {
    const cancel = event.target.closest("[data-action=transfer-cancel]");
    if (cancel) return closeTransfer(cancel.closest(".transfer"));
    const button = event.target.closest("[data-action=transfer]");
    if (!button) return;
    const panel = document.getElementById(button.getAttribute("aria-controls"));
    if (!panel) return;
    panel.hidden = !panel.hidden;
    if (!panel.hidden) {
      refreshTransferTargets(panel);
      panel.querySelector("select").focus();
    }
  });
  document.addEventListener("keydown", (event) => {
    const panel = event.target.closest && event.target.closest(".transfer");
    if (panel && event.key === "Escape") {
      event.stopImmediatePropagation(); // not also the shortcuts' Escape
      closeTransfer(panel);
    }
  });
  document.body.addEventListener("htmx:afterRequest", (event) => {
    const form = event.target.closest && event.target.closest(".transfer__form");
    if (form && event.detail.successful) form.closest(".transfer").hidden = true;
  });
}
