/**
 * The widget and the page that embeds it (embed.js draws the launcher there): messages both
 * ways over postMessage. Up: ready (with the inbox's look), close, the unread count
 * (reading.js). Down: opened, closed, and where the visitor is on the host site, which agents
 * see live (sendContext).
 */

import { currentToken } from "./session.js";

let page = null;
let sentPage = null;

/** Tell the desk where the visitor is (once per page of the host site, once there is a
 *  session: `sessionMade` calls it again). */
export function sendContext() {
  const token = currentToken();
  if (!page || !token || sentPage === page) return;
  const current = page;
  const data = new URLSearchParams({
    current_url: current.url,
    page_title: current.title,
    referrer: current.referrer,
    user_agent: navigator.userAgent,
    timezone: Intl.DateTimeFormat().resolvedOptions().timeZone || "",
    language: navigator.language || "",
  });
  fetch(document.body.dataset.contextUrl, { method: "POST", headers: { "X-Visitor-Token": token }, body: data })
    .then((r) => {
      if (r.ok) sentPage = current;
    })
    .catch(() => {}); // best effort: the next page view tells again
}

function closeWidget() {
  window.parent.postMessage({ type: "supportdesk:close" }, "*");
}

/** Listen to the host page: `opened()` and `closed()` when the visitor opens or closes the
 *  chat there. The close button and Escape ask it to close the chat (focus goes back to the
 *  launcher, as in any dialog). */
export function installHost({ opened, closed }) {
  document.querySelector("[data-close]").addEventListener("click", closeWidget);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !event.defaultPrevented) closeWidget();
  });
  window.addEventListener("message", (event) => {
    if (event.source !== window.parent || !event.data) return;
    if (event.data.type === "supportdesk:closed") {
      closed();
    } else if (event.data.type === "supportdesk:opened") {
      opened();
    } else if (event.data.type === "supportdesk:page" && typeof event.data.url === "string") {
      page = {
        url: event.data.url,
        title: String(event.data.title || ""),
        referrer: String(event.data.referrer || ""),
      };
      sendContext();
    }
  });
}

/** "Tell me where we are"; and the inbox's look, for the launcher on the host page. */
export function announceReady() {
  const body = document.body;
  window.parent.postMessage(
    {
      type: "supportdesk:ready",
      accent: body.dataset.accent,
      ink: body.dataset.accentInk,
      position: body.dataset.launcherPosition,
    },
    "*"
  );
}
