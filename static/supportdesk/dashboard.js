/**
 * The agent dashboard: one socket for the lists and the open conversation. Opening a
 * conversation (htmx swaps #workspace) tells the socket to follow it from its last seq.
 */
(function () {
  "use strict";

  const body = document.body;
  const statusEl = document.getElementById("connection-status");

  function openLog() {
    return document.querySelector("#pane .log");
  }

  function follow(c) {
    const log = openLog();
    c.send({
      type: "resume",
      conversation: log ? Number(log.dataset.conversation) : null,
      after: log ? window.Realtime.lastSeq(log) : 0,
    });
  }

  function markOpenRow() {
    const log = openLog();
    for (const link of document.querySelectorAll(".row__link[aria-current]")) link.removeAttribute("aria-current");
    if (!log) return;
    const row = document.getElementById(`conv-row-${log.dataset.conversation}`);
    if (row) row.querySelector(".row__link").setAttribute("aria-current", "page");
  }

  let composer = null;

  function goToLogin() {
    window.location.assign(`${body.dataset.loginUrl}?next=${encodeURIComponent(location.pathname)}`);
  }

  function csrfToken() {
    return JSON.parse(body.getAttribute("hx-headers"))["X-CSRFToken"];
  }

  function attachComposer() {
    const form = document.querySelector("#pane .composer");
    if (!form || form.dataset.attached) return;
    form.dataset.attached = "1";
    // One outbox for all of this agent's replies; each entry is bound to its conversation's URL.
    composer = window.Composer.attach(form, {
      // Per user: replies queued by one agent are never sent under another's login.
      outboxKey: `supportdesk:agent:${body.dataset.agent}:outbox`,
      log: openLog,
      headers: async () => ({ "X-CSRFToken": csrfToken() }),
      async onUnauthorized() {
        goToLogin(); // the queued reply stays in the outbox and goes after logging in again
      },
    });
    const log = openLog();
    log.scrollTop = log.scrollHeight;
  }

  const conn = window.Realtime.connect({
    url: () => window.Realtime.socketUrl(body.dataset.socketPath),
    onOpen(c) {
      follow(c);
      if (composer) composer.flush();
    },
    onResync: follow,
    onFrame(frame) {
      if (frame.type === "html") {
        window.Realtime.apply(frame.html);
        markOpenRow();
      }
    },
    onStatus: (state) => window.Realtime.showStatus(statusEl, state),
    onDenied: goToLogin,
  });

  document.body.addEventListener("htmx:afterSettle", (event) => {
    if (event.target.id === "workspace") {
      follow(conn);
      attachComposer();
      markOpenRow();
    }
  });
  attachComposer();
  markOpenRow();
})();
