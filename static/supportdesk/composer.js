/**
 * Composer: sends a message over HTTP with a client-made id, shows it at once as "Sending…",
 * and swaps in the stored copy when the server answers (Realtime.apply matches data-client-id,
 * so the socket's copy and the response's copy never show twice). A send that keeps failing
 * shows "Not sent — Retry"; a retry reuses the same client_id, so the server stores it once.
 *
 *   Composer.attach(form, {
 *     log: () => element,                 // where the optimistic copy goes
 *     headers: async () => ({}),          // e.g. the visitor token; may create a session first
 *     onStored(response) {},              // after a 2xx, before the HTML is applied
 *   });
 *
 * Enter sends, Shift+Enter starts a new line; the textarea grows with its text.
 */
(function () {
  "use strict";

  const ATTEMPTS = 3;
  const RETRY_DELAYS_MS = [700, 2000];

  function uuid4() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    // randomUUID needs a secure context; getRandomValues does not (plain-http intranets).
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function attach(form, options) {
    const input = form.querySelector("textarea");
    const errorBox = form.querySelector(".composer__error");

    function showError(text) {
      if (!errorBox) return;
      errorBox.textContent = text || "";
      errorBox.hidden = !text;
    }

    function grow() {
      input.style.height = "auto";
      input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
    }

    function pendingCopy(clientId, text) {
      const li = document.createElement("li");
      li.className = "msg msg--mine msg--pending";
      li.dataset.pending = "";
      li.dataset.clientId = clientId;
      li.dataset.sort = "Infinity"; // after every stored message until it is stored itself
      const content = document.createElement("div");
      content.className = "msg__content";
      const bubble = document.createElement("p");
      bubble.className = "msg__bubble";
      bubble.textContent = text; // never parsed as HTML
      const meta = document.createElement("span");
      meta.className = "msg__meta";
      const state = document.createElement("span");
      state.className = "msg__state";
      state.textContent = "Sending…";
      meta.append(state);
      content.append(bubble, meta);
      li.append(content);
      return li;
    }

    async function deliver(copy, text, clientId) {
      const fields = new URLSearchParams(new FormData(form));
      fields.set("body", text);
      fields.set("client_id", clientId);
      for (let attempt = 1; attempt <= ATTEMPTS; attempt += 1) {
        let response = null;
        try {
          response = await fetch(form.action, {
            method: "POST",
            headers: { ...(await options.headers()), "Content-Type": "application/x-www-form-urlencoded" },
            body: fields,
            credentials: "same-origin",
          });
        } catch (_) {
          response = null; // network down: try again
        }
        if (response && response.ok) {
          options.onStored && options.onStored(response);
          window.Realtime.apply(await response.text());
          return;
        }
        if (response && response.status < 500 && response.status !== 429) {
          // The server refused it for a reason a retry will not change: say it, keep the text.
          let message = "Not sent.";
          try {
            message = (await response.json()).message || message;
          } catch (_) { /* not JSON */ }
          failed(copy, text, clientId, message, false);
          return;
        }
        if (attempt < ATTEMPTS) await new Promise((r) => setTimeout(r, RETRY_DELAYS_MS[attempt - 1]));
      }
      failed(copy, text, clientId, "Not sent", true);
    }

    function failed(copy, text, clientId, message, retryable) {
      if (!copy.isConnected) return; // the socket delivered the stored copy meanwhile
      copy.classList.add("msg--failed");
      const state = copy.querySelector(".msg__state");
      state.textContent = retryable ? `${message} — ` : message;
      if (!retryable) {
        showError(message);
        return;
      }
      const retry = document.createElement("button");
      retry.type = "button";
      retry.className = "link-button";
      retry.textContent = "Retry";
      retry.addEventListener("click", () => {
        copy.classList.remove("msg--failed");
        state.textContent = "Sending…";
        deliver(copy, text, clientId);
      });
      state.append(retry);
    }

    function submit() {
      const text = input.value.trim();
      if (!text) return;
      showError("");
      const clientId = uuid4();
      const copy = pendingCopy(clientId, text);
      const log = options.log();
      log.append(copy);
      log.scrollTop = log.scrollHeight;
      input.value = "";
      grow();
      deliver(copy, text, clientId);
    }

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submit();
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        submit();
      }
    });
    input.addEventListener("input", grow);
  }

  window.Composer = { attach, uuid4 };
})();
