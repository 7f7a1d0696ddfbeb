/**
 * Calls from the dashboard (docs/CALLS.md): the Voice and Video buttons of the open chat, and
 * the call dock, which stays on screen (and the call on) whichever chat the pane shows. The
 * call itself is call/session.js's.
 */

import { installCalls } from "../call/session.js";

let calls = null;

export function installCallDock(connection) {
  calls = installCalls({
    role: "agent",
    send: (frame) => {
      const conn = connection();
      return conn ? conn.send(frame) : false;
    },
    onChange: syncCallButtons,
  });
  document.body.addEventListener("click", (event) => {
    const start = event.target.closest("[data-call-start]");
    if (!start || !calls || start.disabled) return;
    const bar = start.closest("[data-call-actions]");
    calls.start(Number(bar.dataset.conversation), start.dataset.callStart);
    syncCallButtons();
  });
  return calls;
}

/** The call buttons work in the agent's own active chat, one call at a time. */
export function syncCallButtons() {
  const bar = document.querySelector("#pane [data-call-actions]");
  if (!bar) return;
  const header = document.querySelector("#pane .pane__header");
  const mine =
    header &&
    header.dataset.status === "active" &&
    header.dataset.assigned === document.body.dataset.agent;
  bar.hidden = !mine;
  for (const button of bar.querySelectorAll("[data-call-start]")) {
    button.disabled = !mine || Boolean(calls && calls.busy());
  }
}
