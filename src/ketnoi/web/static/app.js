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

// Reports console (CRM-03, 38): toasts linking to reports that await me or reached my unit, list
// refresh on report changes, the detail modal of the lists, and row selection for the Excel export.
(function () {
  const recent = {};
  function stack() {
    let s = document.querySelector(".toast-stack");
    if (!s) { s = document.createElement("div"); s.className = "toast-stack"; document.body.appendChild(s); }
    return s;
  }
  function reportToast(ev) {
    const d = ev.detail && ev.detail.data;
    if (!d || !d.message) return;
    const now = Date.now();
    if (d.id && recent[d.id] && now - recent[d.id] < 5000) return; // awaiting + dispatched of one change
    if (d.id) recent[d.id] = now;
    window.ketnoiToast(d.message, 12000);
    const toasts = document.body.querySelectorAll(":scope > .toast");
    const t = toasts[toasts.length - 1];
    if (!t) return;
    t.classList.add("report-toast");
    t.dataset.reportId = d.id || "";
    if (d.url) {
      const a = document.createElement("a");
      a.href = d.url; a.textContent = "Mở phản ánh";
      t.appendChild(document.createTextNode(" ")); t.appendChild(a);
    }
    stack().appendChild(t);
  }
  document.addEventListener("ketnoi:report.awaiting", reportToast);
  document.addEventListener("ketnoi:report.dispatched", reportToast);

  // A report changed: refresh the list on screen, unless the user is choosing rows or reading a report.
  let pending = null;
  document.addEventListener("ketnoi:report.changed", () => {
    const list = document.querySelector("[data-report-list]");
    if (!list || !window.htmx) return;
    clearTimeout(pending);
    pending = setTimeout(() => {
      const modal = document.getElementById("report-modal");
      if (document.querySelector("[data-report-list] input[name=ids]:checked") || (modal && modal.open)) return;
      htmx.trigger(document.querySelector("[data-report-list]"), "reports-refresh");
    }, 300);
  });

  // The detail modal: opened when HTMX has loaded a report into it.
  document.addEventListener("htmx:afterSwap", (e) => {
    const target = e.detail && e.detail.target;
    if (target && target.id === "report-modal-body") {
      const modal = document.getElementById("report-modal");
      if (modal && !modal.open) modal.showModal();
    }
    bindAutosubmit();
    updateSelection();
  });
  // [data-autosubmit] controls of swapped-in content (the page's own were bound at load)
  function bindAutosubmit() {
    document.querySelectorAll("[data-autosubmit]:not([data-bound])").forEach((el) => {
      el.dataset.bound = "1";
      el.addEventListener("change", () => el.form.submit());
    });
  }
  document.querySelectorAll("[data-autosubmit]").forEach((el) => { el.dataset.bound = "1"; });
  document.addEventListener("click", (e) => {
    if (e.target.closest("[data-close-modal]")) document.getElementById("report-modal").close();
  });

  // Row selection → the "export selected" button.
  function updateSelection() {
    const n = document.querySelectorAll("[data-report-list] input[name=ids]:checked").length;
    document.querySelectorAll("[data-selected-count]").forEach((el) => { el.textContent = n; });
    document.querySelectorAll("[data-needs-selection]").forEach((el) => { el.disabled = n === 0; });
  }
  document.addEventListener("change", (e) => {
    if (e.target.matches("[data-select-all]")) {
      document.querySelectorAll("[data-report-list] input[name=ids]").forEach((c) => { c.checked = e.target.checked; });
    }
    if (e.target.matches("[data-select-all], [data-report-list] input[name=ids]")) updateSelection();
  });
  updateSelection();
})();
