/**
 * Supportdesk realtime module, shared by the widget and the dashboard.
 *
 * It owns the page's socket and only moves server-rendered HTML; it renders nothing itself.
 *
 *   const conn = Realtime.connect({
 *     url: () => "wss://desk/ws/...",      // called on every (re)connect
 *     protocols: () => ["..."],             // optional, likewise: subprotocols to offer
 *     onOpen(conn) {},                      // send {"type": "resume", ...} here
 *     onFrame(frame) {},                    // every frame but "pong"
 *     onResync(conn) {},                    // the socket is open but may have missed something
 *     onStatus(state) {},                   // "connecting" | "open" | "reconnecting" | "offline" | "denied"
 *     onDenied(code) {},                    // the server refused the socket (4401/4403): re-authenticate
 *   });
 *   conn.send(obj) -> bool;  conn.reconnectNow();  conn.close();
 *   conn.request(frame, ms) -> Promise of the server's answer to it: the "ack" or "refused" frame
 *     with the same client_id (docs/PROTOCOL.md, "Sending over the socket"); rejected if the
 *     socket is not open, closes first, or no answer comes within ms.
 *
 * Reconnects by itself after any close (server restart, daphne's 24 h close without a code, a
 * proxy timeout) with capped exponential backoff and jitter; at once when the browser comes back
 * online, the tab becomes visible again, or the page is restored from the back/forward cache.
 * A heartbeat (ping every 20 s by default, dead if nothing comes back within 40% of that, at
 * most 8 s) finds sockets that are
 * open on paper but deliver nothing; each ping also lets the server check the client is not
 * behind (docs/PROTOCOL.md).
 *
 *   Realtime.apply(html)   upserts every top-level element of `html` by id (see below)
 *   Realtime.lastSeq(el)   the highest data-seq inside el without a gap: what to resume from
 *
 * apply() rules, so applying anything twice, or out of order, changes nothing:
 *  - an element with data-replace always replaces the element with its id;
 *  - an element with data-version replaces its twin only if its version is higher;
 *  - any other element is immutable: if its id is already on the page, it is skipped;
 *  - data-container names the list it belongs in, kept ordered by numeric data-sort
 *    (the list's data-order is "asc" or "desc"); it moves there if it was elsewhere;
 *  - an element with data-client-id replaces the sender's optimistic copy (data-pending).
 */
(function () {
  "use strict";

  const BACKOFF_BASE_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  const HEARTBEAT_MS = 20000; // the page may set another: <body data-heartbeat-ms="...">
  const REFUSED = new Set([4401, 4403]);
  const RATE_LIMITED = 4429; // too many sockets from this address: come back at the slowest pace

  /** The heartbeat's timing, the one source for every script: a ping every `pingEveryMs`, and
   *  a socket counts as dead if no answer comes within `pongTimeoutMs`. */
  function heartbeatTiming() {
    const pingEveryMs = Number(document.body.dataset.heartbeatMs) || HEARTBEAT_MS;
    return { pingEveryMs, pongTimeoutMs: Math.min(8000, pingEveryMs * 0.4) };
  }

  function connect(options) {
    const { pingEveryMs, pongTimeoutMs } = heartbeatTiming();
    let ws = null;
    let attempt = 0;
    let retryTimer = null;
    let pingTimer = null;
    let deadTimer = null;
    let stopped = false;
    const answers = new Map(); // client_id -> { resolve, reject, timer }: requests in flight

    const status = (state) => options.onStatus && options.onStatus(state);

    function open() {
      clearTimeout(retryTimer);
      retryTimer = null;
      if (stopped || ws) return;
      status(attempt ? "reconnecting" : "connecting");
      const url = typeof options.url === "function" ? options.url() : options.url;
      const socket = options.protocols ? new WebSocket(url, options.protocols()) : new WebSocket(url);
      ws = socket;
      socket.onopen = () => {
        if (ws !== socket) return;
        attempt = 0;
        status("open");
        heartbeat(socket);
        options.onOpen && options.onOpen(api);
      };
      socket.onmessage = (event) => {
        if (ws !== socket) return;
        clearTimeout(deadTimer); // anything that arrives proves the socket alive
        let frame;
        try {
          frame = JSON.parse(event.data);
        } catch (_) {
          return;
        }
        const waiting = (frame.type === "ack" || frame.type === "refused") && answers.get(frame.client_id);
        if (waiting) {
          answers.delete(frame.client_id);
          clearTimeout(waiting.timer);
          waiting.resolve(frame);
          return;
        }
        if (frame.type !== "pong") options.onFrame(frame);
      };
      socket.onclose = (event) => {
        if (ws !== socket) return; // a socket we already gave up on
        drop();
        if (stopped) return;
        if (REFUSED.has(event.code)) {
          status("denied");
          options.onDenied && options.onDenied(event.code);
          return;
        }
        if (event.code === RATE_LIMITED) attempt = Math.max(attempt, 6); // 7.5-15 s
        retryLater();
      };
    }

    function heartbeat(socket) {
      clearInterval(pingTimer);
      pingTimer = setInterval(() => probe(socket), pingEveryMs);
    }

    function probe(socket) {
      if (ws !== socket || socket.readyState !== WebSocket.OPEN) return;
      socket.send('{"type":"ping"}');
      clearTimeout(deadTimer);
      deadTimer = setTimeout(() => {
        // Open on paper, silent in fact: give it up and start again at once.
        if (ws !== socket) return;
        drop();
        try { socket.close(); } catch (_) { /* already closing */ }
        attempt = Math.max(attempt, 1); // shows "Reconnecting…"
        open();
      }, pongTimeoutMs);
    }

    function drop() {
      clearInterval(pingTimer);
      clearTimeout(deadTimer);
      ws = null;
      // Whatever was asked on this socket gets no answer on it now (the server may still have
      // stored a message: the asker sends it again, with the same client_id, another way).
      for (const [id, waiting] of answers) {
        clearTimeout(waiting.timer);
        waiting.reject(new Error("socket closed"));
        answers.delete(id);
      }
    }

    function retryLater() {
      attempt += 1;
      const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1));
      const delay = cap / 2 + Math.random() * (cap / 2); // "equal jitter": spread, never zero
      status(navigator.onLine === false ? "offline" : "reconnecting");
      retryTimer = setTimeout(open, delay);
    }

    function reconnectNow() {
      if (stopped) return;
      if (ws) {
        if (ws.readyState === WebSocket.OPEN) {
          // Back from standby, a hidden tab, a network change: check the socket rather than
          // trust it, and ask again for anything missed.
          probe(ws);
          status("open");
          options.onResync && options.onResync(api);
        }
        return;
      }
      attempt = Math.max(attempt, 1);
      open();
    }

    window.addEventListener("online", reconnectNow);
    window.addEventListener("offline", () => status("offline"));
    window.addEventListener("pageshow", (event) => event.persisted && reconnectNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") reconnectNow();
    });

    const api = {
      send(frame) {
        if (!ws || ws.readyState !== WebSocket.OPEN) return false;
        ws.send(JSON.stringify(frame));
        return true;
      },
      request(frame, ms) {
        if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error("socket not open"));
        const socket = ws;
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => {
            answers.delete(frame.client_id);
            reject(new Error("no answer"));
          }, ms);
          answers.set(frame.client_id, { resolve, reject, timer });
          socket.send(JSON.stringify(frame));
        });
      },
      reconnectNow,
      close() {
        stopped = true;
        const socket = ws;
        drop();
        if (socket) socket.close(1000);
      },
    };
    open();
    return api;
  }

  function apply(html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    for (const el of Array.from(template.content.children)) {
      if (!el.id) continue;
      const current = document.getElementById(el.id);
      if (current && !supersedes(el, current)) continue;
      if (current && el.dataset.contentKey && el.dataset.contentKey === current.dataset.contentKey) {
        // Newer, but showing the same thing: keep the element (a button in it may be mid-click,
        // waiting on a confirm dialog; replacing it would drop that click's request).
        current.dataset.version = el.dataset.version;
        continue;
      }
      if (!current && el.dataset.clientId) {
        const pending = document.querySelector(
          `[data-pending][data-client-id="${CSS.escape(el.dataset.clientId)}"]`
        );
        if (pending) pending.remove();
      }
      if (el.dataset.container) {
        const container = document.getElementById(el.dataset.container);
        if (current) current.remove();
        if (!container) continue; // not shown on this page (another conversation)
        const isLog = container.getAttribute("role") === "log";
        // Decided before the insertion, and only for a log on screen: a hidden one (the widget
        // closed) has no position to keep; it opens at its newest message. (Measured once: each
        // measure after a change makes the browser lay the page out again.)
        const onScreen = isLog && shown(container);
        const wasAtEnd = onScreen && readerAtEnd(container);
        insertSorted(container, el);
        if (onScreen && el.dataset.seq) {
          watchLog(container);
          if (wasAtEnd) scrollToEnd(container);
          else if (!el.classList.contains("msg--mine")) showNewMessages(container);
        }
      } else if (current) {
        current.replaceWith(el);
      } else {
        continue;
      }
      settle(el);
    }
    updateCounts();
    applyReceipts();
    labelDays(document);
    document.dispatchEvent(new CustomEvent("realtime:applied"));
  }

  /**
   * Message logs (role=log) keep their reader's place. A reader at the newest message stays
   * there: when messages arrive and when the log's own box changes (the widget opens, a panel
   * grows under the log, the window or the phone's keyboard resizes it). A reader who scrolled
   * up stays where they are and is told about new messages below. A log that is not rendered
   * (inside a hidden iframe its height is 0) has no place to keep: it shows its newest message
   * once it is rendered, unless the reader scrolls up first.
   * Whenever what the reader can see may have changed, the log gets a `realtime:view` event.
   */
  const AT_END_PX = 80;
  const awayFromEnd = new WeakSet(); // logs whose reader scrolled up
  const endWhenShown = new WeakSet(); // asked to show their newest message while not rendered
  const watchedLogs = new WeakSet();
  // Where we last scrolled each log to. A scroll event comes later, at the next frame, measured
  // against the layout of then (a panel may have grown under the log meanwhile): one that finds
  // the log where we put it is ours, not the reader scrolling up.
  const scrolledTo = new WeakMap();
  function toEnd(log) {
    log.scrollTop = log.scrollHeight;
    scrolledTo.set(log, log.scrollTop);
  }
  const shown = (log) => log.clientHeight > 0;
  const atEnd = (log) => log.scrollHeight - log.scrollTop - log.clientHeight < AT_END_PX;
  // Once watched, what the reader last did decides (a layout change may be pending).
  const readerAtEnd = (log) => (watchedLogs.has(log) ? !awayFromEnd.has(log) : atEnd(log));
  const viewed = (log) => log.dispatchEvent(new CustomEvent("realtime:view", { bubbles: true }));
  const logResized = new ResizeObserver((entries) => {
    for (const { target } of entries) {
      if (!target.isConnected) {
        logResized.unobserve(target); // a pane or log swapped out: let it go
        continue;
      }
      if (!shown(target)) continue;
      if (endWhenShown.has(target)) awayFromEnd.delete(target);
      endWhenShown.delete(target);
      if (!awayFromEnd.has(target)) toEnd(target);
      viewed(target);
    }
  });

  function watchLog(log) {
    if (watchedLogs.has(log)) return;
    watchedLogs.add(log);
    logResized.observe(log);
    log.addEventListener("scroll", () => {
      if (!shown(log) || endWhenShown.has(log)) return; // not the reader: a layout settling
      if (scrolledTo.get(log) === log.scrollTop) return viewed(log); // our own scroll
      scrolledTo.delete(log);
      notePlace(log);
    });
  }

  /** The reader is where the log now is: at its end, or away from it. */
  function notePlace(log) {
    if (atEnd(log)) awayFromEnd.delete(log);
    else awayFromEnd.add(log);
    viewed(log);
  }

  /** Call `callback` after what a reader can see of a log changed (a scroll, a resize, the log
   *  shown): at most once per frame, however many changes the frame had. */
  function onView(callback) {
    let frame = 0;
    document.addEventListener("realtime:view", () => {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(callback);
    });
  }

  function watchLogs(root) {
    const scope = root || document;
    if (scope.matches && scope.matches('[role="log"]')) watchLog(scope);
    for (const log of scope.querySelectorAll('[role="log"]')) watchLog(log);
  }

  /** Show the log's newest message, and keep it shown as the log changes (see above). */
  function scrollToEnd(log) {
    watchLog(log);
    awayFromEnd.delete(log);
    if (!shown(log)) endWhenShown.add(log); // done when it is rendered (the observer)
    toEnd(log);
    const button = log.parentElement && log.parentElement.querySelector(`.new-messages[data-for="${log.id}"]`);
    if (button) button.hidden = true;
    viewed(log);
  }

  /** How far the reader of `log` has seen: the seq before the first message below its fold
   *  (capped at the gap-free lastSeq), 0 while the page or the log is not on screen. A read mark
   *  reports this, not the newest seq, so nothing counts as read before it could be seen. */
  function seenSeq(log) {
    if (document.visibilityState !== "visible" || !log.clientHeight) return 0;
    const fold = log.getBoundingClientRect().bottom;
    const complete = lastSeq(log);
    for (const msg of log.querySelectorAll(":scope > [data-seq]:not([hidden])")) {
      if (msg.getBoundingClientRect().top >= fold - 4) return Math.min(complete, Number(msg.dataset.seq) - 1);
    }
    return complete;
  }

  /** Show `el`, a message of `log`, in the middle of it, and keep the reader there as if they
   *  had scrolled to it: the log does not jump to its newest message when it changes. */
  function scrollToMessage(log, el) {
    watchLog(log);
    el.scrollIntoView({ block: "center" });
    scrolledTo.set(log, log.scrollTop);
    notePlace(log);
  }

  /** The reader scrolled up to read history and a message arrived below: say so, with a
   *  button that brings them down, instead of moving the page under their eyes. */
  function showNewMessages(log) {
    let button = log.parentElement.querySelector(`.new-messages[data-for="${log.id}"]`);
    if (!button) {
      button = document.createElement("button");
      button.type = "button";
      button.className = "new-messages";
      button.dataset.for = log.id;
      button.textContent = t("New messages ↓");
      button.addEventListener("click", () => {
        scrollToEnd(log);
        log.focus({ preventScroll: true });
      });
      log.addEventListener("scroll", () => {
        if (atEnd(log)) button.hidden = true;
      });
      log.after(button);
    }
    button.hidden = false;
  }

  /** Day labels: the first message of each day (in the reader's time zone) carries
   *  `data-day` ("Today", "Yesterday", or the date), shown above it by the stylesheet.
   *  Runs: a message by the same sender (`data-author`) as the one shown before it, on the same
   *  day, is `msg--cont` (the stylesheet shows the name and avatar once per run). Done
   *  on every apply, so live messages join their run, and ids and markup stay as sent. */
  function labelDays(root) {
    const logs = root.matches && root.matches(".log") ? [root] : (root || document).querySelectorAll(".log");
    const today = new Date();
    const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
    const sameDay = (a, b) => a.toDateString() === b.toDateString();
    for (const log of logs) {
      let previous = null;
      let previousAuthor = null;
      for (const msg of log.querySelectorAll(":scope > [data-seq]:not([hidden])")) {
        const time = msg.querySelector("time[datetime]");
        const day = new Date(time ? time.dateTime : NaN);
        if (Number.isNaN(day.getTime())) continue;
        let label = "";
        if (!previous || !sameDay(previous, day)) {
          if (sameDay(day, today)) label = t("Today");
          else if (sameDay(day, yesterday)) label = t("Yesterday");
          else label = day.toLocaleDateString([], { weekday: "short", day: "numeric", month: "long", year: "numeric" });
        }
        if (label) msg.dataset.day = label;
        else delete msg.dataset.day;
        const author = msg.dataset.author || null;
        msg.classList.toggle("msg--cont", !label && author !== null && author === previousAuthor);
        previous = day;
        previousAuthor = author;
      }
    }
  }

  /** Read receipts: a watermark element (`data-read-watermark`, one per conversation and
   *  reader) turns the reader's counterpart's messages up to it from ✓ (stored) to ✓✓ (read). */
  function applyReceipts() {
    for (const mark of document.querySelectorAll("[data-read-watermark]")) {
      const log = document.getElementById(`log-${mark.dataset.conversation}`);
      if (!log) continue;
      const upTo = Number(mark.dataset.readWatermark);
      for (const msg of log.querySelectorAll(":scope > .msg--mine[data-seq]:not(.msg--read)")) {
        if (Number(msg.dataset.seq) > upTo) continue;
        msg.classList.add("msg--read");
        const state = msg.querySelector(".msg__state");
        if (state) {
          state.textContent = "✓✓";
          state.setAttribute("aria-label", t("Read"));
        }
      }
    }
  }

  function supersedes(incoming, current) {
    if (incoming.hasAttribute("data-replace")) return true;
    if (incoming.dataset.version === undefined) return false;
    return Number(incoming.dataset.version) > Number(current.dataset.version || -1);
  }

  function insertSorted(container, el) {
    const key = Number(el.dataset.sort);
    const desc = container.dataset.order === "desc";
    // Walk back from the end: new messages and fresh rows usually belong there or near it.
    let after = container.lastElementChild;
    while (after) {
      const other = after.dataset.sort === undefined ? Infinity : Number(after.dataset.sort);
      if (desc ? other >= key : other <= key) break;
      after = after.previousElementSibling;
    }
    container.insertBefore(el, after ? after.nextSibling : container.firstChild);
  }

  function settle(el) {
    // Ephemeral elements ("Alice is typing…") hide themselves unless a newer copy replaces them.
    if (el.dataset.expiresMs) setTimeout(() => { el.hidden = true; }, Number(el.dataset.expiresMs));
    localize(el);
    if (window.htmx) window.htmx.process(el);
  }

  /** Times are rendered in UTC; show them in the reader's own time zone. */
  // Made once: each toLocale*String call with options builds a new formatter (about a
  // millisecond each in Chromium), and every message and row shows a time.
  const formats = {
    time: new Intl.DateTimeFormat([], { hour: "2-digit", minute: "2-digit" }),
    datetime: new Intl.DateTimeFormat([], { dateStyle: "medium", timeStyle: "short" }),
    title: new Intl.DateTimeFormat([], {
      year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "2-digit", second: "2-digit",
    }), // what toLocaleString() shows
  };

  function localize(root) {
    for (const t of (root || document).querySelectorAll("time[datetime]")) {
      const moment = new Date(t.dateTime);
      if (Number.isNaN(moment.getTime())) continue;
      t.textContent = (t.dataset.format === "datetime" ? formats.datetime : formats.time).format(moment);
      t.title = formats.title.format(moment);
    }
  }

  /** Counters say how many elements match their `data-count` selector (e.g. list rows). */
  function updateCounts() {
    for (const counter of document.querySelectorAll("[data-count]")) {
      counter.textContent = String(document.querySelectorAll(counter.dataset.count).length);
    }
  }

  /**
   * What to resume from: the highest seq up to which the log has every message. Not simply the
   * highest seq shown: a POST's answer can show the sender's own seq 7 while seq 6 is still on
   * its way (or its doorbell was lost); resuming after 7 would skip 6 for good.
   */
  function lastSeq(container) {
    if (!container) return 0;
    const seqs = new Set();
    let lowest = Infinity;
    for (const el of container.querySelectorAll(":scope > [data-seq]")) {
      const seq = Number(el.dataset.seq);
      seqs.add(seq);
      lowest = Math.min(lowest, seq);
    }
    if (!seqs.size) return 0;
    let seq = lowest; // the log may start later than seq 1 (it shows the newest messages)
    while (seqs.has(seq + 1)) seq += 1;
    return seq;
  }

  let strings = null;
  /** The page's language for a script's English string (the server's `sd-text` dictionary). */
  function t(text) {
    if (strings === null) {
      const data = document.getElementById("sd-text");
      try {
        strings = data ? JSON.parse(data.textContent) : {};
      } catch (_) {
        strings = {};
      }
    }
    return strings[text] || text;
  }

  /** Show the connection state in an element with data-state and data-open-text (what it says
   *  while connected; empty: nothing, the line shows only while the connection matters). */
  function showStatus(el, state) {
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

  function socketUrl(path) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}${path}`;
  }

  document.addEventListener("DOMContentLoaded", () => {
    localize(document);
    updateCounts();
    labelDays(document);
    watchLogs(document);
  });
  // `apply` may replace an htmx request's target, and the button that sent it, while the request
  // is on its way (a pane header, re-rendered when a colleague claimed the chat a moment
  // earlier). The answer then goes to the element that has that id now, not the detached one
  // where nobody would see "Bob already took this chat.". htmx fires beforeSwap on the target,
  // which is detached by then, so the event never reaches the document: the listener goes on the
  // target itself.
  function retargetDetached(event) {
    const target = event.detail.target;
    if (target && target.id && !target.isConnected) {
      const current = document.getElementById(target.id);
      if (current) event.detail.target = current;
    }
  }
  document.addEventListener("htmx:beforeRequest", (event) => {
    const target = event.detail.target;
    if (target) target.addEventListener("htmx:beforeSwap", retargetDetached, { once: true });
  });
  document.addEventListener("htmx:afterSettle", (event) => {
    watchLogs(event.target);
    localize(event.target);
    updateCounts();
    applyReceipts();
    labelDays(document);
  });

  /**
   * Tell the other side while `input` is being typed in: a "typing" frame at most every
   * TYPING_EVERY_MS while keys come, "stopped" after TYPING_IDLE_MS without one or when the
   * form is sent. Nothing is stored; the receiver expires the indicator by itself.
   */
  const TYPING_EVERY_MS = 3000;
  const TYPING_IDLE_MS = 4000;
  function watchTyping(input, conversationId, send) {
    let lastSent = 0;
    let idle = null;
    let typingIn = null;
    function stop() {
      clearTimeout(idle);
      if (typingIn !== null) send({ type: "typing", conversation: typingIn, state: "stopped" });
      typingIn = null;
      lastSent = 0;
    }
    input.addEventListener("input", () => {
      const id = conversationId();
      if (!id || !input.value.trim()) return stop();
      const now = Date.now();
      if (now - lastSent >= TYPING_EVERY_MS || typingIn !== id) {
        if (send({ type: "typing", conversation: id, state: "typing" })) {
          lastSent = now;
          typingIn = id;
        }
      }
      clearTimeout(idle);
      idle = setTimeout(stop, TYPING_IDLE_MS);
    });
    if (input.form) input.form.addEventListener("submit", stop);
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) setTimeout(stop, 0); // Enter sends
    });
    return { stop };
  }

  window.Realtime = {
    connect, apply, heartbeatTiming, lastSeq, localize, onView, scrollToEnd, scrollToMessage, seenSeq, showStatus, socketUrl,
    watchTyping, t,
  };
})();
