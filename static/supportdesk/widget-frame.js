/**
 * The widget page (inside the iframe). Keeps the visitor's token in this iframe's localStorage,
 * creates a visitor session only when the visitor opens the chat or writes (a page view alone
 * stores nothing), loads the conversation, and follows it over the socket. This module wires
 * the parts in widget/ together:
 *   session.js       the token, the signed-in user, the link from an email
 *   conversation.js  the log: load it, follow the newest conversation
 *   reading.js       read receipts and the launcher's unread badge
 *   prechat.js       the pre-chat form
 *   host.js          messages to and from the embedding page, the visitor's context
 *   quick-replies.js a bot's suggested replies, sent through the composer
 */

// First: its htmx listeners must run before this page's.
import "./realtime/page.js";

import { attach } from "./composer.js";
import { installImageViewer } from "./image-viewer.js";
import { apply } from "./realtime/apply.js";
import { scrollToEnd } from "./realtime/log.js";
import { connect, socketUrl } from "./realtime/socket.js";
import { showStatus } from "./realtime/status.js";
import { watchTyping } from "./realtime/typing.js";
import { conversationView, log, resume } from "./widget/conversation.js";
import {
  announceReady, dropAttributes, installHost, openWidget, relayMessages, sendAttributes,
  sendContext, setAttributes,
} from "./widget/host.js";
import { installCalls } from "./call/session.js";
import { installPrechat } from "./widget/prechat.js";
import { installQuickReplies } from "./widget/quick-replies.js";
import { installReadReports, postUnread, reportRead, setOpen } from "./widget/reading.js";
import {
  KEY, currentToken, ensureSession, forgetVisitor, identify, joinFromOtherTabs, needsIdentity,
  saveToken, startSession,
} from "./widget/session.js";

installImageViewer();
const body = document.body;
// The inbox's accent colour and the ink readable on it (chat/contrast.py): set here, not in a
// style attribute, which the page's CSP forbids.
const COLOUR = /^#[0-9a-fA-F]{6}$/;
for (const [name, value] of [
  ["--accent", body.dataset.accent],
  ["--accent-ink", body.dataset.accentInk],
  ["--accent-mark", body.dataset.accentMark],
]) {
  if (COLOUR.test(value || "")) body.style.setProperty(name, value);
}

let conn = null;
// An agent's call (docs/CALLS.md): it rings in the chat, which opens for it.
const calls = installCalls({
  role: "visitor",
  send: (frame) => (conn ? conn.send(frame) : false),
  onRing: openWidget,
});
startSession((changed) => {
  if (changed && conn) {
    conn.close(); // the socket spoke for the visitor this browser was until now
    conn = null;
  }
  follow();
  sendContext();
  sendAttributes();
});
const chat = conversationView({ connection: () => conn, restore: () => composer.restore() });

function follow() {
  if (conn || !currentToken()) return;
  conn = connect({
    url: () => socketUrl(body.dataset.socketPath),
    // The token travels as a subprotocol, not in the URL (proxies log URLs). A subprotocol
    // allows no ':', so they travel as '~' (chat/tokens.py).
    protocols: () => {
      const token = currentToken();
      return ["supportdesk.v1", `token.${token.replaceAll(":", "~")}`];
    },
    onOpen(c) {
      chat.catchUp();
      resume(c);
      composer.flush(); // whatever waited for the connection goes now, in order
      if (calls) calls.onOpen();
    },
    onResync: resume,
    onFrame(frame) {
      if (calls && calls.onFrame(frame)) return;
      if (frame.type === "token") saveToken(frame.token); // the old one was due for rotation
      if (frame.type === "synced") reportRead(conn);
      if (frame.type !== "html") return;
      if (frame.conversation) chat.adopt(frame.conversation);
      relayMessages(frame.html, () => apply(frame.html));
      if (frame.conversation) reportRead(conn);
    },
    onStatus: (state) => showStatus(document.getElementById("connection-status"), state),
    onDenied() {
      // Expired or revoked token: start a fresh session, keep the page.
      conn.close();
      conn = null;
      saveToken(null);
      ensureSession().then(chat.load);
    },
  });
}

body.addEventListener("htmx:configRequest", (event) => {
  const token = currentToken();
  if (token) event.detail.headers["X-Visitor-Token"] = token;
});
body.addEventListener("htmx:responseError", (event) => {
  if (event.detail.xhr.status === 401) {
    saveToken(null);
    ensureSession().then(chat.load);
  }
});

const composerForm = document.getElementById("composer");
const composer = attach(composerForm, {
  outboxKey: `${KEY}:outbox`,
  uploads: {
    url: () => composerForm.dataset.uploadUrl,
    discardUrl: (key) => composerForm.dataset.discardUrl.replace("FILEKEY", encodeURIComponent(key)),
    dropZone: document.body, // the whole widget
  },
  log,
  headers: async () => ({ "X-Visitor-Token": await ensureSession() }),
  socket: () => conn,
  socketFrame: () => ({}), // the server knows the visitor's open chat (or starts one)
  onStored({ conversation: id }) {
    // A new conversation: follow it now. What happened to it before this socket knew of it
    // (an agent assigned at once) rang for nobody here; the resume fetches it.
    if (id && chat.adopt(id) && conn) resume(conn);
  },
  async onUnauthorized() {
    saveToken(null);
    await ensureSession();
  },
});

installPrechat();
installQuickReplies(composerForm);
installReadReports(() => conn);
watchTyping(
  document.getElementById("composer-input"),
  () => Number(log().dataset.conversation) || null, // nothing to say before the first message
  (frame) => (conn ? conn.send(frame) : false)
);
installHost({
  closed() {
    setOpen(false);
    postUnread();
  },
  opened() {
    setOpen(true);
    scrollToEnd(log()); // opening shows the newest message (and reports it)
    reportRead(conn);
    const first = body.dataset.prechat === "needed" ? "prechat-name" : "composer-input";
    document.getElementById(first).focus();
    // Opening the chat starts the session (a page view alone stores nothing), so the
    // socket tells the visitor live whether anyone is online to answer.
    ensureSession().catch(() => {}); // offline: the first message tries again
  },
  // The host page's SDK (docs/API.md, "JavaScript SDK"): its calls, one at a time, in order.
  calls: {
    identify: (user) =>
      identify({
        user_id: String(user.userId ?? ""),
        email: String(user.email ?? ""),
        name: String(user.name ?? ""),
        timestamp: String(user.timestamp ?? ""),
        signature: String(user.signature ?? ""),
      }).then((changed) => {
        // Show the user's chat, as a page that names them at load does (needsIdentity below).
        if (changed) return chat.load().catch(() => {}).then(follow);
      }),
    logout() {
      forgetVisitor();
      dropAttributes();
      return "reload"; // nothing of theirs stays on screen, nor in memory
    },
    setAttributes,
  },
});
joinFromOtherTabs(() => chat.load().catch(() => {}).then(follow));
announceReady();

if (needsIdentity()) {
  // A signed-in user new to this browser: link now, while the signature is fresh, and show
  // what they wrote on their other devices.
  ensureSession().then(chat.load).catch(() => {}).then(follow);
} else if (currentToken()) {
  // A returning visitor: load the conversation first, then follow it from its last seq; if
  // the load fails (offline, a deploy), follow anyway: the socket's resume fills the log.
  chat.load().catch(() => {}).then(follow);
}
