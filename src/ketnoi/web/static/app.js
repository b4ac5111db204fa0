// ketnoi console: CSRF header for HTMX, the real-time hub connection, confirmations and toasts.
(function () {
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.content : "";
  document.addEventListener("htmx:configRequest", (e) => { if (csrf) e.detail.headers["X-CSRF-Token"] = csrf; });

  window.ketnoiToast = function (text, ms) {
    const t = document.createElement("div");
    t.className = "toast"; t.setAttribute("role", "status"); t.textContent = text;
    document.body.appendChild(t);
    setTimeout(() => t.remove(), ms || 6000);
  };

  // Forms and buttons with data-confirm ask first; data-confirm2 asks a second time (e.g. parents).
  document.addEventListener("submit", (e) => {
    const f = e.target;
    const m1 = f.getAttribute("data-confirm"), m2 = f.getAttribute("data-confirm2");
    if (m1 && !window.confirm(m1)) { e.preventDefault(); return; }
    if (m2 && !window.confirm(m2)) { e.preventDefault(); }
  }, true);

  const toggle = document.querySelector(".menu-toggle");
  if (toggle) toggle.addEventListener("click", () => document.querySelector(".sidebar").classList.toggle("open"));

  // Page-size selector and filters submit on change.
  document.querySelectorAll("[data-autosubmit]").forEach((el) => el.addEventListener("change", () => el.form.submit()));

  // Real-time hub (API.md): one WebSocket per page, reconnecting with back-off.
  const body = document.body;
  if (!body.dataset.hub) return;
  let delay = 1000, stopped = false;
  const handlers = {
    "session.replaced": (ev) => {
      stopped = true;
      const msg = (ev.data && ev.data.message) || "Phiên làm việc đã kết thúc.";
      body.dataset.sessionReplaced = "1";
      ketnoiToast(msg, 10000);
      setTimeout(() => { window.location.href = "/login?ended=" + encodeURIComponent(body.dataset.sessionId) + "&next=" + encodeURIComponent(location.pathname); }, 1500);
    },
    "session.ended": () => { stopped = true; window.location.href = "/login?ended=" + encodeURIComponent(body.dataset.sessionId); },
  };
  window.ketnoiHub = { on: (type, fn) => { handlers[type] = fn; } };
  function connect() {
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/v1/hub");
    ws.onopen = () => { delay = 1000; body.dataset.hubState = "open"; };
    ws.onmessage = (m) => {
      let ev; try { ev = JSON.parse(m.data); } catch (_) { return; }
      document.dispatchEvent(new CustomEvent("ketnoi:" + ev.type, { detail: ev }));
      if (handlers[ev.type]) handlers[ev.type](ev);
    };
    ws.onclose = (e) => {
      body.dataset.hubState = "closed";
      if (stopped || e.code === 4401) return;
      setTimeout(connect, delay); delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
})();
