/**
 * The widget and the page that embeds it (embed.js draws the launcher there): messages both
 * ways over postMessage. Up: ready (with the inbox's look), close, the unread count
 * (reading.js), the answers to the SDK's calls and new agent messages (relayMessages). Down:
 * opened, closed, where the visitor is on the host site, which agents see live (sendContext),
 * and the SDK's calls (docs/API.md, "JavaScript SDK").
 */

import { currentToken } from "./session.js";

let page = null;
let sentPage = null;
let sentFor = null; // the token the page was told for: a new visitor is told again
// The embedding page's origin, as the browser reports it on the page's messages: what carries
// a message's text goes there only, never to "*".
let hostOrigin = null;
let attributes = null; // setAttributes() before there is a session: sent when there is one

function toHost(data) {
  if (hostOrigin && hostOrigin !== "null") window.parent.postMessage(data, hostOrigin);
}

/** Tell the desk where the visitor is (once per page of the host site, once there is a
 *  session: `sessionMade` calls it again). */
export function sendContext() {
  const token = currentToken();
  if (!page || !token || (sentPage === page && sentFor === token)) return;
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
      if (r.ok) {
        sentPage = current;
        sentFor = token;
      }
    })
    .catch(() => {}); // best effort: the next page view tells again
}

function closeWidget() {
  window.parent.postMessage({ type: "supportdesk:close" }, "*");
}

/** Ask the host page to open the chat (a call rings: the visitor must see it). */
export function openWidget() {
  window.parent.postMessage({ type: "supportdesk:open" }, "*");
}

/** The host page's `Supportdesk.setAttributes()`: stored on the visitor, shown to agents beside
 *  the chat. A page view alone stores nothing: without a session they wait for one (sendAttributes
 *  when it is made), merged, and the promise with them. Resolves when stored; rejects with the
 *  desk's reason (too large, not flat...). */
export function setAttributes(values) {
  if (!attributes) attributes = { values: {}, waiting: [] };
  Object.assign(attributes.values, values);
  const done = new Promise((resolve, reject) => attributes.waiting.push({ resolve, reject }));
  sendAttributes();
  return done;
}

/** Send the attributes set before the session, once there is one (`sessionMade`). */
export function sendAttributes() {
  const token = currentToken();
  if (!attributes || !token) return;
  const { values, waiting } = attributes;
  attributes = null;
  const answer = fetch(new URL("attributes", location.href), {
    method: "POST",
    headers: { "X-Visitor-Token": token, "Content-Type": "application/json" },
    body: JSON.stringify({ attributes: values }),
  }).then(async (r) => {
    if (r.ok) return;
    const refusal = await r.json().catch(() => ({ error: `http_${r.status}` }));
    throw new Error(`${refusal.error}${refusal.message ? `: ${refusal.message}` : ""}`);
  });
  for (const { resolve, reject } of waiting) answer.then(resolve, reject);
}

/** The desk's messages (an agent's, a bot's) in a socket frame's `html` that `applyIt()` puts
 *  on screen for the first time: told to the host page (`Supportdesk.on("message")`), once
 *  each. What the log shows already (history, a resume's repeats) is not news; internal notes
 *  never reach this side. */
export function relayMessages(html, applyIt) {
  if (!hostOrigin || !/msg--(agent|bot)/.test(html)) return applyIt();
  const parsed = document.createElement("template");
  parsed.innerHTML = html;
  const fresh = [...parsed.content.querySelectorAll("li:is(.msg--agent, .msg--bot)[data-seq]")].filter(
    (li) => !document.getElementById(li.id)
  );
  applyIt();
  for (const li of fresh) {
    if (!document.getElementById(li.id)) continue; // not applied: its log is not shown
    const bubble = li.querySelector(".msg__bubble");
    const time = li.querySelector("time");
    toHost({
      type: "supportdesk:message",
      message: {
        conversation: Number(li.dataset.container.replace("log-", "")),
        seq: Number(li.dataset.seq),
        body: bubble ? bubble.textContent : "",
        author: (li.dataset.author || "").replace(/^(agent|bot):/, ""),
        sender: li.classList.contains("msg--bot") ? "bot" : "agent",
        at: time ? time.getAttribute("datetime") : null,
      },
    });
  }
}

/** The SDK's calls, one at a time in the order the page made them (an identify before a
 *  setAttributes sets them on the signed-in user); `handlers[method](args)` answers with a
 *  promise ("reload": answered, then this page reloads). A refusal is said in the console
 *  here, and rejects the page's promise. */
function answerCalls(handlers) {
  let previous = Promise.resolve();
  return ({ id, method, args }) => {
    previous = previous.then(() => {
      const handler = Object.hasOwn(handlers, method) ? handlers[method] : null;
      const result = handler
        ? Promise.resolve().then(() => handler(args || {}))
        : Promise.reject(new Error("unknown_method"));
      result.then(
        (done) => {
          toHost({ type: "supportdesk:result", id, reload: done === "reload" });
          if (done === "reload") location.reload(); // answered first: the page hears it
        },
        (error) => {
          console.warn(`Supportdesk.${method}: refused (${error.message}).`);
          toHost({ type: "supportdesk:result", id, error: error.message });
        }
      );
      // Attributes may wait for a session (setAttributes): what comes after does not wait.
      return method === "setAttributes" ? null : result.catch(() => {});
    });
  };
}

/** Attributes still waiting for a session, when this visitor is forgotten (a logout). */
export function dropAttributes() {
  for (const { reject } of attributes ? attributes.waiting : []) reject(new Error("logged_out"));
  attributes = null;
}

/** Listen to the host page: `opened()` and `closed()` when the visitor opens or closes the
 *  chat there, `calls` for the SDK's (answerCalls). The close button and Escape ask it to
 *  close the chat (focus goes back to the launcher, as in any dialog). */
export function installHost({ opened, closed, calls }) {
  const answer = answerCalls(calls);
  document.querySelector("[data-close]").addEventListener("click", closeWidget);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !event.defaultPrevented) closeWidget();
  });
  window.addEventListener("message", (event) => {
    if (event.source !== window.parent || !event.data) return;
    hostOrigin = event.origin;
    if (event.data.type === "supportdesk:call") {
      answer(event.data);
    } else if (event.data.type === "supportdesk:closed") {
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
