// A small client of the Janus WebSocket API and its VideoRoom plugin (VC-03), used by ketnoi-video.js.
// One JanusLink is one Janus session: requests are matched on `transaction`, events are routed to
// the handle that sent them (`sender`), and the session is kept alive every 25 s.

const PLUGIN = "janus.plugin.videoroom";

function tx() {
  const a = new Uint8Array(8);
  crypto.getRandomValues(a);
  return Array.from(a, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class JanusError extends Error {
  constructor(message, code) { super(message); this.code = code; }
}

export class JanusLink extends EventTarget {
  constructor(url, token) {
    super();
    this.url = url;
    this.token = token;
    this.ws = null;
    this.sessionId = null;
    this.pending = new Map();
    this.handles = new Map(); // handle id -> EventTarget
    this.keepalive = null;
    this.closed = false;
  }

  open(timeoutMs = 8000) {
    return new Promise((resolve, reject) => {
      let done = false;
      const ws = new WebSocket(this.url, "janus-protocol");
      const timer = setTimeout(() => { if (!done) { done = true; ws.close(); reject(new JanusError("Janus không phản hồi")); } }, timeoutMs);
      ws.onopen = () => { if (!done) { done = true; clearTimeout(timer); this.ws = ws; resolve(); } };
      ws.onerror = () => { if (!done) { done = true; clearTimeout(timer); reject(new JanusError("Không kết nối được máy chủ media")); } };
      ws.onmessage = (m) => this._onMessage(m);
      ws.onclose = () => {
        if (this.ws === ws) this.ws = null;
        for (const [, p] of this.pending) p.reject(new JanusError("Mất kết nối máy chủ media"));
        this.pending.clear();
        if (!this.closed) this.dispatchEvent(new CustomEvent("lost"));
      };
    });
  }

  // Opens the socket and creates a session; with `claim` re-attaches an existing session (reclaim).
  async connect(claimSessionId = null) {
    await this.open();
    if (claimSessionId) {
      await this.request({ janus: "claim", session_id: claimSessionId });
      this.sessionId = claimSessionId;
    } else {
      const r = await this.request({ janus: "create" });
      this.sessionId = r.data.id;
    }
    clearInterval(this.keepalive);
    this.keepalive = setInterval(() => {
      if (this.ws && this.sessionId) this.request({ janus: "keepalive", session_id: this.sessionId }, { ack: true }).catch(() => {});
    }, 25000);
    return this.sessionId;
  }

  request(msg, { ack = false, timeoutMs = 10000 } = {}) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return Promise.reject(new JanusError("Mất kết nối máy chủ media"));
    const transaction = tx();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.pending.delete(transaction); reject(new JanusError("Máy chủ media không trả lời")); }, timeoutMs);
      this.pending.set(transaction, {
        ack,
        resolve: (v) => { clearTimeout(timer); resolve(v); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this.ws.send(JSON.stringify({ ...msg, transaction, token: this.token }));
    });
  }

  _onMessage(m) {
    let msg;
    try { msg = JSON.parse(m.data); } catch (_) { return; }
    const p = msg.transaction && this.pending.get(msg.transaction);
    if (p && (msg.janus !== "ack" || p.ack)) {
      this.pending.delete(msg.transaction);
      if (msg.janus === "error") p.reject(new JanusError(msg.error?.reason || "Lỗi máy chủ media", msg.error?.code));
      else {
        const data = msg.plugindata?.data;
        if (data && data.error_code) p.reject(new JanusError(data.error || "Lỗi phòng gọi", data.error_code));
        else p.resolve(msg);
      }
      return;
    }
    if (msg.janus === "ack" || msg.janus === "success") return;
    const h = msg.sender && this.handles.get(msg.sender);
    if (h) h.dispatchEvent(new CustomEvent("janus", { detail: msg }));
    else if (msg.janus === "timeout") this.dispatchEvent(new CustomEvent("lost"));
  }

  async attach() {
    const r = await this.request({ janus: "attach", plugin: PLUGIN, session_id: this.sessionId });
    const handle = new EventTarget();
    handle.id = r.data.id;
    this.handles.set(handle.id, handle);
    return handle;
  }

  // A plugin request; resolves with {data, jsep} of the plugin's answer (sync or async).
  async message(handle, body, jsep = null, timeoutMs = 15000) {
    const msg = { janus: "message", session_id: this.sessionId, handle_id: handle.id, body };
    if (jsep) msg.jsep = jsep;
    const r = await this.request(msg, { timeoutMs });
    return { data: r.plugindata?.data || {}, jsep: r.jsep || null };
  }

  trickle(handle, candidate) {
    const c = candidate ? { candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex }
      : { completed: true };
    return this.request({ janus: "trickle", session_id: this.sessionId, handle_id: handle.id, candidate: c }, { ack: true })
      .catch(() => {});
  }

  async detach(handle) {
    this.handles.delete(handle.id);
    if (this.ws && this.sessionId) {
      await this.request({ janus: "detach", session_id: this.sessionId, handle_id: handle.id }).catch(() => {});
    }
  }

  // Drops the socket without destroying the session (it may be reclaimed within Janus's grace).
  drop() {
    clearInterval(this.keepalive);
    const ws = this.ws;
    this.ws = null;
    if (ws) { ws.onclose = null; ws.close(); }
    for (const [, p] of this.pending) p.reject(new JanusError("Mất kết nối máy chủ media"));
    this.pending.clear();
  }

  async close() {
    this.closed = true;
    clearInterval(this.keepalive);
    if (this.ws && this.sessionId) {
      await this.request({ janus: "destroy", session_id: this.sessionId }, { timeoutMs: 2000 }).catch(() => {});
    }
    if (this.ws) this.ws.close();
    this.ws = null;
  }
}
