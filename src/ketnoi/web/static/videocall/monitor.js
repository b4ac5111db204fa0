// Live monitor of video calls (VC-24): redraws the board from the live report on every
// `videocall.monitor` hub event (debounced) and every 15 s (agents' status changes).
const root = document.getElementById("vc-monitor");
const url = root.dataset.liveUrl;
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const dur = (s) => { s = Math.max(0, Math.round(s || 0)); return `${Math.floor(s / 3600)}:${String(Math.floor(s % 3600 / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`; };
window.__vcMonitor = { refreshes: 0, events: 0 };

async function refresh() {
  const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!r.ok) return;
  const b = await r.json();
  document.getElementById("vc-mon-ncalls").textContent = b.calls.length;
  document.getElementById("vc-mon-free").textContent = b.agent_counts.available || 0;
  document.getElementById("vc-mon-busy").textContent = b.agent_counts.busy || 0;
  document.getElementById("vc-mon-at").textContent = new Date(b.at).toLocaleString("vi-VN");
  document.querySelector("#vc-mon-calls tbody").innerHTML = b.calls.length ? b.calls.map((c) =>
    `<tr data-call="${esc(c.id)}"><td><a href="/videocall/calls/${esc(c.id)}">${esc(c.code)}</a></td><td>${esc(c.status_label)}</td>` +
    `<td>${esc(c.caller)}</td><td>${esc(c.unit)}</td><td>${esc(c.hotline)}</td><td>${esc(c.group)}</td><td>${esc(c.agent)}</td>` +
    `<td>${dur(c.seconds)}</td></tr>`).join("") : '<tr><td colspan="8" class="muted">Không có cuộc gọi nào đang diễn ra.</td></tr>';
  document.querySelector("#vc-mon-agents tbody").innerHTML = b.agents.length ? b.agents.map((a) =>
    `<tr data-agent="${esc(a.agent_id)}"><td>${esc(a.agent)}</td><td>${esc(a.status_label)}</td><td>${dur(a.seconds)}</td></tr>`).join("")
    : '<tr><td colspan="3" class="muted">Chưa có điều phối viên.</td></tr>';
  window.__vcMonitor.refreshes += 1;
}

let timer = null;
document.addEventListener("ketnoi:videocall.monitor", () => {
  window.__vcMonitor.events += 1;
  clearTimeout(timer);
  timer = setTimeout(refresh, 300);
});
setInterval(refresh, 15000);
