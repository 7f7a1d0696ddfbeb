/**
 * The connection line of the top bar, and the red banner: this page's socket, the desk's
 * database or its real-time path is down.
 * The socket's own state comes from the socket (shown after a short grace: a quick reconnect
 * should not flash it). The path: the server sends {"type": "realtime", "state": "up"} each
 * time its probe comes back through the channel layer (on connect and every heartbeat), and
 * "down" when the probe cannot go out; no "up" for a heartbeat and a margin means down too.
 * The database: {"type": "database", "state": "down"} while the server's probe of it fails
 * (sends wait in the outbox meanwhile and go when it answers again).
 */

import { heartbeatTiming } from "../realtime/socket.js";
import { showStatus } from "../realtime/status.js";

const heartbeat = heartbeatTiming();
const PATH_GRACE_MS = heartbeat.pingEveryMs + heartbeat.pongTimeoutMs + 5000;
const SOCKET_GRACE_MS = 2000;
let socketDown = false;
let pathDown = false;
let databaseDown = false;
let socketTimer = null;
let pathTimer = null;

function renderBanner() {
  const banner = document.getElementById("realtime-banner");
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

/** The socket's state ("open", "reconnecting"...: realtime/socket.js onStatus). */
export function onSocketState(state) {
  showStatus(document.getElementById("connection-status"), state);
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

/** A "realtime" or "database" frame: the server's word on its own paths. */
export function onHealthFrame(frame) {
  if (frame.type === "database") {
    databaseDown = frame.state !== "up";
  } else {
    pathDown = frame.state !== "up";
    if (pathDown) clearTimeout(pathTimer);
    else watchPath();
  }
  renderBanner();
}
