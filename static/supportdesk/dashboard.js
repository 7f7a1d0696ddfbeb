/**
 * The agent dashboard: one socket for the lists, the team's presence and the open conversation.
 * Opening a conversation (htmx swaps #workspace) tells the socket to follow it from its last
 * seq; what the agent sees in a visible tab is reported as read (all their tabs clear the badge).
 * Also here: list tabs, notifications (desktop, tab title, sound), saved replies ("/"), the
 * reply/note switch and keyboard shortcuts (the "?" overlay lists them).
 */
(function () {
  "use strict";

  const body = document.body;
  const statusEl = document.getElementById("connection-status");
  const sidebar = document.querySelector(".sidebar");
  const agentKey = `supportdesk:agent:${body.dataset.agent}`;
  const baseTitle = document.title;

  function store(key, value) {
    try {
      if (value === undefined) return localStorage.getItem(`${agentKey}:${key}`);
      localStorage.setItem(`${agentKey}:${key}`, value);
    } catch (_) { /* storage blocked: settings last for the page */ }
    return null;
  }

  function openLog() {
    return document.querySelector("#pane .log");
  }

  function openId() {
    const log = openLog();
    return log ? Number(log.dataset.conversation) : null;
  }

  function follow(c) {
    const log = openLog();
    c.send({
      type: "resume",
      conversation: log ? Number(log.dataset.conversation) : null,
      after: log ? window.Realtime.lastSeq(log) : 0,
    });
  }

  // ---- Read state: what a visible pane shows is read -------------------------------------
  let readSent = { conversation: null, seq: 0 };

  function reportRead() {
    const log = openLog();
    if (!log) return;
    const conversation = Number(log.dataset.conversation);
    const seq = window.Realtime.seenSeq(log); // what was on screen (a search hit opens mid-chat)
    if (!seq || (readSent.conversation === conversation && readSent.seq >= seq)) return;
    if (conn.send({ type: "read", conversation, seq })) readSent = { conversation, seq };
  }
  // The agent scrolled, or the log was resized: report it (once per frame at most).
  window.Realtime.onView(reportRead);
  let readFrame = 0;
  function reportReadSoon() {
    cancelAnimationFrame(readFrame);
    readFrame = requestAnimationFrame(reportRead);
  }

  function markOpenRow() {
    const id = openId();
    for (const link of document.querySelectorAll(".row__link[aria-current]")) link.removeAttribute("aria-current");
    if (id === null) return;
    const row = document.getElementById(`conv-row-${id}`);
    if (row) row.querySelector(".row__link").setAttribute("aria-current", "page");
  }

  // ---- Composer: replies and internal notes share one outbox --------------------------------
  let composer = null;

  function goToLogin() {
    window.location.assign(`${body.dataset.loginUrl}?next=${encodeURIComponent(location.pathname)}`);
  }

  function csrfToken() {
    return JSON.parse(body.getAttribute("hx-headers"))["X-CSRFToken"];
  }

  function setMode(form, mode) {
    form.dataset.mode = mode;
    form.action = mode === "note" ? form.dataset.noteUrl : form.dataset.replyUrl;
    const input = form.querySelector("textarea");
    input.placeholder =
      mode === "note"
        ? "Write an internal note… only agents see it"
        : "Write a reply… (Enter sends, Shift+Enter for a new line, / for saved replies)";
    form.querySelector(`input[name=mode][value=${mode}]`).checked = true;
    form.querySelector(`label[for=${input.id}]`).textContent = mode === "note" ? "Internal note" : "Reply";
  }

  function attachComposer() {
    const form = document.querySelector("#pane .composer");
    if (!form || form.dataset.attached) return;
    form.dataset.attached = "1";
    // One outbox for all of this agent's replies and notes; each entry keeps its own URL.
    composer = window.Composer.attach(form, {
      // Per user: replies queued by one agent are never sent under another's login.
      outboxKey: `${agentKey}:outbox`,
      log: openLog,
      uploads: {
        url: () => form.dataset.uploadUrl,
        discardUrl: (key) => form.dataset.discardUrl.replace("FILEKEY", encodeURIComponent(key)),
        dropZone: form.closest("section") || form, // the conversation pane
      },
      headers: async () => ({ "X-CSRFToken": csrfToken() }),
      socket: () => conn,
      // A reply names its conversation; a note goes over HTTP (its own URL).
      socketFrame(entry) {
        const reply = /\/conversations\/(\d+)\/messages$/.exec(new URL(entry.url, location.href).pathname);
        return reply ? { conversation: Number(reply[1]) } : null;
      },
      async onUnauthorized() {
        goToLogin(); // the queued reply stays in the outbox and goes after logging in again
      },
    });
    for (const radio of form.querySelectorAll("input[name=mode]")) {
      radio.addEventListener("change", () => setMode(form, radio.value));
    }
    attachCanned(form);
    const input = form.querySelector("textarea");
    window.Realtime.watchTyping(
      input,
      () => (form.dataset.mode === "note" ? null : openId()), // notes are not typing to anyone
      (frame) => conn.send(frame)
    );
    const log = openLog();
    // Opened from a search hit: that message, in the middle, marked; else the newest.
    const pane = document.getElementById("pane");
    const found = pane && pane.dataset.foundSeq
      ? document.getElementById(`msg-${pane.dataset.conversation}-${pane.dataset.foundSeq}`)
      : null;
    if (found) {
      found.classList.add("msg--found");
      found.setAttribute("aria-current", "true");
      found.tabIndex = -1;
      window.Realtime.scrollToMessage(log, found);
      found.focus({ preventScroll: true }); // a screen reader starts there too
    } else {
      window.Realtime.scrollToEnd(log);
    }
  }

  // ---- Saved replies: "/" + shortcut in the reply box ---------------------------------------
  function attachCanned(form) {
    const input = form.querySelector("textarea");
    const list = form.querySelector(".canned");
    const data = document.getElementById("canned-data");
    const canned = data ? JSON.parse(data.textContent) : [];
    let matches = [];
    let active = 0;

    function close() {
      list.hidden = true;
      matches = [];
      input.removeAttribute("aria-activedescendant");
    }

    function render() {
      list.replaceChildren(
        ...matches.map((c, i) => {
          const li = document.createElement("li");
          li.id = `canned-${i}`;
          li.setAttribute("role", "option");
          li.setAttribute("aria-selected", String(i === active));
          const key = document.createElement("strong");
          key.textContent = `/${c.shortcut}`;
          const text = document.createElement("span");
          text.textContent = ` ${c.body}`;
          li.append(key, text);
          li.addEventListener("mousedown", (event) => {
            event.preventDefault();
            choose(i);
          });
          return li;
        })
      );
      list.hidden = matches.length === 0;
      if (matches.length) input.setAttribute("aria-activedescendant", `canned-${active}`);
    }

    function choose(i) {
      input.value = matches[i].body;
      input.dispatchEvent(new Event("input", { bubbles: true })); // the box grows to fit
      close();
      input.focus();
      input.setSelectionRange(input.value.length, input.value.length);
    }

    input.addEventListener("input", () => {
      const typed = /^\/(\S*)$/.exec(input.value);
      if (!typed || !canned.length) return close();
      const prefix = typed[1].toLowerCase();
      matches = canned.filter((c) => c.shortcut.toLowerCase().startsWith(prefix));
      active = 0;
      render();
    });
    input.addEventListener("blur", close);
    // Capture phase on the form: runs before the composer's Enter-to-send on the textarea.
    form.addEventListener(
      "keydown",
      (event) => {
        if (list.hidden || event.target !== input) return;
        if (event.key === "ArrowDown" || event.key === "ArrowUp") {
          active = (active + (event.key === "ArrowDown" ? 1 : matches.length - 1)) % matches.length;
          render();
        } else if (event.key === "Enter" || event.key === "Tab") {
          choose(active);
        } else if (event.key === "Escape") {
          close();
        } else {
          return;
        }
        event.preventDefault();
        event.stopPropagation();
      },
      true
    );
  }

  // ---- List tabs ------------------------------------------------------------------------
  const VIEWS = ["waiting", "mine", "open", "ended"];

  function showView(view) {
    if (!VIEWS.includes(view)) view = "open";
    sidebar.dataset.view = view;
    for (const tab of document.querySelectorAll("[data-view-button]")) {
      tab.setAttribute("aria-selected", String(tab.dataset.viewButton === view));
    }
    store("view", view);
  }

  for (const tab of document.querySelectorAll("[data-view-button]")) {
    tab.addEventListener("click", () => showView(tab.dataset.viewButton));
  }

  // ---- Notifications: desktop, tab title, sound ------------------------------------------
  const notifyButton = document.getElementById("notify-toggle");
  const soundButton = document.getElementById("sound-toggle");
  let soundOn = store("sound") === "on";
  let known = null; // conversation id -> unread count, as last seen; null until the first list
  let knownWaiting = new Set();

  function renderSound() {
    soundButton.textContent = soundOn ? "Sound on" : "Sound off";
    soundButton.setAttribute("aria-pressed", String(soundOn));
  }

  soundButton.addEventListener("click", () => {
    soundOn = !soundOn;
    store("sound", soundOn ? "on" : "off");
    renderSound();
    if (soundOn) beep();
  });

  if ("Notification" in window && Notification.permission === "default") {
    notifyButton.hidden = false;
    notifyButton.addEventListener("click", () => {
      Notification.requestPermission().finally(() => {
        notifyButton.hidden = Notification.permission !== "default";
      });
    });
  }

  let audio = null;
  function beep() {
    try {
      audio = audio || new AudioContext();
      // Made before the agent touched the page, a context starts suspended (autoplay rules).
      if (audio.state === "suspended") audio.resume();
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.08, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.25);
      osc.connect(gain).connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + 0.25);
    } catch (_) { /* no audio: the title and the notification still tell */ }
  }

  function rowSummary(row) {
    return {
      name: row.querySelector(".row__name").textContent,
      preview: row.querySelector(".row__preview").textContent,
    };
  }

  // News is gathered for NOTIFY_GATHER_MS (a reconnect brings its rows frame by frame); more
  // than NOTIFY_BURST at once (back from standby, after an outage) makes one summary
  // notification and one beep, not a flood of them.
  const NOTIFY_BURST = 3;
  const NOTIFY_GATHER_MS = 400;
  const pendingNews = new Map(); // conversation id -> "New chat" | "New message"
  let newsTimer = null;

  function needsAttention(row) {
    return document.hidden || Number(row.dataset.conversation) !== openId();
  }

  function desktopNotification(title, options, onclick) {
    if (!("Notification" in window) || Notification.permission !== "granted" || !document.hidden) return;
    const n = new Notification(title, options);
    n.onclick = () => {
      window.focus();
      onclick();
      n.close();
    };
  }

  // Right-to-left letters (Hebrew, Arabic, Syriac, Thaana, NKo... and their presentation forms)
  // and the directional controls: what may reorder the text around a name.
  const REORDERING = /[\u0590-\u08FF\uFB1D-\uFDFF\uFE70-\uFEFF\u200F\u202A-\u202E\u2066-\u2069]/u;

  /** `text` between isolates (U+2068, U+2069) if it may reorder the plain text around it, as
   *  supportdesk/bidi.py `isolated` does for the server's texts. */
  function isolated(text) {
    return REORDERING.test(text) ? `\u2068${text}\u2069` : text;
  }

  function notify(row, title) {
    const id = row.dataset.conversation;
    const { name, preview } = rowSummary(row);
    desktopNotification(`${title}: ${isolated(name)}`, { body: preview, tag: `conv-${id}` }, () => {
      // The row has been re-rendered since, most likely: find the current one.
      const current = document.getElementById(`conv-row-${id}`);
      if (current) current.querySelector(".row__link").click();
    });
  }

  function notifySummary(count) {
    const body = "Open the desk to see them.";
    desktopNotification(`${count} chats need you`, { body, tag: "supportdesk-summary" }, () => {
      showView("open");
    });
  }

  function flushNews() {
    newsTimer = null;
    const wanted = [];
    for (const [id, title] of pendingNews) {
      // Still this agent's to answer (not taken by a colleague meanwhile)?
      const row = document.querySelector(
        `#list-waiting > #conv-row-${id}, #list-active > #conv-row-${id}[data-mine]`
      );
      if (row) wanted.push([row, title]);
    }
    pendingNews.clear();
    if (wanted.length && soundOn) beep();
    if (wanted.length > NOTIFY_BURST) notifySummary(wanted.length);
    else for (const [row, title] of wanted) notify(row, title);
  }

  /** After every change to the lists: the tab title count, and a notification for each new
   *  chat in the queue and each new unread message (one summary for a burst). */
  function onListsChanged() {
    // Only what is this agent's to answer: the queue and their own chats, not colleagues'.
    const rows = document.querySelectorAll("#list-waiting > [data-conversation], #list-active > [data-mine]");
    const unread = new Map();
    const waiting = new Set();
    for (const row of rows) {
      const id = Number(row.dataset.conversation);
      const badge = row.querySelector(".unread");
      unread.set(id, badge ? Number(badge.dataset.unread) : 0);
      if (row.parentElement.id === "list-waiting") waiting.add(id);
    }
    if (known !== null) {
      for (const row of rows) {
        const id = Number(row.dataset.conversation);
        if (!needsAttention(row)) continue; // news in the chat the agent is looking at
        if (waiting.has(id) && !knownWaiting.has(id) && !known.has(id)) pendingNews.set(id, "New chat");
        // Handed over by a colleague or an admin, or given by automatic assignment.
        else if (!waiting.has(id) && !known.has(id)) pendingNews.set(id, "Assigned to you");
        else if ((unread.get(id) || 0) > (known.get(id) || 0) && !pendingNews.has(id)) {
          pendingNews.set(id, "New message");
        }
      }
      if (pendingNews.size && newsTimer === null) newsTimer = setTimeout(flushNews, NOTIFY_GATHER_MS);
    }
    known = unread;
    knownWaiting = waiting;
    const needing = new Set([...waiting, ...[...unread].filter(([, n]) => n > 0).map(([id]) => id)]);
    document.title = needing.size ? `(${needing.size}) ${baseTitle}` : baseTitle;
  }

  // ---- Visitor's local time ----------------------------------------------------------------
  const zoneClocks = new Map(); // time zone -> its formatter (made once: a formatter is costly)
  function tickLocalTimes() {
    for (const el of document.querySelectorAll("[data-local-time]")) {
      const zone = el.dataset.localTime;
      try {
        if (!zoneClocks.has(zone)) {
          zoneClocks.set(zone, new Intl.DateTimeFormat([], { timeZone: zone, hour: "2-digit", minute: "2-digit" }));
        }
        el.textContent = zoneClocks.get(zone).format(new Date());
      } catch (_) {
        el.textContent = "—"; // an unknown zone name
      }
    }
  }
  setInterval(tickLocalTimes, 30000);

  // ---- Account menu: a disclosure button; Escape or a click elsewhere closes it -------------
  const accountButton = document.querySelector("#account-menu > button");
  const accountItems = document.getElementById("account-menu-items");
  function setAccountMenu(open) {
    accountButton.setAttribute("aria-expanded", String(open));
    accountItems.hidden = !open;
  }
  accountButton.addEventListener("click", () => setAccountMenu(accountItems.hidden));
  document.addEventListener("click", (event) => {
    if (!accountItems.hidden && !event.target.closest("#account-menu")) setAccountMenu(false);
  });
  document.getElementById("account-menu").addEventListener("focusout", (event) => {
    if (!accountItems.hidden && !event.currentTarget.contains(event.relatedTarget)) setAccountMenu(false);
  });
  document.getElementById("account-menu").addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !accountItems.hidden) {
      setAccountMenu(false);
      accountButton.focus();
      event.stopPropagation();
    }
  });

  // ---- Keyboard shortcuts ------------------------------------------------------------------
  const help = document.getElementById("help");
  document.getElementById("help-open").addEventListener("click", () => help.showModal());

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

  // The Transfer button (in the header, which the socket re-renders) opens the form below it;
  // Cancel or Escape closes it.
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

  // A transfer that went through closes its form (the header above it shows the new agent).
  document.body.addEventListener("htmx:afterRequest", (event) => {
    const form = event.target.closest && event.target.closest(".transfer__form");
    if (form && event.detail.successful) form.closest(".transfer").hidden = true;
  });

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
      "/": () => document.getElementById("search-input").focus(),
      "?": () => help.showModal(),
      1: () => showView("waiting"),
      2: () => showView("mine"),
      3: () => showView("open"),
      4: () => showView("ended"),
    };
    const action = actions[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  });

  // ---- The red banner: this page's socket, the desk's database or its real-time path is down --
  // The socket's own state comes from Realtime (shown after a short grace: a quick reconnect
  // should not flash it). The path: the server sends {"type": "realtime", "state": "up"} each
  // time its probe comes back through the channel layer (on connect and every heartbeat), and
  // "down" when the probe cannot go out; no "up" for a heartbeat and a margin means down too.
  // The database: {"type": "database", "state": "down"} while the server's probe of it fails
  // (sends wait in the outbox meanwhile and go when it answers again).
  const banner = document.getElementById("realtime-banner");
  const heartbeat = window.Realtime.heartbeatTiming();
  const PATH_GRACE_MS = heartbeat.pingEveryMs + heartbeat.pongTimeoutMs + 5000;
  const SOCKET_GRACE_MS = 2000;
  let socketDown = false;
  let pathDown = false;
  let databaseDown = false;
  let socketTimer = null;
  let pathTimer = null;

  function renderBanner() {
    const reason = socketDown ? "socket" : databaseDown ? "database" : pathDown ? "path" : "";
    const text = reason ? banner.dataset[`${reason}Text`] : "";
    banner.dataset.reason = reason;
    if (banner.textContent !== text) banner.textContent = text;
    banner.hidden = !text;
  }

  function watchPath() {
    clearTimeout(pathTimer);
    pathTimer = setTimeout(() => { pathDown = true; renderBanner(); }, PATH_GRACE_MS);
  }

  function onSocketState(state) {
    window.Realtime.showStatus(statusEl, state);
    clearTimeout(socketTimer);
    if (state === "open") {
      socketDown = false;
      watchPath();
    } else if (state === "reconnecting" || state === "offline") {
      clearTimeout(pathTimer); // the socket banner says it all; the path is checked on reopen
      socketTimer = setTimeout(() => { socketDown = true; renderBanner(); }, SOCKET_GRACE_MS);
    }
    renderBanner();
  }

  function onPathFrame(frame) {
    pathDown = frame.state !== "up";
    if (pathDown) clearTimeout(pathTimer);
    else watchPath();
    renderBanner();
  }

  // ---- The socket --------------------------------------------------------------------------
  const conn = window.Realtime.connect({
    url: () => window.Realtime.socketUrl(body.dataset.socketPath),
    onOpen(c) {
      readSent = { conversation: null, seq: 0 };
      follow(c);
      if (composer) composer.flush();
    },
    onResync: follow,
    onFrame(frame) {
      if (frame.type === "html") {
        window.Realtime.apply(frame.html);
        markOpenRow();
        // Before the next paint, once for however many frames came: what is on screen is
        // measured then, when the browser lays the page out anyway.
        if (frame.conversation && frame.conversation === openId()) reportReadSoon();
      } else if (frame.type === "synced" && frame.conversation === openId()) {
        reportRead();
      } else if (frame.type === "realtime") {
        onPathFrame(frame);
      } else if (frame.type === "database") {
        databaseDown = frame.state !== "up";
        renderBanner();
      }
    },
    onStatus: onSocketState,
    onDenied: goToLogin,
  });

  // My status as the team sees it, in every tab: another tab may have changed it.
  const availabilitySelect = document.getElementById("availability-select");
  function syncMyStatus() {
    const me = document.getElementById(`member-${document.body.dataset.agent}`);
    const presence = me && me.dataset.presence;
    if ((presence === "online" || presence === "away") && availabilitySelect.value !== presence) {
      availabilitySelect.value = presence;
    }
  }

  document.addEventListener("realtime:applied", () => {
    onListsChanged();
    syncMyStatus();
    tickLocalTimes(); // a visitor panel pushed by the socket shows its time at once
  });
  document.addEventListener("visibilitychange", reportRead);
  // On swap, not settle: the composer must be listening before the agent's first keystroke.
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.target.id === "workspace") {
      follow(conn);
      attachComposer();
      markOpenRow();
      tickLocalTimes();
    }
  });
  // "Show earlier messages": the older page goes in above what the agent is reading, which stays
  // where it is on screen (the log grows upwards; the reader scrolls up into the new part).
  let fromBottom = null;
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    const log = event.target.closest && event.target.closest("ol.log");
    fromBottom = event.target.classList.contains("log__earlier") && log
      ? { log, offset: log.scrollHeight - log.scrollTop }
      : null;
  });
  // On the document, after realtime.js's own afterSettle work (it groups runs of messages and
  // labels days, which changes heights above the reader: the place is kept after that).
  document.addEventListener("htmx:afterSettle", () => {
    if (!fromBottom) return;
    fromBottom.log.scrollTop = fromBottom.log.scrollHeight - fromBottom.offset;
    fromBottom = null;
  });
  showView(store("view") || "open");
  renderSound();
  attachComposer();
  markOpenRow();
  tickLocalTimes();
  onListsChanged();
})();
