/** The connection state, as a line of text for people (the dashboard's "Live", the widget's
 *  "Reconnecting…"). */

import { t } from "../text.js";

/** Show the connection state in an element with data-state and data-open-text (what it says
 *  while connected; empty: nothing, the line shows only while the connection matters). */
export function showStatus(el, state) {
  if (!el) return;
  const texts = {
    idle: el.dataset.openText && t(el.dataset.openText),
    connecting: t("Connecting…"),
    open: el.dataset.openText && t(el.dataset.openText),
    reconnecting: t("Reconnecting…"),
    offline: t("You are offline — messages will be sent when you reconnect"),
    denied: t("Signed out"),
  };
  const wasDown = ["reconnecting", "offline"].includes(el.dataset.state);
  el.dataset.state = state;
  clearTimeout(el._backTimer);
  if (state === "open" && wasDown) {
    el.textContent = t("Back online");
    el._backTimer = setTimeout(() => { el.textContent = texts.open; }, 3000);
    return;
  }
  el.textContent = state in texts ? texts[state] : state;
}
