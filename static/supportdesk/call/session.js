/**
 * A page's calls (docs/CALLS.md): the socket's `calls`, `call` and `call.signal` frames, the
 * call panel (templates/chat/_call.html) and the WebRTC side (call/peer.js) of the call this
 * tab holds. The widget and the dashboard both use it; `role` says which side this is:
 *   agent   starts calls (`start`), makes the offers, may hang up before the answer;
 *   visitor is rung, accepts or declines, may share a screen.
 *
 * One tab holds a call: the agent's that started it, the visitor's that accepted it. It keeps
 * the call's id in sessionStorage, so after a reload it rejoins: it says "hello" to the other
 * side, and the two build a new connection (the agent offers). A socket that drops and comes
 * back loses nothing: signals sent meanwhile wait here and go when it is open again, and the
 * agent's side looks for a new network path if the old one broke meanwhile. The media itself
 * does not pass through the socket, so a call goes on while the socket reconnects.
 *
 * Over 300 lines because it is one state machine: the call shown, its connection, the devices,
 * the signals waiting for the socket and the panel's buttons all read and change the same few
 * variables; split into modules, each part would take and hand back all of them.
 */

import { CallPeer } from "./peer.js";

const HELD = "supportdesk:call";
const ENDED_SHOWN_MS = 4000;
const STATS_EVERY_MS = 2000;
const ERROR_CODES = new Set(["calls_off", "not_yours", "call_in_progress", "call_over", "bad_kind"]);

export function installCalls({ role, send, onRing = () => {}, onChange = () => {} }) {
  const panel = document.getElementById("call-panel");
  if (!panel) return null;
  const el = (name) => panel.querySelector(`[data-call-${name}]`);
  const button = (name) => panel.querySelector(`[data-call="${name}"]`);
  const text = (name, values = {}) =>
    (panel.dataset[`text${name.replace(/(^|-)(\w)/g, (_, __, c) => c.toUpperCase())}`] || "").replace(
      /%\((\w+)\)s/g,
      (_, key) => values[key] ?? ""
    );

  let call = null; // the call shown (CallData, docs/PROTOCOL.md)
  let iceServers = [];
  let peer = null;
  let stream = null; // this side's microphone and camera
  let pending = null; // the agent's start, until the desk answers: {conversation, kind}
  let early = []; // signals for the held call that came before its connection was made
  const outbox = []; // signals the socket could not take
  let hideTimer = null;
  let tick = null;
  let statsTimer = null;
  let unshare = null;
  let joining = null; // a rejoin under way (after a reload)

  const held = () => Number(sessionStorage.getItem(HELD)) || null;
  const hold = (id) => (id ? sessionStorage.setItem(HELD, String(id)) : sessionStorage.removeItem(HELD));

  function sendSignal(signal) {
    const frame = { type: "call.signal", call: call.id, signal };
    if (!send(frame)) outbox.push(frame);
  }

  function show(state, status) {
    clearTimeout(hideTimer);
    panel.hidden = false;
    panel.dataset.state = state;
    el("status").textContent = status;
    const live = state === "calling" || state === "live";
    el("controls").hidden = !live;
    el("prompt").hidden = state !== "incoming";
    button("camera").hidden = panel.dataset.kind !== "video";
    onChange(state);
  }

  function hideSoon() {
    clearTimeout(hideTimer);
    hideTimer = setTimeout(() => {
      panel.hidden = true;
      panel.dataset.state = "idle";
      onChange("idle");
    }, ENDED_SHOWN_MS);
  }

  function describe(c) {
    el("who").textContent = role === "visitor" ? c.agent_name : "";
    panel.dataset.kind = c.kind;
    panel.dataset.call = String(c.id);
  }

  async function devices(kind) {
    try {
      return await navigator.mediaDevices.getUserMedia({ audio: true, video: kind === "video" });
    } catch (error) {
      if (kind === "video") {
        try {
          return await navigator.mediaDevices.getUserMedia({ audio: true }); // no camera: voice
        } catch (_) {
          // fall through
        }
      }
      throw error;
    }
  }

  function showLocal(media) {
    const local = el("local");
    local.srcObject = media;
    local.hidden = !media || !media.getVideoTracks().length;
  }

  function makePeer() {
    if (peer) peer.close({ keepTracks: true });
    peer = new CallPeer({
      polite: role === "visitor",
      iceServers,
      send: sendSignal,
      onRemoteStream(remote) {
        const video = el("remote");
        if (video.srcObject !== remote) video.srcObject = remote;
        video.hidden = !remote.getVideoTracks().length;
        video.play().catch(() => {});
      },
      onState(state) {
        panel.dataset.iceState = state;
        if (state === "connected" || state === "completed") show("live", text("connected"));
        else if (state === "disconnected" || state === "failed") show("live", text("reconnecting"));
      },
      // The visitor answers the agent's first offer with its own microphone and camera.
      beforeAnswer() {
        if (role === "visitor" && stream && !peer.local) peer.addStream(stream);
      },
    });
    if (role === "agent" && stream) peer.addStream(stream); // the offer follows by itself
    for (const signal of early.splice(0)) peer.signal(signal);
    clearInterval(statsTimer);
    statsTimer = setInterval(readStats, STATS_EVERY_MS);
  }

  async function readStats() {
    if (!peer) return;
    const seen = await peer.received().catch(() => null);
    if (!seen) return;
    panel.dataset.framesReceived = String(seen.frames);
    panel.dataset.audioBytes = String(seen.audioBytes);
    const weak = seen.packets > 50 && seen.lost / (seen.packets + seen.lost) > 0.1;
    panel.dataset.quality = weak ? "weak" : "good";
    if (weak && panel.dataset.state === "live") el("status").textContent = text("weak");
  }

  function startTimer(answeredAt) {
    clearInterval(tick);
    const from = Date.parse(answeredAt);
    const render = () => {
      const s = Math.max(0, Math.floor((Date.now() - from) / 1000));
      const mm = String(Math.floor(s / 60)).padStart(2, "0");
      el("timer").textContent = `${mm}:${String(s % 60).padStart(2, "0")}`;
    };
    render();
    tick = setInterval(render, 1000);
  }

  function teardown() {
    clearInterval(tick);
    clearInterval(statsTimer);
    tick = statsTimer = null;
    if (unshare) unshare();
    unshare = null;
    if (peer) peer.close();
    else if (stream) for (const track of stream.getTracks()) track.stop();
    peer = stream = null;
    early = [];
    outbox.length = 0;
    el("remote").srcObject = null;
    el("local").srcObject = null;
    el("timer").textContent = "";
    for (const name of ["mute", "camera", "share"]) {
      const b = button(name);
      if (b) b.setAttribute("aria-pressed", "false");
    }
    resetLabels();
  }

  function resetLabels() {
    button("mute").textContent = text("mute");
    button("camera").textContent = text("camera-off");
    if (button("share")) button("share").textContent = text("share");
  }

  async function rejoin() {
    // This tab held the call before a reload: new devices, a new connection, and a hello so
    // the other side starts afresh too. The widget opens again: the call is in it.
    onRing();
    try {
      stream = await devices(call.kind);
    } catch (_) {
      show("live", text("no-devices"));
      return;
    }
    showLocal(stream);
    makePeer();
    sendSignal({ hello: true });
  }

  async function onCall(c) {
    const mine = held() === c.id;
    if (c.status === "ringing") {
      if (role === "agent") {
        if (!mine && !(pending && pending.conversation === c.conversation)) return; // another tab's
        pending = null;
        hold(c.id);
        call = c;
        describe(c);
        show("calling", text("calling"));
        return;
      }
      call = c;
      describe(c);
      const left = c.ring_seconds * 1000 - (Date.now() - Date.parse(c.created_at));
      if (left <= 0) return;
      show("incoming", text(c.kind === "video" ? "incoming-video" : "incoming-voice", { name: c.agent_name }));
      clearTimeout(hideTimer);
      hideTimer = setTimeout(() => {
        if (call && call.id === c.id && panel.dataset.state === "incoming") {
          show("ended", text("missed-visitor"));
          hideSoon();
        }
      }, left);
      onRing();
      return;
    }
    if (c.status === "active") {
      if (!mine) {
        if (call && call.id === c.id && role === "visitor") {
          show("ended", text("elsewhere")); // accepted in another tab of this visitor's
          hideSoon();
        }
        return;
      }
      const first = !call || call.id !== c.id || !peer;
      call = c;
      describe(c);
      startTimer(c.answered_at);
      if (!first) return;
      if (!stream) {
        // Once, however many frames say so meanwhile: the connect's `calls` and the answer to
        // `call.sync` both arrive after a reload; two rejoins made two connections, and the
        // media went to the one the page no longer showed.
        if (!joining) joining = rejoin().finally(() => { joining = null; });
        return;
      }
      if (role === "agent") makePeer();
      show("live", text("connecting"));
      return;
    }
    // Over: hung up, declined, missed, or ended with the chat.
    if (!call || call.id !== c.id) return;
    teardown();
    hold(null);
    const ended = {
      declined: "declined",
      missed: role === "visitor" ? "missed-visitor" : "missed",
    }[c.status] || (c.answered_at || role === "agent" ? "ended" : "missed-visitor");
    show("ended", text(ended));
    call = null;
    hideSoon();
  }

  async function onSignal(frame) {
    if (!call || frame.call !== call.id || held() !== call.id) return;
    const signal = frame.signal || {};
    if (signal.hello) {
      // The other side reloaded: a new connection (the agent makes the offer).
      makePeer();
      return;
    }
    if (!peer) early.push(signal);
    else peer.signal(signal);
  }

  // ---- The buttons ----
  panel.addEventListener("click", async (event) => {
    const action = event.target.closest("[data-call]");
    if (!action || !call) return;
    const name = action.dataset.call;
    if (name === "accept") {
      try {
        stream = await devices(call.kind);
      } catch (_) {
        el("status").textContent = text("no-devices"); // still ringing: they may allow and try again
        return;
      }
      showLocal(stream);
      hold(call.id);
      makePeer();
      show("live", text("connecting"));
      send({ type: "call.accept", call: call.id });
    } else if (name === "decline") {
      send({ type: "call.decline", call: call.id });
      show("ended", text("declined"));
      hideSoon();
    } else if (name === "hangup") {
      send({ type: "call.hangup", call: call.id });
      teardown();
      hold(null);
      show("ended", text("ended"));
      call = null;
      hideSoon();
    } else if (name === "mute") {
      const muted = action.getAttribute("aria-pressed") !== "true";
      action.setAttribute("aria-pressed", String(muted));
      action.textContent = text(muted ? "unmute" : "mute");
      if (peer) peer.setMuted(muted);
    } else if (name === "camera") {
      const off = action.getAttribute("aria-pressed") !== "true";
      action.setAttribute("aria-pressed", String(off));
      action.textContent = text(off ? "camera-on" : "camera-off");
      if (peer) peer.setCameraOff(off);
    } else if (name === "share") {
      if (unshare) {
        unshare();
        unshare = null;
        action.setAttribute("aria-pressed", "false");
        action.textContent = text("share");
        return;
      }
      try {
        const screen = await navigator.mediaDevices.getDisplayMedia({ video: true });
        const [track] = screen.getVideoTracks();
        const restore = await peer.sendInstead(track);
        unshare = () => {
          restore();
          track.stop();
        };
        track.addEventListener("ended", () => {
          if (unshare) action.click(); // the browser's own "Stop sharing"
        });
        action.setAttribute("aria-pressed", "true");
        action.textContent = text("stop-share");
      } catch (_) {
        el("status").textContent = text("no-screen");
      }
    }
  });
  resetLabels();

  return {
    /** A frame of the socket; true if it was a call's. */
    onFrame(frame) {
      if (frame.type === "call") {
        if (frame.ice_servers) iceServers = frame.ice_servers;
        onCall(frame.call);
        return true;
      }
      if (frame.type === "calls") {
        if (frame.ice_servers) iceServers = frame.ice_servers;
        const live = new Set(frame.calls.map((c) => c.id));
        // A call this tab held ended while the socket was away.
        if (call && held() === call.id && !live.has(call.id)) {
          onCall({ ...call, status: "ended" });
        } else if (!call && held() && !live.has(held())) {
          hold(null);
        }
        for (const c of frame.calls) onCall(c);
        return true;
      }
      if (frame.type === "call.signal") {
        onSignal(frame);
        return true;
      }
      if (frame.type === "error" && ERROR_CODES.has(frame.code)) {
        if (pending) {
          // The desk refused the start: nothing rings.
          for (const track of pending.stream.getTracks()) track.stop();
          if (stream === pending.stream) stream = null;
          pending = null;
          show("ended", frame.message);
          hideSoon();
        }
        return true;
      }
      return false;
    },

    /** The socket is open (again): what waited goes; a broken media path is looked for anew. */
    onOpen() {
      if (held()) send({ type: "call.sync" }); // did it end while the socket was away?
      for (const frame of outbox.splice(0)) if (!send(frame)) outbox.push(frame);
      if (peer) peer.restartIfBroken();
    },

    /** The agent calls the visitor of `conversation` ("voice" or "video"). */
    async start(conversation, kind) {
      if (role !== "agent" || (call && panel.dataset.state !== "ended") || pending) return;
      let media;
      try {
        media = await devices(kind);
      } catch (_) {
        call = null;
        panel.hidden = false;
        show("ended", text("no-devices"));
        hideSoon();
        return;
      }
      teardown();
      stream = media;
      showLocal(media);
      pending = { conversation, kind, stream: media };
      call = null;
      panel.dataset.kind = kind;
      show("calling", text("calling"));
      if (!send({ type: "call.start", conversation, kind })) {
        pending = null;
        teardown();
        show("ended", text("reconnecting"));
        hideSoon();
      }
    },

    /** The call on now, if any (the dashboard's buttons are disabled meanwhile). */
    busy() {
      return Boolean(pending) || Boolean(call && panel.dataset.state !== "ended");
    },
  };
}
