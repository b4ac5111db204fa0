// Demo caller page (VC-01, 02): signs the start request, then runs the call with the SDK.
import { VideoCall, startSignedCall } from "./ketnoi-video.js";

const $ = (sel) => document.querySelector(sel);
const two = (n) => String(n).padStart(2, "0");
const LABELS = { connecting: "Đang kết nối", waiting: "Đang chờ điều phối viên", ringing: "Đang đổ chuông",
  answered: "Đã nhận", joining: "Đang vào phòng", connected: "Đã kết nối", reconnecting: "Đang kết nối lại", ended: "Đã kết thúc" };
let call = null;
window.__vc = { get call() { return call; }, events: [], started: null };

function render(s) {
  const box = $("#vc-status");
  box.querySelector('[data-f="caller"]').textContent = s.caller || "–";
  box.querySelector('[data-f="callee"]').textContent = s.callee || "–";
  box.querySelector('[data-f="hotline"]').textContent = s.hotline ? `${s.hotline.number} – ${s.hotline.name}` : "–";
  const c = box.querySelector('[data-f="connection"]');
  c.textContent = LABELS[s.state] || s.state;
  c.dataset.state = s.state;
  box.querySelector('[data-f="duration"]').textContent = s.duration == null ? "00:00" : `${two(Math.floor(s.duration / 60))}:${two(s.duration % 60)}`;
}

$("#vc-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const payload = { hotline: f.get("hotline"), caller: { id: f.get("caller_id"), name: f.get("name"), phone: f.get("phone"),
    unit: f.get("unit"), team: f.get("team"), group: f.get("group") } };
  $("#vc-start").disabled = true;
  try {
    const started = await startSignedCall("", f.get("key"), f.get("secret"), payload);
    window.__vc.started = started;
    call = new VideoCall({ callId: started.call.id, participant: started.participant, localVideo: $("#vc-local"),
      remoteVideo: $("#vc-remote"), announcer: $("#vc-announcer") });
    call.addEventListener("status", (e) => render(e.detail));
    call.addEventListener("state", (e) => window.__vc.events.push("state:" + e.detail.state));
    call.addEventListener("reconnecting", (e) => { $("#vc-message").textContent = "Đang kết nối lại…"; window.__vc.events.push("reconnecting:" + e.detail.phase); });
    call.addEventListener("reconnected", (e) => { $("#vc-message").textContent = "Đã kết nối lại."; window.__vc.events.push("reconnected:" + e.detail.how); });
    call.addEventListener("camera", (e) => window.__vc.events.push("camera:" + e.detail.facing));
    call.addEventListener("ended", (e) => { $("#vc-message").textContent = "Cuộc gọi đã kết thúc: " + (e.detail.label || ""); window.__vc.events.push("ended"); });
    await call.connect();
  } catch (e) {
    $("#vc-message").textContent = e.message;
    $("#vc-start").disabled = false;
  }
});
$("#vc-switch").addEventListener("click", () => call && call.switchCamera().catch((e) => { $("#vc-message").textContent = e.message; }));
$("#vc-hangup").addEventListener("click", () => call && call.hangup());
