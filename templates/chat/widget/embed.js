/* Supportdesk embed script. One tag on any page:
 *   <script src="https://YOUR-DESK/widget.js" data-inbox="PUBLIC_KEY" async></script>
 * plus, for a signed-in user, data-user-id, -email, -name, -timestamp and -signature.
 * It adds a chat launcher and the chat iframe inside a shadow root, so the host page's styles
 * and scripts and ours never touch each other, and one global: window.Supportdesk, the SDK
 * (docs/API.md, "JavaScript SDK"). The iframe loads after the host page has. */
{% load i18n %}(function () {
  "use strict";
  {% translate "Open chat" as open_chat %}{% translate "Close chat" as close_chat %}{% translate "Chat" as chat %}{% translate "unread message" as unread_one %}{% translate "unread messages" as unread_many %}{% translate "Dismiss" as dismiss %}
  var T = {
    dismiss: "{{ dismiss|escapejs }}",
    open: "{{ open_chat|escapejs }}",
    close: "{{ close_chat|escapejs }}",
    chat: "{{ chat|escapejs }}",
    unreadOne: "{{ unread_one|escapejs }}",
    unreadMany: "{{ unread_many|escapejs }}"
  };
  var script = document.currentScript;
  var S = window.Supportdesk;
  if (!script || (S && S.loaded)) return;
  var key = script.getAttribute("data-inbox");
  if (!key) {
    console.error("Supportdesk: add data-inbox=\"PUBLIC_KEY\" to the widget's script tag.");
    return;
  }
  var origin = new URL(script.src, location.href).origin;
{# The SDK (docs/API.md). The calls the frame answers (identify, logout, setAttributes) wait in #}
{# `outbox` until it is ready, their promises in `waiting` by id until it answers. #}
  var open = false, unread = 0, ready = false, outbox = [], waiting = {}, calls = 0;
  var frame, toggle, reloaded; {# mount() sets the first two, on the page's load #}
  var listeners = { message: [], open: [], close: [], unread: [] };
  function emit(name, data) {
    listeners[name].forEach(function (fn) {
      try { fn(data); } catch (error) { console.error(error); } {# the other listeners still run #}
    });
  }
  function flush() {
    while (ready && outbox.length) frame.contentWindow.postMessage(outbox.shift(), origin);
  }
  function ask(method, args) {
    return new Promise(function (resolve, reject) {
      waiting[++calls] = [resolve, reject];
      {# A plain copy: a function or a DOM node in it would make postMessage throw. #}
      outbox.push({ type: "supportdesk:call", id: calls, method: method, args: JSON.parse(JSON.stringify(args || {})) });
      flush();
    });
  }
  function show(next) {
    if (toggle) toggle(next);
    else if (open !== next) emit((open = next) ? "open" : "close"); {# mount() draws it open #}
  }
  var sdk = window.Supportdesk = {
    loaded: true,
    open: function () { show(true); },
    close: function () { show(false); },
    toggle: function () { show(!open); },
    identify: function (user) { return ask("identify", user); },
    logout: function () { return ask("logout"); },
    setAttributes: function (attributes) { return ask("setAttributes", attributes); },
    on: function (name, fn) {
      if (listeners[name]) listeners[name].push(fn);
      else console.error("Supportdesk.on: no event " + name);
    },
    unreadCount: function () { return unread; }
  };
{# The calls the page's snippet queued before we loaded, in order. #}
  ((S && S.q) || []).forEach(function (call) {
    var result;
    try { result = sdk[call[0]].apply(sdk, call[1]); } catch (error) { result = Promise.reject(error); }
    if (call[2]) Promise.resolve(result).then(call[2], call[3]);
  });

  var css =
    ":host{all:initial}" +
    ".launcher{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;" +
    "background:var(--sd-accent,#3b5bdb);color:var(--sd-ink,#fff);cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483646;" +
    "display:flex;align-items:center;justify-content:center;transition:transform .15s,opacity .2s}" +
    ".loading .launcher{opacity:0;visibility:hidden}" +
    ".left .launcher{right:auto;left:20px}.left .frame{right:auto;left:20px}" +
    ".launcher:hover{transform:scale(1.06)}" +
    ".launcher:focus-visible{outline:3px solid #91a7ff;outline-offset:3px}" +
    ".frame{position:fixed;right:20px;bottom:88px;width:380px;height:600px;max-height:calc(100vh - 108px);" +
    "border:0;border-radius:14px;box-shadow:0 10px 40px rgba(0,0,0,.25);background:#fff;z-index:2147483647}" +
    ".frame[hidden]{display:none}" +
    ".badge{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;padding:0 5px;border-radius:10px;" +
    "background:#e03131;color:#fff;font:700 12px/20px system-ui,sans-serif;text-align:center;box-sizing:border-box}" +
    ".badge[hidden]{display:none}" +
    {# A phone: the whole screen, whichever side the launcher is on (as specific as .left .frame). #}
    "@media (max-width:480px){.frame,.left .frame{inset:0;width:100%;height:100%;max-height:none;border-radius:0}" +
    ".open .launcher{display:none}}" +
    {# A new reply while the chat is closed: a bubble beside the launcher, above it, in its corner only. #}
    ".preview{position:fixed;right:20px;bottom:88px;width:max-content;max-width:min(280px,calc(100vw - 40px));display:flex;align-items:flex-start;" +
    "background:#fff;color:#1f2330;border-radius:12px;box-shadow:0 6px 24px rgba(0,0,0,.22);font:14px/1.4 system-ui,sans-serif;z-index:2147483646}" +
    ".left .preview{right:auto;left:20px}.preview[hidden],.open .preview{display:none}" +
    ".pv-open,.pv-x{all:unset;cursor:pointer;color:inherit}.pv-open{padding:9px 2px 10px 12px;min-width:0}" +
    ".pv-open b{display:block;font-size:12px;color:#5c6370}.pv-text{display:-webkit-box;-webkit-line-clamp:3;-webkit-box-orient:vertical;overflow:hidden;overflow-wrap:anywhere}" +
    ".pv-x{padding:5px 9px;font-size:20px;line-height:1;color:#5c6370}.pv-open:focus-visible,.pv-x:focus-visible{outline:3px solid #91a7ff;border-radius:8px}" +
    "@media (max-width:480px){.preview{max-width:200px}.pv-text{-webkit-line-clamp:2}}";

  var chatIcon = '<svg viewBox="0 0 24 24" width="28" height="28" aria-hidden="true"><path fill="currentColor" d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"/></svg>';
  var closeIcon = '<svg viewBox="0 0 24 24" width="24" height="24" aria-hidden="true"><path d="M6 6l12 12M18 6L6 18" stroke="currentColor" stroke-width="2.4" stroke-linecap="round"/></svg>';

  function mount() {
    var host = document.createElement("div");
    host.id = "supportdesk-widget";
    var root = host.attachShadow({ mode: "open" });
    var style = document.createElement("style");
    style.textContent = css;
    var shell = document.createElement("div");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "launcher";
    frame = document.createElement("iframe");
    frame.className = "frame";
    frame.title = T.chat;
    {# Calls (docs/CALLS.md): the frame may ask for the microphone, the camera and a screen to #}
    {# share; the browser still asks the visitor, and only when an agent's call is accepted. #}
    frame.allow = "microphone; camera; display-capture";
    frame.hidden = true;
    {# A signed-in user of this site, vouched for by its server (README, "Identity #}
    {# verification"): handed to the frame in the fragment, which never leaves the browser. #}
    var user = {};
    ["id", "email", "name", "timestamp", "signature"].forEach(function (part) {
      var value = script.getAttribute("data-user-" + part);
      if (value) user[part === "id" ? "user_id" : part] = value;
    });
    frame.src = origin + "/widget/" + encodeURIComponent(key) + "/" +
      (user.user_id ? "#" + encodeURIComponent(JSON.stringify(user)) : "");
    var look = null; // the inbox's accent and launcher side, from the widget page when it is ready
    var preview = document.createElement("div"), who = document.createElement("b"), text = document.createElement("span");
    preview.className = "preview";
    preview.hidden = true;
    preview.setAttribute("aria-live", "polite");
    preview.innerHTML = '<button type="button" class="pv-open"></button><button type="button" class="pv-x">&times;</button>';
    text.className = "pv-text";
    preview.firstChild.append(who, text);
    preview.lastChild.setAttribute("aria-label", T.dismiss);
    preview.firstChild.addEventListener("click", function () { toggle(true); });
    preview.lastChild.addEventListener("click", function () { preview.hidden = true; button.focus(); });

    function render() {
      shell.className = (open ? "open" : "") + (look ? "" : " loading") +
        (look && look.position === "left" ? " left" : "");
      frame.hidden = !open;
      if (open) preview.hidden = true;
      var label = open ? T.close : T.open;
      if (!open && unread) label += ", " + unread + " " + (unread > 1 ? T.unreadMany : T.unreadOne);
      button.setAttribute("aria-label", label);
      button.setAttribute("aria-expanded", String(open));
      button.innerHTML = open ? closeIcon : chatIcon;
      if (!open && unread) {
        var badge = document.createElement("span");
        badge.className = "badge";
        badge.setAttribute("aria-hidden", "true");
        badge.textContent = unread > 99 ? "99+" : String(unread);
        button.appendChild(badge);
      }
    }
    toggle = function (next) {
      if (open !== next) emit(next ? "open" : "close");
      open = next;
      render();
      if (open) {
        if (look) frame.contentWindow.postMessage({ type: "supportdesk:opened" }, origin);
        frame.focus();
      } else {
        frame.contentWindow.postMessage({ type: "supportdesk:closed" }, origin);
        button.focus();
      }
    };
    button.addEventListener("click", function () { toggle(!open); });
    {# Where the visitor is, for the agents: told to the frame when it asks (it has loaded) and #}
    {# whenever the address changes (single-page sites navigate without reloading us). #}
    var lastUrl = null;
    function reportPage(force) {
      if (!force && location.href === lastUrl) return;
      lastUrl = location.href;
      frame.contentWindow.postMessage(
        { type: "supportdesk:page", url: location.href, title: document.title, referrer: document.referrer },
        origin
      );
    }
    window.addEventListener("popstate", function () { reportPage(false); });
    window.addEventListener("hashchange", function () { reportPage(false); });
    setInterval(function () { reportPage(false); }, 2000);
    window.addEventListener("message", function (event) {
      if (event.origin !== origin || event.source !== frame.contentWindow) return;
      var data = event.data || {};
      if (data.type === "supportdesk:close") toggle(false);
      {# A call rings (docs/CALLS.md): the chat opens, so the visitor sees Accept and Decline. #}
      if (data.type === "supportdesk:open") toggle(true);
      if (data.type === "supportdesk:ready") {
        ready = true;
        if (reloaded) reloaded();
        reloaded = null;
        look = { position: data.position === "left" ? "left" : "right" };
        [["--sd-accent", data.accent], ["--sd-ink", data.ink]].forEach(function (pair) {
          if (/^#[0-9a-fA-F]{6}$/.test(String(pair[1]))) host.style.setProperty(pair[0], pair[1]);
        });
        render();
        reportPage(true);
        {# The frame (re)loaded while the chat is open: tell it, so it focuses and starts the session. #}
        if (open) frame.contentWindow.postMessage({ type: "supportdesk:opened" }, origin);
        flush();
      }
      if (data.type === "supportdesk:unread") {
        var count = Math.max(0, Number(data.count) || 0);
        if (count !== unread) emit("unread", (unread = count));
        render();
      }
      var done = data.type === "supportdesk:result" && waiting[data.id];
      if (done) {
        delete waiting[data.id];
        if (data.error) done[1](new Error("Supportdesk: " + data.error));
        else if (!data.reload) done[0]();
        else {
          {# A logout: the frame reloads, empty. Calls wait for the fresh one; its ready answers. #}
          ready = false;
          unread = 0;
          reloaded = done[0];
          render();
        }
      }
      if (data.type === "supportdesk:message" && data.message) {
        if (!open) {
          who.textContent = String(data.message.author || "");
          text.textContent = String(data.message.body || "").slice(0, 300) || "📎";
          preview.hidden = false;
        }
        emit("message", data.message);
      }
    });
    render();
    shell.appendChild(frame);
    shell.appendChild(preview);
    shell.appendChild(button);
    root.appendChild(style);
    root.appendChild(shell);
    document.body.appendChild(host);
  }

  if (document.readyState === "complete") mount();
  else window.addEventListener("load", mount);
})();
