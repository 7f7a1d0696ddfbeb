/**
 * One side of a call's WebRTC connection. The media goes browser to browser; what the two must
 * tell each other (session descriptions, ICE candidates) goes as `signal`s over the desk's
 * sockets (call/session.js sends and receives them).
 *
 * "Perfect negotiation" (the W3C/MDN pattern): either side may renegotiate at any time (the
 * visitor adding a screen to a voice call); when both offer at once, the polite side (the
 * visitor) gives way and the impolite one (the agent) ignores the other's offer. The agent
 * makes the first offer; the visitor adds its own tracks when that offer arrives, so the start
 * has one offer, not two crossing.
 *
 * ICE candidates are sent in batches (one frame per ~80 ms, not one per candidate): the socket
 * counts frames (60 per 10 s), and a connection with STUN and TURN finds dozens.
 */

const CANDIDATE_BATCH_MS = 80;

export class CallPeer {
  /**
   * @param {{polite: boolean, iceServers: RTCIceServer[], send: (signal: object) => void,
   *          onRemoteStream: (stream: MediaStream) => void, onState: (state: string) => void,
   *          beforeAnswer?: () => void}} options
   */
  constructor(options) {
    this.options = options;
    this.polite = options.polite;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.candidates = [];
    this.candidateTimer = null;
    this.queue = Promise.resolve(); // signals are applied one at a time, in order
    this.remote = new MediaStream();
    const pc = (this.pc = new RTCPeerConnection({ iceServers: options.iceServers || [] }));
    pc.onnegotiationneeded = async () => {
      try {
        this.makingOffer = true;
        await pc.setLocalDescription();
        this.options.send({ description: pc.localDescription.toJSON() });
      } catch (error) {
        console.warn("call: offer failed", error);
      } finally {
        this.makingOffer = false;
      }
    };
    pc.onicecandidate = ({ candidate }) => {
      if (!candidate || !candidate.candidate) return; // the end of candidates needs no frame
      this.candidates.push(candidate.toJSON());
      if (!this.candidateTimer) {
        this.candidateTimer = setTimeout(() => this.flushCandidates(), CANDIDATE_BATCH_MS);
      }
    };
    pc.ontrack = ({ track }) => {
      // One stream of whatever the other side sends (their camera, or their screen instead).
      for (const old of this.remote.getTracks()) {
        if (old.kind === track.kind && old !== track) this.remote.removeTrack(old);
      }
      this.remote.addTrack(track);
      this.options.onRemoteStream(this.remote);
    };
    pc.oniceconnectionstatechange = () => {
      this.options.onState(pc.iceConnectionState);
      // The network changed under the call (a new Wi-Fi, a VPN): the offerer looks for a new
      // path at once rather than waiting for the browser to give up.
      if (pc.iceConnectionState === "failed" && !this.polite) pc.restartIce();
    };
  }

  flushCandidates() {
    clearTimeout(this.candidateTimer);
    this.candidateTimer = null;
    if (!this.candidates.length) return;
    const batch = this.candidates.splice(0, 40);
    this.options.send({ candidates: batch });
    if (this.candidates.length) this.flushCandidates();
  }

  /** This side's microphone (and camera) go to the other side. */
  addStream(stream) {
    this.local = stream;
    for (const track of stream.getTracks()) this.pc.addTrack(track, stream);
  }

  /** A signal from the other side, applied after those before it. */
  signal(signal) {
    this.queue = this.queue.then(() => this.apply(signal)).catch((error) => {
      console.warn("call: signal failed", error);
    });
    return this.queue;
  }

  async apply({ description, candidates }) {
    const pc = this.pc;
    if (description) {
      const collision =
        description.type === "offer" && (this.makingOffer || pc.signalingState !== "stable");
      this.ignoreOffer = !this.polite && collision;
      if (this.ignoreOffer) return;
      await pc.setRemoteDescription(description);
      if (description.type === "offer") {
        if (this.options.beforeAnswer) this.options.beforeAnswer();
        await pc.setLocalDescription();
        this.options.send({ description: pc.localDescription.toJSON() });
      }
    }
    for (const candidate of candidates || []) {
      try {
        await pc.addIceCandidate(candidate);
      } catch (error) {
        if (!this.ignoreOffer) console.warn("call: candidate refused", error);
      }
    }
  }

  /** A fresh path after the socket came back, if the media's was lost meanwhile. */
  restartIfBroken() {
    const state = this.pc.iceConnectionState;
    if (!this.polite && (state === "disconnected" || state === "failed")) this.pc.restartIce();
  }

  setMuted(muted) {
    for (const track of this.local ? this.local.getAudioTracks() : []) track.enabled = !muted;
  }

  setCameraOff(off) {
    for (const track of this.local ? this.local.getVideoTracks() : []) track.enabled = !off;
  }

  /** Send `track` (a shared screen) in place of the camera, or as a new video (a voice call:
   *  then the two renegotiate). Returns a function that puts things back. */
  async sendInstead(track) {
    const sender = this.pc.getSenders().find((s) => s.track && s.track.kind === "video");
    if (sender) {
      const camera = sender.track;
      await sender.replaceTrack(track);
      return () => sender.replaceTrack(camera).catch(() => {});
    }
    const added = this.pc.addTrack(track, this.local || new MediaStream([track]));
    return () => {
      try {
        this.pc.removeTrack(added);
      } catch (_) {
        // closed already
      }
    };
  }

  /** What arrives from the other side: video frames decoded, audio bytes, packets lost. */
  async received() {
    const seen = { frames: 0, audioBytes: 0, lost: 0, packets: 0 };
    const report = await this.pc.getStats();
    report.forEach((stat) => {
      if (stat.type !== "inbound-rtp") return;
      if (stat.kind === "video") seen.frames += stat.framesDecoded || 0;
      if (stat.kind === "audio") seen.audioBytes += stat.bytesReceived || 0;
      seen.lost += stat.packetsLost || 0;
      seen.packets += stat.packetsReceived || 0;
    });
    return seen;
  }

  /** The connection closed; this side's microphone and camera too, unless `keepTracks` (a
   *  new connection of the same call takes them). */
  close({ keepTracks = false } = {}) {
    clearTimeout(this.candidateTimer);
    if (!keepTracks) for (const track of this.local ? this.local.getTracks() : []) track.stop();
    this.pc.close();
  }
}
