// Progressive enhancement only: every page works without this file.
"use strict";

// Copy buttons: data-copy names the element whose value or text is copied.
document.addEventListener("click", (ev) => {
  const btn = ev.target.closest("[data-copy]");
  if (!btn) return;
  const el = document.getElementById(btn.dataset.copy);
  const text = el.value !== undefined ? el.value : el.textContent;
  navigator.clipboard.writeText(text).then(() => {
    const label = btn.textContent;
    btn.textContent = "Copied";
    setTimeout(() => { btn.textContent = label; }, 1500);
  }, () => {
    if (el.select) el.select();
  });
});

// Selects marked data-autosubmit submit their form when changed.
document.addEventListener("change", (ev) => {
  if (ev.target.matches("[data-autosubmit]")) ev.target.form.submit();
});

// Live tail of the SCIM log: while checked, replace the rows with the
// newest page every few seconds.
const tail = document.getElementById("live-tail");
if (tail) {
  const rows = document.getElementById("log-rows");
  const status = document.getElementById("tail-status");
  let timer = null;
  const poll = async () => {
    try {
      const resp = await fetch(tail.dataset.tail, { credentials: "same-origin" });
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      rows.innerHTML = await resp.text();
      status.textContent = "Updated " + new Date().toLocaleTimeString();
    } catch (err) {
      status.textContent = "Live tail paused: " + err.message;
    }
  };
  tail.addEventListener("change", () => {
    clearInterval(timer);
    if (tail.checked) {
      poll();
      timer = setInterval(poll, 3000);
    } else {
      status.textContent = "";
    }
  });
}
