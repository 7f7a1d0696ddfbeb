/**
 * The page's socket (one per page, shared by the widget and the dashboard). It only carries
 * frames; what they mean is the page's business.
 *
 *   const conn = connect({
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
 * A heartbeat (heartbeatTiming: a ping every 20 s by default, dead if nothing comes back within
 * 40% of that, at most 8 s) finds sockets that are open on paper but deliver nothing; each ping
 * also lets the server check the client is not behind (docs/PROTOCOL.md).
 */

const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 15000;
const HEARTBEAT_MS = 20000; // the page may set another: <body data-heartbeat-ms="...">
const REFUSED = new Set([4401, 4403]);
const RATE_LIMITED = 4429; // too many sockets from this address: come back at the slowest pace

/** The heartbeat's timing, the one source for every script: a ping every `pingEveryMs`, and
 *  a socket counts as dead if no answer comes within `pongTimeoutMs`. */
export function heartbeatTiming() {
  const pingEveryMs = Number(document.body.dataset.heartbeatMs) || HEARTBEAT_MS;
  return { pingEveryMs, pongTimeoutMs: Math.min(8000, pingEveryMs * 0.4) };
}

/** The socket URL for a path on this page's host, ws: or wss: as the page is served. */
export function socketUrl(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}

export function connect(options) {
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
