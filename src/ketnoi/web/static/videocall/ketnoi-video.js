// ketnoi video-call SDK (VC-01…16): an ES module without dependencies that a partner's web app imports
// to place or receive a ketnoi video call. The protocol is in docs/VIDEOCALL.md.
//
//   import { VideoCall } from "/static/videocall/ketnoi-video.js";
//   const call = new VideoCall({ callId, participant, localVideo, remoteVideo });  // participant = credentials
//   call.addEventListener("status", (e) => render(e.detail));
//   await call.connect();           // signalling; media joins when the call is answered
//   await call.switchCamera();      // front/back without renegotiation (replaceTrack)
//   await call.hangup();
//
// Events (CustomEvent, payload in `detail`): state {state, previous}, status {…live status…},
// local-stream {stream}, remote-stream {stream}, camera {facing}, reconnecting {reason, phase},
// reconnected {how, ms}, quality {…figures…, mode}, ended {reason, label, by}, error {message}.

import { JanusLink } from "./janus-link.js";

const enc = new TextEncoder();
const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function sha256Hex(text) {
  return hex(await crypto.subtle.digest("SHA-256", typeof text === "string" ? enc.encode(text) : text));
}
export async function hmacHex(secret, text) {
  const key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return hex(await crypto.subtle.sign("HMAC", key, enc.encode(text)));
}
export function randomNonce(bytes = 16) {
  const a = new Uint8Array(bytes);
  crypto.getRandomValues(a);
  return hex(a);
}

// Headers of a partner-signed request (the partner API scheme). A partner keeps its secret on its
// backend; signing in a browser is for demos and tests only.
export async function partnerHeaders(keyId, secret, method, path, bodyText = "", query = "") {
  const ts = String(Math.floor(Date.now() / 1000));
  const nonce = randomNonce();
  const digest = await sha256Hex(bodyText);
  const canonical = [method.toUpperCase(), path, query, ts, nonce, digest].join("\n");
  return {
    "X-Ketnoi-Key": keyId, "X-Ketnoi-Timestamp": ts, "X-Ketnoi-Nonce": nonce,
    "X-Ketnoi-Content-SHA256": digest, "X-Ketnoi-Signature": await hmacHex(secret, canonical),
  };
}

// Starts a call with a signed request; returns {call, participant} (participant = credentials).
export async function startSignedCall(baseUrl, keyId, secret, payload) {
  const path = "/api/v1/videocall/calls";
  const body = JSON.stringify(payload);
  const r = await fetch(baseUrl + path, {
    method: "POST", body,
    headers: { "Content-Type": "application/json", ...(await partnerHeaders(keyId, secret, "POST", path, body)) },
  });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw Object.assign(new Error(data.detail || "Không bắt đầu được cuộc gọi"), { status: r.status, problem: data });
  return data;
}

// --- the call channel -------------------------------------------------------------------------------
export class SignalChannel extends EventTarget {
  constructor(url, callId, participantId, token, secret) {
    super();
    Object.assign(this, { url, callId, participantId, token, secret });
    this.seq = 0;
    this.serverSeq = 0;
    this.ws = null;
    this.closed = false;
    this.blockedUntil = 0; // test hook: simulated network loss
    this.outbox = [];
  }

  async _envelope(type, body) {
    const ts = Math.floor(Date.now() / 1000), nonce = randomNonce(12), seq = ++this.seq;
    const bodyText = JSON.stringify(body || {});
    const canonical = ["ketnoi-vc-1", this.callId, this.participantId, seq, ts, nonce, type, bodyText].join("\n");
    return { v: 1, type, call: this.callId, from: this.participantId, seq, ts, nonce, body: bodyText,
      sig: await hmacHex(this.secret, canonical) };
  }

  async _verify(msg) {
    const canonical = ["ketnoi-vc-1", msg.call, msg.from, msg.seq, msg.ts, msg.nonce, msg.type, msg.body].join("\n");
    if (msg.from !== "server" || msg.call !== this.callId) return false;
    if ((await hmacHex(this.secret, canonical)) !== msg.sig) return false;
    if (msg.seq <= this.serverSeq) return false;
    this.serverSeq = msg.seq;
    return true;
  }

  // One opening at a time: concurrent callers share it.
  open(timeoutMs = 8000) {
    if (Date.now() < this.blockedUntil) return Promise.reject(new Error("network blocked (test)"));
    if (!this.opening) this.opening = this._open(timeoutMs).finally(() => { this.opening = null; });
    return this.opening;
  }

  _open(timeoutMs) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      let welcomed = false;
      const timer = setTimeout(() => { if (!welcomed) { ws.close(); reject(new Error("Kênh tín hiệu không phản hồi")); } }, timeoutMs);
      ws.onopen = async () => { this.serverSeq = 0; ws.send(JSON.stringify(await this._envelope("hello", { token: this.token }))); };
      let chain = Promise.resolve(); // messages are checked and handled in order, the close after them
      const handle = async (m) => {
        let msg;
        try { msg = JSON.parse(m.data); } catch (_) { return; }
        if (msg.type === "refused") { clearTimeout(timer); reject(Object.assign(new Error(msg.message), { refused: msg.reason })); return; }
        if (!(await this._verify(msg))) { this.dispatchEvent(new CustomEvent("invalid", { detail: msg })); return; }
        const body = JSON.parse(msg.body || "{}");
        if (msg.type === "welcome" && !welcomed) { welcomed = true; clearTimeout(timer); this.ws = ws; await this.flush(); resolve(body); }
        this.dispatchEvent(new CustomEvent("message", { detail: { type: msg.type, body } }));
      };
      ws.onmessage = (m) => { chain = chain.then(() => handle(m)).catch(() => {}); };
      ws.onclose = (e) => {
        chain = chain.then(() => {
          clearTimeout(timer);
          if (!welcomed) { reject(new Error("Kênh tín hiệu bị đóng (" + e.code + ")")); return; }
          if (this.ws !== ws) return; // an older socket the server replaced
          this.ws = null;
          if (!this.closed) this.dispatchEvent(new CustomEvent("lost", { detail: { code: e.code } }));
        });
      };
    });
  }

  // Messages that must not be lost (media state, camera, hang-up) wait while the channel is down and
  // leave, in order, once it is back; `at` keeps the moment they happened.
  async send(type, body) {
    const b = { ...(body || {}) };
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
      if (type === "media" || type === "camera" || type === "hangup") this.outbox.push([type, { ...b, at: Date.now() }]);
      return false;
    }
    this.ws.send(JSON.stringify(await this._envelope(type, b)));
    return true;
  }

  async flush() {
    const pending = this.outbox.splice(0);
    for (const [type, body] of pending) await this.send(type, body);
  }

  drop() { const ws = this.ws; this.ws = null; if (ws) ws.close(); }
  close() { this.closed = true; if (this.ws) this.ws.close(1000); this.ws = null; }
}

// --- the call -----------------------------------------------------------------------------------
const ACTIVE = new Set(["answered", "connected", "reconnecting"]);

export class VideoCall extends EventTarget {
  constructor(o) {
    super();
    const p = o.participant || {};
    this.o = { baseUrl: "", iceServers: [], graceMs: null, simulcast: false, statsMs: 2000, video: true, ...o };
    this.callId = o.callId;
    this.pid = p.participant_id;
    this.role = p.role;
    this.sig = new SignalChannel(this._wsUrl(p.signal_url || "/api/v1/videocall/signal"), this.callId, this.pid,
      p.token, p.secret);
    this.state = "idle";
    this.server = null; // last state from the server
    this.facing = "user";
    this.mode = "video"; // video | low | audio (VC-15)
    this.figures = { frames_decoded: 0, audio_energy: 0 };
    this.attempt = 0;
    this.recovering = false;
    this.ended = false;
    this.timers = [];
    this.sig.addEventListener("message", (e) => this._onSignal(e.detail));
    this.sig.addEventListener("lost", () => this._signalLost());
    this.sig.addEventListener("invalid", () => this._emit("error", { message: "Gói tin không hợp lệ từ máy chủ" }));
  }

  _wsUrl(path) {
    if (/^wss?:/.test(path)) return path;
    const base = this.o.baseUrl || location.origin;
    return base.replace(/^http/, "ws") + path;
  }
  _emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }
  _setState(s) {
    if (this.state === s) return;
    const previous = this.state;
    this.state = s;
    this._emit("state", { state: s, previous });
    this._emitStatus();
  }

  // Live status both parties see (VC-07).
  status() {
    const c = (this.server && this.server.call) || {};
    const since = c.answered_at ? Date.parse(c.answered_at) - (this.skewMs || 0) : null; // in this clock
    const peer = this.server && this.server.peer;
    return {
      call_id: this.callId, code: c.code, state: this.state, call_status: c.status, status_label: c.status_label,
      caller: c.caller && c.caller.name, callee: c.agent && c.agent.name, hotline: c.hotline,
      connection: this.state === "connected" ? "connected" : (this.state === "reconnecting" ? "reconnecting" : this.state),
      peer_connection: peer ? (peer.signal_online ? peer.media_state : "offline") : null,
      duration: since && !this.ended ? Math.max(0, Math.round((Date.now() - since) / 1000)) : null,
      mode: this.mode, facing: this.facing,
    };
  }
  _emitStatus() { this._emit("status", this.status()); }

  async connect() {
    this._setState("connecting");
    const welcome = await this.sig.open();
    this._every(1000, () => this._emitStatus());
    this._every(this.o.statsMs, () => this._collectStats());
    this._every(5000, () => this._reportQuality());
    this._every(20000, () => this.sig.send("ping", {}));
    await this._applyState(welcome);
    return welcome;
  }

  _every(ms, fn) { this.timers.push(setInterval(() => { try { fn(); } catch (_) { /* keep ticking */ } }, ms)); }

  _onSignal({ type, body }) {
    if (type === "state" || type === "ended" || type === "welcome") this._applyState(body);
  }

  async _applyState(s) {
    if (!s || !s.call) return;
    this.server = s;
    if (s.call.server_time) this.skewMs = Date.parse(s.call.server_time) - Date.now(); // server minus client
    const st = s.call.status;
    if (st === "ended") { this._finish(s.call.end_reason, s.call.end_reason_label, s.call.ended_by); return; }
    if (st === "queued" || st === "ringing") {
      this._setState(st === "ringing" ? "ringing" : "waiting");
      this._playFile(s.files && s.files.waiting, true);
    } else if (ACTIVE.has(st) && s.media && !this.link && !this.joining) {
      this._playFile(s.files && s.files.greeting_start, false);
      this._setState("answered");
      this.joinMedia().catch((e) => { this._emit("error", { message: e.message }); this._trouble("join-failed"); });
    }
    this._emitStatus();
  }

  _playFile(url, loop) {
    const el = this.o.announcer;
    if (!el) return;
    if (!url) { if (loop) { el.pause(); el.removeAttribute("src"); } return; }
    if (el.dataset.src === url) return;
    el.dataset.src = url; el.src = this.o.baseUrl + url; el.loop = loop;
    el.play().catch(() => {});
  }

  // --- media through Janus ---------------------------------------------------------------------
  async _localMedia() {
    if (this.local) return this.local;
    const video = this.o.video ? { facingMode: { ideal: this.facing }, width: { ideal: 640 }, height: { ideal: 480 } } : false;
    try {
      this.local = await navigator.mediaDevices.getUserMedia({ audio: true, video });
    } catch (e) {
      this.local = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
      this.mode = "audio";
    }
    if (this.o.localVideo) { this.o.localVideo.srcObject = this.local; this.o.localVideo.muted = true; }
    this._emit("local-stream", { stream: this.local });
    return this.local;
  }

  async joinMedia() {
    this.joining = true;
    try {
      const m = this.server.media;
      await this._localMedia();
      this._setState(this.state === "reconnecting" ? "reconnecting" : "joining");
      if (!this.recovering) this.sig.send("media", { state: "connecting" });
      const link = new JanusLink(m.url, m.token);
      await link.connect();
      this.link = link;
      link.addEventListener("lost", () => { if (this.link === link) this._trouble("janus-lost"); });
      const pub = await link.attach();
      this.pub = pub;
      pub.addEventListener("janus", (e) => this._onPublisherEvent(e.detail));
      this.attempt += 1;
      const { data } = await link.message(pub, { request: "join", ptype: "publisher", room: m.room,
        id: `${this.role}-${this.pid.slice(0, 8)}-${this.attempt}-${randomNonce(2)}`, display: this.role, token: m.token });
      this.feedId = data.id;
      this.privateId = data.private_id;
      await this._publish(false);
      for (const p of data.publishers || []) await this._subscribe(p.id);
    } finally {
      this.joining = false;
    }
  }

  async _publish(iceRestart) {
    const m = this.server.media;
    if (!this.pubPc) {
      const pc = new RTCPeerConnection({ iceServers: this.o.iceServers });
      this.pubPc = pc;
      const audio = this.local.getAudioTracks()[0], video = this.local.getVideoTracks()[0];
      if (audio) pc.addTransceiver(audio, { direction: "sendonly", streams: [this.local] });
      if (video) {
        const init = { direction: "sendonly", streams: [this.local] };
        if (this.o.simulcast) init.sendEncodings = [
          { rid: "h", active: true, maxBitrate: m.bitrate }, { rid: "m", active: true, maxBitrate: 200000, scaleResolutionDownBy: 2 },
          { rid: "l", active: true, maxBitrate: 80000, scaleResolutionDownBy: 4 }];
        this.videoTx = pc.addTransceiver(video, init);
      }
      pc.onicecandidate = (e) => this.link && this.link.trickle(this.pub, e.candidate);
      pc.oniceconnectionstatechange = () => this._watchPc(pc, "publisher");
    }
    const offer = await this.pubPc.createOffer(iceRestart ? { iceRestart: true } : {});
    await this.pubPc.setLocalDescription(offer);
    const body = { request: this.published ? "configure" : "publish", bitrate: m.bitrate };
    const { jsep } = await this.link.message(this.pub, body, { type: offer.type, sdp: offer.sdp });
    if (jsep) await this.pubPc.setRemoteDescription(jsep);
    this.published = true;
    if (!this.o.simulcast && this.videoTx) this._capBitrate(m.bitrate);
  }

  async _capBitrate(bps) {
    const sender = this.videoTx && this.videoTx.sender;
    if (!sender) return;
    const params = sender.getParameters();
    if (!params.encodings || !params.encodings.length) params.encodings = [{}];
    params.encodings[0].maxBitrate = bps;
    try { await sender.setParameters(params); } catch (_) { /* some browsers refuse before negotiation */ }
  }

  async _subscribe(feed) {
    if (!this.link || this.subFeed === feed) return;
    if (this.sub) await this._closeSubscriber();
    const m = this.server.media;
    const sub = await this.link.attach();
    this.sub = sub;
    this.subFeed = feed;
    sub.addEventListener("janus", (e) => this._onSubscriberEvent(e.detail));
    const { jsep } = await this.link.message(sub, { request: "join", ptype: "subscriber", room: m.room,
      streams: [{ feed }], private_id: this.privateId, token: m.token });
    const pc = new RTCPeerConnection({ iceServers: this.o.iceServers });
    this.subPc = pc;
    this.remote = new MediaStream();
    pc.ontrack = (e) => {
      this.remote.addTrack(e.track);
      if (this.o.remoteVideo) { this.o.remoteVideo.srcObject = this.remote; this.o.remoteVideo.play().catch(() => {}); }
      this._emit("remote-stream", { stream: this.remote });
    };
    pc.onicecandidate = (e) => this.link && this.link.trickle(sub, e.candidate);
    pc.oniceconnectionstatechange = () => this._watchPc(pc, "subscriber");
    await this._answer(sub, pc, jsep);
  }

  async _answer(handle, pc, jsep) {
    await pc.setRemoteDescription(jsep);
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    await this.link.message(handle, { request: "start" }, { type: answer.type, sdp: answer.sdp });
  }

  async _closeSubscriber() {
    const sub = this.sub, pc = this.subPc;
    this.sub = this.subPc = this.subFeed = null;
    if (pc) pc.close();
    if (sub && this.link) await this.link.detach(sub);
  }

  _onPublisherEvent(msg) {
    const d = (msg.plugindata && msg.plugindata.data) || {};
    if (msg.janus === "hangup") this._trouble("media-hangup");
    if (msg.janus === "slowlink" && msg.uplink) this._slowLink();
    if (msg.janus === "webrtcup") this._checkConnected();
    for (const p of d.publishers || []) if (p.id !== this.feedId) this._subscribe(p.id).catch((e) => this._emit("error", { message: e.message }));
    const gone = d.unpublished || d.leaving;
    if (gone && gone === this.subFeed) this._closeSubscriber();
  }

  _onSubscriberEvent(msg) {
    const d = (msg.plugindata && msg.plugindata.data) || {};
    if (msg.janus === "hangup" && this.subPc) this._trouble("media-hangup");
    if (msg.janus === "webrtcup") this._checkConnected();
    if (msg.jsep && msg.jsep.type === "offer" && this.subPc && d.videoroom === "updated") {
      this._answer(this.sub, this.subPc, msg.jsep).catch(() => {});
    }
  }

  _watchPc(pc, which) {
    const s = pc.iceConnectionState;
    if (s === "connected" || s === "completed") this._checkConnected();
    else if (s === "disconnected" || s === "failed") this._trouble(`ice-${s}-${which}`);
  }

  _pcUp(pc) { return pc && ["connected", "completed"].includes(pc.iceConnectionState); }

  _checkConnected() {
    if (this.ended) return;
    if (this._pcUp(this.pubPc) && (this._pcUp(this.subPc) || !this.subPc && !this.peerPublishing())) {
      if (this.state !== "connected" && !this.recovering) { this._setState("connected"); this.sig.send("media", { state: "connected" }); }
    }
  }

  peerPublishing() { return !!this.subFeed; }

  // --- network trouble (VC-08, 14): wait, ICE restart, full rejoin, then give up ----------------
  _trouble(reason) {
    if (this.ended || this.recovering || !this.server) return;
    if (!ACTIVE.has(this.server.call.status) && this.state !== "connected") return;
    this.recovering = true;
    const started = Date.now();
    const graceMs = this.o.graceMs || (this.server.grace_seconds || 30) * 1000;
    this._setState("reconnecting");
    this._emit("reconnecting", { reason, phase: "detect" });
    this.sig.send("media", { state: "reconnecting", reason });
    this._recover(reason, started, graceMs).catch(() => {});
  }

  async _healthy(ms) {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if (this.ended) return false;
      if (this.link && this.link.ws && this._pcUp(this.pubPc) && (!this.subFeed || this._pcUp(this.subPc))
          && this.sig.ws && Date.now() >= this.sig.blockedUntil) return true;
      await sleep(250);
    }
    return false;
  }

  async _recover(reason, started, graceMs) {
    let how = "spontaneous";
    if (!(await this._healthy(2000))) {
      while (!this.ended && Date.now() - started < graceMs) {
        await this._waitNetwork(started + graceMs);
        if (!this.sig.ws) await this._reopenSignal().catch(() => {});
        try {
          if (this.link && !this.link.ws && this.link.sessionId && this.pubPc) {
            await this.link.connect(this.link.sessionId).catch(() => {}); // reclaim the session (Janus keeps it a while)
          }
          if (this.link && this.link.ws && this.pubPc) {
            how = "ice_restart";
            this._emit("reconnecting", { reason, phase: how });
            await this._publish(true);
            if (this.sub) {
              const r = await this.link.message(this.sub, { request: "configure", restart: true });
              if (r.jsep) await this._answer(this.sub, this.subPc, r.jsep);
            }
            if (await this._healthy(5000)) break;
          }
          how = "rejoin";
          this._emit("reconnecting", { reason, phase: how });
          await this._teardownMedia(false);
          await this.joinMedia();
          if (await this._healthy(8000)) break;
        } catch (e) {
          this._emit("error", { message: e.message });
        }
        await sleep(1000);
      }
    }
    if (this.ended) return;
    if (!(await this._healthy(500))) { await this.hangup("network"); return; }
    this.recovering = false;
    const ms = Date.now() - started;
    this._setState("connected");
    this.sig.send("media", { state: "connected", how, ms });
    this._emit("reconnected", { how, ms });
  }

  async _waitNetwork(deadline) {
    while (Date.now() < this.sig.blockedUntil && Date.now() < deadline) await sleep(200);
  }

  async _reopenSignal() {
    const welcome = await this.sig.open();
    await this._applyState(welcome);
  }

  _signalLost() {
    if (this.ended || this.hangingUp) return;
    this._emit("reconnecting", { reason: "signal-lost", phase: "signal" });
    (async () => {
      const graceMs = this.o.graceMs || ((this.server && this.server.grace_seconds) || 30) * 1000;
      const until = Date.now() + graceMs;
      while (!this.ended && !this.sig.ws && Date.now() < until) {
        await this._waitNetwork(until);
        try { await this._reopenSignal(); break; } catch (e) { if (e.refused) { this._finish("refused", e.message, "system"); return; } }
        await sleep(1000);
      }
      if (!this.sig.ws && !this.ended) this._finish("network", "Mất kết nối quá thời gian cho phép", "system");
      else if (!this.recovering && this.state !== "connected") this._checkConnected();
    })();
  }

  // Test hook (VC-14 acceptance): the network of this page goes down for `ms`: the call channel
  // and the media server socket drop, and no media is sent; then the SDK recovers on its own.
  async simulateNetworkLoss(ms) {
    this.sig.blockedUntil = Date.now() + ms;
    const senders = this.pubPc ? this.pubPc.getSenders() : [];
    const tracks = senders.map((s) => s.track);
    await Promise.all(senders.map((s) => s.replaceTrack(null)));
    this.sig.drop();
    if (this.link) this.link.drop();
    this._trouble("network-down");
    await sleep(ms);
    await Promise.all(senders.map((s, i) => (s.track === null && tracks[i] && tracks[i].readyState === "live"
      ? s.replaceTrack(tracks[i]) : null)));
  }

  async _teardownMedia(stopLocal) {
    const link = this.link;
    this.link = null;
    for (const pc of [this.pubPc, this.subPc]) if (pc) pc.close();
    this.pubPc = this.subPc = this.pub = this.sub = this.subFeed = this.videoTx = null;
    this.published = false;
    if (link) { if (link.ws) await link.close(); else link.drop(); }
    if (stopLocal && this.local) { this.local.getTracks().forEach((t) => t.stop()); this.local = null; }
  }

  // --- camera switch (VC-05): a new track on the same sender, no renegotiation ------------------
  async switchCamera(facing) {
    const next = facing || (this.facing === "user" ? "environment" : "user");
    const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: next }, width: { ideal: 640 }, height: { ideal: 480 } } });
    const track = stream.getVideoTracks()[0];
    const old = this.local && this.local.getVideoTracks()[0];
    if (this.videoTx && this.mode !== "audio") await this.videoTx.sender.replaceTrack(track);
    if (old) { this.local.removeTrack(old); old.stop(); }
    this.local.addTrack(track);
    if (this.o.localVideo) this.o.localVideo.srcObject = this.local;
    this.facing = next;
    this.sig.send("camera", { facing: next, label: track.label });
    this._emit("camera", { facing: next, trackId: track.id });
    return track;
  }

  // --- quality (VC-15): stats, bitrate caps, audio-only fallback --------------------------------
  async _collectStats() {
    const f = { ...this.figures };
    if (this.subPc) {
      const stats = await this.subPc.getStats();
      stats.forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === "video") { f.frames_decoded = s.framesDecoded || 0; f.fps = s.framesPerSecond || 0; f.jitter_ms = Math.round((s.jitter || 0) * 1000); f.packets_lost = s.packetsLost || 0; f.in_bytes_v = s.bytesReceived; }
        if (s.type === "inbound-rtp" && s.kind === "audio") { f.audio_energy = s.totalAudioEnergy || 0; f.in_bytes_a = s.bytesReceived; }
      });
    }
    if (this.pubPc) {
      const stats = await this.pubPc.getStats();
      stats.forEach((s) => {
        if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") {
          f.rtt_ms = Math.round((s.currentRoundTripTime || 0) * 1000);
          if (s.availableOutgoingBitrate) f.available_kbps = Math.round(s.availableOutgoingBitrate / 1000);
        }
        if (s.type === "outbound-rtp" && s.kind === "video") f.out_bytes_v = s.bytesSent;
      });
    }
    const now = Date.now(), prev = this._prevStats;
    if (prev) {
      const dt = (now - prev.t) / 1000;
      f.in_kbps = Math.round((((f.in_bytes_v || 0) + (f.in_bytes_a || 0)) - prev.inb) * 8 / 1000 / dt);
      f.out_kbps = Math.round(((f.out_bytes_v || 0) - prev.outb) * 8 / 1000 / dt);
    }
    this._prevStats = { t: now, inb: (f.in_bytes_v || 0) + (f.in_bytes_a || 0), outb: f.out_bytes_v || 0 };
    f.mode = this.mode;
    this.figures = f;
    this._adapt(f);
    this._emit("quality", f);
  }

  _slowLink() { this._slow = (this._slow || 0) + 2; }

  _adapt(f) {
    if (this.state !== "connected" || !this.videoTx) return;
    const poor = (f.available_kbps && f.available_kbps < 120) || (this._slow || 0) >= 6;
    const good = !f.available_kbps || f.available_kbps > 400;
    this._slow = Math.max(0, (this._slow || 0) - 1);
    this._poor = poor ? (this._poor || 0) + 1 : 0;
    this._good = good ? (this._good || 0) + 1 : 0;
    if (this._poor >= 3 && this.mode !== "audio") this.setMode(this.mode === "video" ? "low" : "audio");
    else if (this._good >= 5 && this.mode !== "video") this.setMode(this.mode === "audio" ? "low" : "video");
  }

  // "video" (full), "low" (150 kbps cap, half resolution), "audio" (video not sent)
  async setMode(mode) {
    const sender = this.videoTx && this.videoTx.sender;
    if (!sender) return;
    const params = sender.getParameters();
    if (!params.encodings || !params.encodings.length) params.encodings = [{}];
    const m = this.server.media;
    params.encodings.forEach((e, i) => {
      e.active = mode !== "audio" && (i === 0 || mode === "video");
      if (i === 0) { e.maxBitrate = mode === "low" ? 150000 : m.bitrate; e.scaleResolutionDownBy = mode === "low" ? 2 : 1; }
    });
    try { await sender.setParameters(params); } catch (_) { return; }
    this.mode = mode;
    this._poor = this._good = 0;
    this.sig.send("quality", { ...this.figures, mode });
    this._emitStatus();
  }

  _reportQuality() {
    if (this.state === "connected" || this.state === "reconnecting") {
      const f = this.figures, out = {};
      for (const k of ["rtt_ms", "jitter_ms", "packets_lost", "fps", "in_kbps", "out_kbps", "frames_decoded", "audio_energy", "available_kbps", "mode"]) {
        if (f[k] !== undefined) out[k] = f[k];
      }
      this.sig.send("quality", out);
    }
  }

  // --- ending ---------------------------------------------------------------------------------
  async hangup(reason = "") {
    if (this.ended) return;
    this.hangingUp = true;
    await this.sig.send("hangup", { reason });
    this._finish(reason === "network" ? "network" : `${this.role}_hangup`, reason === "network"
      ? "Mất kết nối quá thời gian cho phép" : "Bạn đã kết thúc cuộc gọi", this.role);
  }

  _finish(reason, label, by) {
    if (this.ended) return;
    this.ended = true;
    this.timers.forEach(clearInterval);
    this._teardownMedia(true);
    this._playFile(this.server && this.server.files && this.server.files.greeting_end, false);
    this.sig.close();
    this._setState("ended");
    this._emit("ended", { reason, label, by });
  }
}
