// Agent desk (VC-03, 05, 07, 09): availability, incoming calls (hub event + ring sound), answering
// with the SDK, live status, camera switch, hang-up.
import { VideoCall } from "./ketnoi-video.js";

const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
const $ = (sel) => document.querySelector(sel);
const ring = new Audio("/static/videocall/ring.wav");
ring.loop = true;
let call = null;
window.__vc = { get call() { return call; }, events: [] };

async function api(path, body) {
  const r = await fetch("/api/v1/videocall" + path, {
    method: body === undefined ? "GET" : "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = r.status === 204 ? {} : await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(data.detail || "Lỗi " + r.status);
  return data;
}

function showStatus(me) {
  const el = $("#vc-agent-status");
  if (el) { el.textContent = me.status_label; el.dataset.status = me.status; }
}

document.querySelectorAll("[data-set-status]").forEach((b) => b.addEventListener("click", async () => {
  try { showStatus(await api("/agent/status", { status: b.dataset.setStatus })); } catch (e) { ketnoiToast(e.message); }
}));
setInterval(() => { if ($("#vc-agent").dataset.agent) api("/agent/status", null).then(showStatus).catch(() => {}); }, 20000);

function ringCard(d) {
  if (document.querySelector(`[data-ring="${d.call_id}"]`)) return;
  const card = document.createElement("div");
  card.className = "ring";
  card.dataset.ring = d.call_id;
  card.innerHTML = '<strong></strong><span class="muted"></span><button class="btn primary" type="button">Nhận</button>'
    + '<button class="btn" type="button">Từ chối</button>';
  card.querySelector("strong").textContent = "Cuộc gọi video từ " + (d.caller || "");
  card.querySelector("span").textContent = [d.unit, d.hotline && "hotline " + d.hotline, d.group].filter(Boolean).join(" · ");
  const [accept, decline] = card.querySelectorAll("button");
  accept.addEventListener("click", () => answer(d.call_id));
  decline.addEventListener("click", () => api(`/calls/${d.call_id}/decline`, {}).catch(() => {}).finally(() => dropRing(d.call_id)));
  $("#vc-incoming").appendChild(card);
  ring.play().catch(() => {});
}

function dropRing(callId) {
  const el = document.querySelector(`[data-ring="${callId}"]`);
  if (el) el.remove();
  if (!document.querySelector("[data-ring]")) { ring.pause(); ring.currentTime = 0; }
}

document.addEventListener("ketnoi:videocall.ringing", (e) => { window.__vc.events.push("ringing"); ringCard(e.detail.data); });
document.addEventListener("ketnoi:videocall.ring_stopped", (e) => { window.__vc.events.push("ring_stopped"); dropRing(e.detail.data.call_id); });

const two = (n) => String(n).padStart(2, "0");
const LABELS = { connecting: "Đang kết nối", waiting: "Đang chờ", ringing: "Đang đổ chuông", answered: "Đã nhận",
  joining: "Đang vào phòng", connected: "Đã kết nối", reconnecting: "Đang kết nối lại", ended: "Đã kết thúc" };

function render(s) {
  const box = $("#vc-status");
  box.querySelector('[data-f="caller"]').textContent = s.caller || "–";
  box.querySelector('[data-f="callee"]').textContent = s.callee || "–";
  box.querySelector('[data-f="hotline"]').textContent = s.hotline ? `${s.hotline.number} – ${s.hotline.name}` : "–";
  box.querySelector('[data-f="connection"]').textContent = LABELS[s.state] || s.state;
  box.querySelector('[data-f="connection"]').dataset.state = s.state;
  box.querySelector('[data-f="duration"]').textContent = s.duration == null ? "00:00" : `${two(Math.floor(s.duration / 60))}:${two(s.duration % 60)}`;
}

async function answer(callId) {
  dropRing(callId);
  ring.pause();
  let creds;
  try { creds = await api(`/calls/${callId}/accept`, {}); } catch (e) { ketnoiToast(e.message); return; }
  $("#vc-call").hidden = false;
  $("#vc-message").textContent = "";
  showStatus({ status: "busy", status_label: "Đang gọi" });
  call = new VideoCall({ callId, participant: creds.participant, localVideo: $("#vc-local"), remoteVideo: $("#vc-remote") });
  call.addEventListener("status", (e) => render(e.detail));
  call.addEventListener("state", (e) => window.__vc.events.push("state:" + e.detail.state));
  call.addEventListener("reconnecting", (e) => { $("#vc-message").textContent = "Đang kết nối lại…"; window.__vc.events.push("reconnecting:" + e.detail.phase); });
  call.addEventListener("reconnected", (e) => { $("#vc-message").textContent = "Đã kết nối lại."; window.__vc.events.push("reconnected:" + e.detail.how); });
  call.addEventListener("ended", (e) => {
    $("#vc-message").textContent = "Cuộc gọi đã kết thúc: " + (e.detail.label || "");
    window.__vc.events.push("ended");
    setTimeout(() => api("/agent/me").then(showStatus).catch(() => {}), 500); // busy → available again
  });
  try { await call.connect(); } catch (e) { $("#vc-message").textContent = e.message; }
}

$("#vc-switch") && $("#vc-switch").addEventListener("click", () => call && call.switchCamera().catch((e) => ketnoiToast(e.message)));
$("#vc-hangup") && $("#vc-hangup").addEventListener("click", () => call && call.hangup());

// a call that was ringing before the page loaded
api("/agent/me").then((me) => (me.ringing || []).forEach((r) => ringCard({ call_id: r.call_id, caller: r.caller, unit: r.unit }))).catch(() => {});
