/**
 * The widget page (inside the iframe). Keeps the visitor's token in this iframe's localStorage,
 * creates a visitor session only when the visitor opens the chat or writes (a page view alone
 * stores nothing), loads the conversation, and follows it over the socket.
 */
(function () {
  "use strict";

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
  const KEY = `supportdesk:${body.dataset.inbox}`;
  const TOKEN_KEY = `${KEY}:token`;
  const IDENTITY_KEY = `${KEY}:identity`; // the host site's user id the stored token belongs to
  const statusEl = document.getElementById("connection-status");
  const fragment = readFragment();
  const identity = readIdentity();
  forgetAnotherUser();
  let token = readToken();
  if (typeof fragment.visitor_token === "string" && fragment.visitor_token !== token) {
    // The link in an email: that visitor's chat, whoever used this browser before.
    forgetStored();
    saveToken(fragment.visitor_token);
  }
  let conn = null;
  let sessionPromise = null;
  let identityTried = false;

  function stored(key) {
    try {
      return localStorage.getItem(key);
    } catch (_) {
      return null; // storage blocked: the session lasts as long as the page
    }
  }

  function store(key, value) {
    try {
      if (value) localStorage.setItem(key, value);
      else localStorage.removeItem(key);
    } catch (_) { /* storage blocked */ }
  }

  function readToken() {
    return stored(TOKEN_KEY);
  }

  function saveToken(value) {
    token = value;
    store(TOKEN_KEY, value);
  }

  /** What our URL's fragment hands over, read once and cleared: the signed-in user the host
   *  page vouches for (embed.js), or a visitor's own token from the link in an email that
   *  reopens their chat (mail.views.continue_chat). A fragment never reaches a server. */
  function readFragment() {
    const raw = location.hash.slice(1);
    if (!raw) return {};
    history.replaceState(null, "", location.pathname + location.search);
    try {
      const value = JSON.parse(decodeURIComponent(raw));
      return value && typeof value === "object" ? value : {};
    } catch (_) {
      return {};
    }
  }

  function readIdentity() {
    return typeof fragment.user_id === "string" ? fragment : null;
  }

  /** This browser's chat belongs to a signed-in user, and the page now shows nobody or someone
   *  else (signed out; another person on a shared computer): start afresh, before anything of
   *  theirs is shown. Their chats stay theirs, on the desk and wherever they sign in. */
  function forgetAnotherUser() {
    const linked = stored(IDENTITY_KEY);
    if (!linked || (identity && identity.user_id === linked)) return;
    forgetStored();
  }

  /** Everything this browser keeps of the person before: their unsent messages too (sent now,
   *  they would go out in the next person's name), their token, identity and profile. */
  function forgetStored() {
    try {
      const names = Object.keys(localStorage).filter((name) => name.startsWith(`${KEY}:outbox:`));
      for (const name of names) localStorage.removeItem(name);
    } catch (_) { /* storage blocked */ }
    for (const suffix of [":token", ":identity", ":profile"]) store(KEY + suffix, null);
  }

  function needsIdentity() {
    return Boolean(identity) && !identityTried && stored(IDENTITY_KEY) !== identity.user_id;
  }

  function ensureSession() {
    token = token || readToken(); // another tab may have started the session
    if (token && !needsIdentity()) return Promise.resolve(token);
    if (!sessionPromise) {
      const linking = needsIdentity();
      identityTried = true; // once per page: a refused signature will not pass on a retry
      sessionPromise = fetch(body.dataset.sessionUrl, {
        method: "POST",
        headers: token ? { "X-Visitor-Token": token } : {},
        body: linking ? new URLSearchParams(identity) : null,
      })
        .then((r) => {
          if (!r.ok) throw new Error(`session: HTTP ${r.status}`);
          return r.json();
        })
        .then((data) => {
          if (data.identity === "verified") {
            store(IDENTITY_KEY, identity.user_id);
            body.dataset.prechat = "done"; // the site told us who this is
          } else if (data.identity === "rejected") {
            console.warn(`Supportdesk: the signed-in user was not verified (${data.identity_error}).`);
          }
          const changed = data.token !== token;
          saveToken(data.token);
          if (changed && conn) {
            conn.close(); // the socket spoke for the visitor this browser was until now
            conn = null;
          }
          follow();
          sendContext();
          return token;
        })
        .finally(() => {
          sessionPromise = null;
        });
    }
    return sessionPromise;
  }

  function log() {
    return document.querySelector("#conversation .log");
  }

  function loadConversation() {
    return window.htmx
      .ajax("GET", body.dataset.conversationUrl, { target: "#conversation", swap: "innerHTML" })
      .then(() => {
        composer.restore(); // the swap took the queued bubbles with the old log
        window.Realtime.scrollToEnd(log()); // a new log: it opens at its newest message
        if (conn) resume(conn); // and anything the socket applied to the old log meanwhile
      });
  }

  /** Show `conversationId` in the log: the first one, or a new one after an ended chat.
   *  Conversation ids only grow, so an answer about an older one (a retried send that was
   *  stored before the chat ended) never replaces the newer conversation on screen.
   *  True if the empty log now follows it (resume it); a new chat after one that the log shows
   *  is loaded from the server instead, with the ended one folded above it as a returning
   *  visitor sees it (one markup for both), and the load resumes it. */
  let loading = 0; // the newer conversation being loaded, if any
  let newest = 0; // the newest conversation heard of: a reconnect loads it if the log lags
  function adopt(conversationId) {
    const current = log();
    const id = Number(conversationId);
    const shown = Number(current.dataset.conversation || 0);
    newest = Math.max(newest, id);
    if (shown >= id || loading >= id) return false;
    if (shown) {
      loading = id;
      loadConversation()
        .catch(() => {}) // offline, or the desk restarting
        .finally(() => {
          // Not shown after all (an error, or a 5xx htmx did not swap in): the next frame about
          // it, or the next reconnect (onOpen), tries again.
          if (Number(log().dataset.conversation || 0) < id) loading = 0;
        });
      return false;
    }
    current.id = `log-${id}`;
    current.dataset.conversation = String(id);
    return true;
  }

  function resume(c) {
    const current = log();
    c.send({
      type: "resume",
      conversation: current.dataset.conversation ? Number(current.dataset.conversation) : null,
      after: window.Realtime.lastSeq(current),
    });
  }

  function follow() {
    if (conn || !token) return;
    conn = window.Realtime.connect({
      url: () => window.Realtime.socketUrl(body.dataset.socketPath),
      // The token travels as a subprotocol, not in the URL (proxies log URLs). A subprotocol
      // allows no ':', so they travel as '~' (chat/tokens.py).
      protocols: () => ["supportdesk.v1", `token.${token.replaceAll(":", "~")}`],
      onOpen(c) {
        if (newest > Number(log().dataset.conversation || 0) && !loading) adopt(newest);
        resume(c);
        composer.flush(); // whatever waited for the connection goes now, in order
      },
      onResync: resume,
      onFrame(frame) {
        if (frame.type === "token") saveToken(frame.token); // the old one was due for rotation
        if (frame.type === "synced") reportRead();
        if (frame.type !== "html") return;
        if (frame.conversation) adopt(frame.conversation);
        window.Realtime.apply(frame.html);
        if (frame.conversation) reportRead();
      },
      onStatus: (state) => window.Realtime.showStatus(statusEl, state),
      onDenied() {
        // Expired or revoked token: start a fresh session, keep the page.
        conn.close();
        conn = null;
        saveToken(null);
        ensureSession().then(loadConversation);
      },
    });
  }

  document.body.addEventListener("htmx:configRequest", (event) => {
    if (token) event.detail.headers["X-Visitor-Token"] = token;
  });
  document.body.addEventListener("htmx:responseError", (event) => {
    if (event.detail.xhr.status === 401) {
      saveToken(null);
      ensureSession().then(loadConversation);
    }
  });

  const composerForm = document.getElementById("composer");
  const composer = window.Composer.attach(composerForm, {
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
      if (id && adopt(id) && conn) resume(conn);
    },
    async onUnauthorized() {
      saveToken(null);
      await ensureSession();
    },
  });

  // ---- Pre-chat form (if the inbox asks): name and email before the first message ----------
  const PROFILE_KEY = `${KEY}:profile`;
  const prechat = document.getElementById("prechat");
  if (prechat) {
    let given = false;
    try {
      given = localStorage.getItem(PROFILE_KEY) === "1";
    } catch (_) { /* storage blocked: ask again */ }
    if (given) body.dataset.prechat = "done";
    prechat.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = prechat.querySelector(".form-error");
      error.hidden = true;
      try {
        const response = await fetch(body.dataset.profileUrl, {
          method: "POST",
          headers: { "X-Visitor-Token": await ensureSession() },
          body: new URLSearchParams(new FormData(prechat)),
        });
        if (!response.ok) {
          error.textContent = (await response.json()).message;
          error.hidden = false;
          return;
        }
      } catch (_) {
        error.textContent = window.Realtime.t("Not sent");
        error.hidden = false;
        return;
      }
      try {
        localStorage.setItem(PROFILE_KEY, "1");
      } catch (_) { /* storage blocked */ }
      body.dataset.prechat = "done";
      // The address is known now: no need to ask for it again when nobody is online.
      const capture = document.getElementById("email-capture");
      if (capture) capture.remove();
      document.getElementById("composer-input").focus();
    });
  }

  // ---- Visitor context: the host page tells us where the visitor is; agents see it live ----
  let page = null;
  let sentPage = null;

  function sendContext() {
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
    fetch(body.dataset.contextUrl, { method: "POST", headers: { "X-Visitor-Token": token }, body: data })
      .then((r) => {
        if (r.ok) sentPage = current;
      })
      .catch(() => {}); // best effort: the next page view tells again
  }

  // ---- Read receipts: what the visitor sees with the chat open counts as read ----------------
  let isOpen = false;
  let readSent = { conversation: 0, seq: 0 };

  /** The launcher's badge (drawn by the embed script on the host page): agent messages the
   *  visitor has not seen. Seen means shown with the chat open, here or in an earlier visit. */
  let badgeSent = -1;
  function postUnread() {
    const current = log();
    const conversation = Number(current.dataset.conversation);
    let count = 0;
    if (!isOpen && conversation) {
      const seen = Math.max(
        Number(current.dataset.visitorRead || 0),
        readSent.conversation === conversation ? readSent.seq : 0
      );
      for (const msg of current.querySelectorAll(":scope > .msg--agent[data-seq]")) {
        if (Number(msg.dataset.seq) > seen) count += 1;
      }
    }
    if (count === badgeSent) return;
    badgeSent = count;
    window.parent.postMessage({ type: "supportdesk:unread", count }, "*");
  }
  document.addEventListener("realtime:applied", postUnread);
  document.body.addEventListener("htmx:afterSettle", postUnread);

  /** How far the visitor can have read (Realtime.seenSeq), and nothing while the chat is
   *  closed: replies that came meanwhile are not read until it opens. */
  function seenSeq(current) {
    return isOpen ? window.Realtime.seenSeq(current) : 0;
  }

  function reportRead() {
    postUnread();
    const current = log();
    const conversation = Number(current.dataset.conversation);
    if (!conn || !conversation) return;
    const seq = seenSeq(current);
    if (!seq || (readSent.conversation === conversation && readSent.seq >= seq)) return;
    if (conn.send({ type: "read", conversation, seq })) readSent = { conversation, seq };
  }
  document.addEventListener("visibilitychange", reportRead);
  // The reader scrolled, or the log was resized or shown: report it (once per frame at most).
  window.Realtime.onView(reportRead);

  window.Realtime.watchTyping(
    document.getElementById("composer-input"),
    () => Number(log().dataset.conversation) || null, // nothing to say before the first message
    (frame) => (conn ? conn.send(frame) : false)
  );

  function closeWidget() {
    window.parent.postMessage({ type: "supportdesk:close" }, "*");
  }
  document.querySelector("[data-close]").addEventListener("click", closeWidget);
  // Escape closes the chat (focus goes back to the launcher), as in any dialog.
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !event.defaultPrevented) closeWidget();
  });
  window.addEventListener("message", (event) => {
    if (event.source !== window.parent || !event.data) return;
    if (event.data.type === "supportdesk:closed") {
      isOpen = false;
      postUnread();
    } else if (event.data.type === "supportdesk:opened") {
      isOpen = true;
      window.Realtime.scrollToEnd(log()); // opening shows the newest message (and reports it)
      reportRead();
      const first = body.dataset.prechat === "needed" ? "prechat-name" : "composer-input";
      document.getElementById(first).focus();
      // Opening the chat starts the session (a page view alone stores nothing), so the
      // socket tells the visitor live whether anyone is online to answer.
      ensureSession().catch(() => {}); // offline: the first message tries again
    } else if (event.data.type === "supportdesk:page" && typeof event.data.url === "string") {
      page = {
        url: event.data.url,
        title: String(event.data.title || ""),
        referrer: String(event.data.referrer || ""),
      };
      sendContext();
    }
  });

  window.addEventListener("storage", (event) => {
    // The visitor started chatting in another tab: this one joins the same conversation.
    if (event.key === TOKEN_KEY && event.newValue && !token) {
      token = event.newValue;
      loadConversation().catch(() => {}).then(follow);
    }
  });

  // "Tell me where we are"; and the inbox's look, for the launcher on the host page.
  window.parent.postMessage(
    {
      type: "supportdesk:ready",
      accent: body.dataset.accent,
      ink: body.dataset.accentInk,
      position: body.dataset.launcherPosition,
    },
    "*"
  );

  if (needsIdentity()) {
    // A signed-in user new to this browser: link now, while the signature is fresh, and show
    // what they wrote on their other devices.
    ensureSession().then(loadConversation).catch(() => {}).then(follow);
  } else if (token) {
    // A returning visitor: load the conversation first, then follow it from its last seq; if
    // the load fails (offline, a deploy), follow anyway: the socket's resume fills the log.
    loadConversation().catch(() => {}).then(follow);
  }
})();
