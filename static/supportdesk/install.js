/**
 * The inbox's Install page in the admin (templates/admin/chat/inbox/install.html,
 * chat/admin_install.py): Copy buttons, the preview that follows the look's fields as they are
 * edited, the "seen on your site" check asked again every few seconds until the widget was seen,
 * and Reveal / Hide for the identity verification secret. Texts come from the page (data-*).
 */

const page = document.querySelector(".install");

// --- Copy ---------------------------------------------------------------------------------

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (_) {
    // No clipboard API (a page not served over HTTPS, an old browser): the selection's copy.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "install__scratch";
    document.body.append(area);
    area.select();
    let done = false;
    try {
      done = document.execCommand("copy");
    } catch (_) { /* refused as well: say so */ }
    area.remove();
    return done;
  }
}

function installCopyButtons() {
  page.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    const status = document.getElementById(button.getAttribute("aria-describedby"));
    const done = await copyText(source.textContent.trim());
    status.textContent = done ? page.dataset.copiedText : page.dataset.copyFailedText;
    status.dataset.done = String(done);
    if (!done) window.getSelection().selectAllChildren(source);
    clearTimeout(status.clearTimer);
    status.clearTimer = setTimeout(() => { status.textContent = ""; }, 4000);
  });
}

// --- The preview --------------------------------------------------------------------------

// chat/contrast.py's ink_on: white where it reaches 4.5:1 on the accent, else near-black, else
// black; what the widget itself puts on the accent.
function luminance(hex) {
  const channels = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
  const [r, g, b] = channels.map((c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

function contrast(a, b) {
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (light + 0.05) / (dark + 0.05);
}

export function inkOn(accent) {
  for (const ink of ["#ffffff", "#111111"]) if (contrast(ink, accent) >= 4.5) return ink;
  return "#000000";
}

function installPreview() {
  const preview = document.getElementById("install-preview");
  const form = document.querySelector(".install__form");
  if (!preview || !form) return;
  const title = form.elements.widget_title;
  const greeting = form.elements.greeting;
  const accent = form.elements.accent_color;
  function render() {
    const colour = /^#[0-9a-fA-F]{6}$/.test(accent.value) ? accent.value : "#3b5bdb";
    preview.style.setProperty("--preview-accent", colour);
    preview.style.setProperty("--preview-ink", inkOn(colour));
    preview.querySelector(".install-preview__title").textContent =
      title.value.trim() || title.placeholder;
    const bubble = preview.querySelector(".install-preview__bubble--theirs");
    bubble.textContent = greeting.value.trim();
    bubble.hidden = !greeting.value.trim();
    const side = form.querySelector('[name="launcher_position"]:checked');
    preview.dataset.position = side ? side.value : "right";
  }
  form.addEventListener("input", render);
  form.addEventListener("change", render);
  render();
}

// --- Seen on the site ---------------------------------------------------------------------

const CHECK_EVERY_MS = 5000;
const CHECK_FOR_MS = 15 * 60 * 1000; // a page left open does not ask forever

function installSeenCheck() {
  const box = document.getElementById("install-seen");
  const button = document.getElementById("install-check");
  if (!box || !button) return;
  const started = Date.now();
  let timer = null;
  async function check() {
    clearTimeout(timer);
    try {
      const response = await fetch(box.dataset.url, { headers: { Accept: "text/html" } });
      if (response.ok) box.innerHTML = await response.text();
    } catch (_) { /* offline for a moment: the next check */ }
    schedule();
  }
  function schedule() {
    const state = box.querySelector("[data-state]");
    const seen = state && state.dataset.state === "seen";
    if (!seen && Date.now() - started < CHECK_FOR_MS) timer = setTimeout(check, CHECK_EVERY_MS);
  }
  button.addEventListener("click", check);
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) clearTimeout(timer);
    else schedule();
  });
  schedule();
}

// --- The secret ---------------------------------------------------------------------------

function installReveal() {
  const box = document.querySelector("[data-reveal]");
  if (!box) return;
  const secret = document.getElementById("identity-secret");
  const form = box.querySelector(".install__reveal");
  const copy = box.querySelector(".install__copy");
  const hide = box.querySelector(".install__hide");
  const masked = secret.innerHTML;
  function show(value) {
    secret.textContent = value;
    secret.dataset.masked = "false";
    form.hidden = true;
    copy.hidden = false;
    hide.hidden = false;
    hide.focus();
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "application/json" },
      });
      if (!response.ok) throw new Error(String(response.status));
      show((await response.json()).secret);
    } catch (_) {
      form.submit(); // the page itself shows it
    }
  });
  hide.addEventListener("click", () => {
    secret.innerHTML = masked.includes("•") ? masked : "••••••••••••••••••••••••";
    secret.dataset.masked = "true";
    form.hidden = false;
    copy.hidden = true;
    hide.hidden = true;
    form.querySelector("button").focus();
  });
}

if (page) {
  installCopyButtons();
  installPreview();
  installSeenCheck();
  installReveal();
}
