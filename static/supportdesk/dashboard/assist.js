/**
 * AI assist (agents/assist_views.py): "Suggest reply" and "Summarize" beside the reply box of
 * the open chat, there only when the desk has an endpoint configured.
 *
 * A suggestion lands in the reply box for editing and is never sent by itself: into an empty
 * box as it is, caret at its end; under a draft, after a blank line and selected, so the draft
 * is never lost and one Delete takes the suggestion back out. A summary shows in the panel
 * above the log, for this agent only (never stored). While a request runs both buttons wait
 * (aria-disabled, so focus stays on the one pressed); nothing else does: the request is a plain
 * fetch, and the server waits for the endpoint without holding one of its HTTP threads.
 */

import { csrfToken, goToLogin } from "./agent.js";

// Beyond the server's own deadline (data-timeout-ms), before the page stops waiting itself.
const GRACE_MS = 5000;

function partsOf(group) {
  const form = group.closest("form");
  const pane = group.closest("#pane");
  return {
    input: form.querySelector("textarea"),
    error: form.querySelector(".assist__error"),
    panel: pane && pane.querySelector(".assist-summary"),
    buttons: group.querySelectorAll(".assist__button"),
  };
}

function showError(parts, text) {
  if (!parts.error) return;
  parts.error.textContent = text || "";
  parts.error.hidden = !text;
}

function setBusy(group, parts, pressed, busy) {
  if (busy) group.dataset.busy = "1";
  else delete group.dataset.busy;
  group.setAttribute("aria-busy", String(busy));
  for (const button of parts.buttons) button.setAttribute("aria-disabled", String(busy));
  if (busy) {
    pressed.dataset.label = pressed.textContent;
    pressed.textContent = pressed.dataset.action === "assist-suggest" ? "Suggesting…" : "Summarizing…";
  } else if (pressed.dataset.label) {
    pressed.textContent = pressed.dataset.label;
  }
}

/** POST to `url`: the server's answer ({text} or {error, message}), {login} when the session
 *  ended, or a message of the page's own when no answer came. */
async function ask(url, timeoutMs) {
  const seconds = Math.round(timeoutMs / 1000);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs + GRACE_MS);
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
      credentials: "same-origin",
      signal: controller.signal,
    });
    if (response.redirected) return { login: true }; // to the login page: the session ended
    let answer = null;
    try {
      answer = await response.json();
    } catch (_) { /* not JSON: a proxy's error page */ }
    if (answer && (answer.text || answer.message)) return answer;
    return { message: `The assistant is not available (HTTP ${response.status}); try again.` };
  } catch (_) {
    if (controller.signal.aborted) {
      return { message: `The assistant did not answer within ${seconds} s; try again.` };
    }
    return { message: "The desk could not be reached; check the connection and try again." };
  } finally {
    clearTimeout(timer);
  }
}

/** The suggestion into the reply box, keeping whatever the agent already wrote. */
function placeSuggestion(input, text) {
  const draft = input.value.replace(/\s+$/, "");
  if (!draft) {
    input.value = text;
    input.setSelectionRange(text.length, text.length);
  } else {
    input.value = `${draft}\n\n${text}`;
    input.setSelectionRange(draft.length + 2, input.value.length);
  }
  input.dispatchEvent(new Event("input", { bubbles: true })); // the box grows to fit it
  input.focus();
}

function showSummary(panel, text) {
  panel.querySelector(".assist-summary__text").textContent = text; // never parsed as HTML
  panel.hidden = false;
}

function closeSummary(panel) {
  panel.hidden = true;
  const opener = document.querySelector(`[aria-controls="${panel.id}"]`);
  if (opener) opener.focus();
}

async function run(pressed) {
  const group = pressed.closest(".assist");
  if (!group || group.dataset.busy) return;
  const parts = partsOf(group);
  const suggest = pressed.dataset.action === "assist-suggest";
  setBusy(group, parts, pressed, true);
  showError(parts, "");
  const answer = await ask(
    suggest ? group.dataset.suggestUrl : group.dataset.summaryUrl,
    Number(group.dataset.timeoutMs) || 20000
  );
  setBusy(group, parts, pressed, false);
  if (!group.isConnected) return; // another chat was opened meanwhile: not this one's answer
  if (answer.login) return goToLogin();
  if (!answer.text) return showError(parts, answer.message);
  if (suggest) placeSuggestion(parts.input, answer.text);
  else if (parts.panel) showSummary(parts.panel, answer.text);
}

/** Installed before the keyboard shortcuts: its Escape (in the summary) stops theirs. */
export function installAssist() {
  document.addEventListener("click", (event) => {
    const close = event.target.closest("[data-action=assist-summary-close]");
    if (close) return closeSummary(close.closest(".assist-summary"));
    const button = event.target.closest("[data-action=assist-suggest], [data-action=assist-summary]");
    if (button) run(button);
  });
  document.addEventListener("keydown", (event) => {
    const panel = event.target.closest && event.target.closest(".assist-summary");
    if (panel && event.key === "Escape") {
      event.stopImmediatePropagation();
      closeSummary(panel);
    }
  });
}
