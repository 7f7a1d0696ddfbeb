/**
 * Files for a composer (chat.attachments): the paperclip, drag and drop, and pasting an image.
 *
 *   attach(form, {
 *     url: () => "/widget/KEY/files",        // where one file is POSTed (field `file`)
 *     discardUrl: (key) => "...",            // where an upload not sent is removed
 *     headers: async () => ({}),             // the same credentials the composer sends
 *     dropZone: element,                     // where files may be dropped (default: the form)
 *   }) -> { done(), busy(), clear(), onChange(fn) }
 *
 * Each file is uploaded on its own at once (XMLHttpRequest: fetch reports no upload progress),
 * shown in the tray above the box with its progress and a Remove button that also cancels an
 * upload in flight. A refused file says which and why (the server's message: too large, not an
 * allowed type...) and offers Retry where a retry can help; nothing else of the message is lost.
 * The composer sends the keys of the finished uploads with the message (`attachments`), which
 * also keeps them across a reload in its outbox. The form's data-max-bytes and data-max-files
 * refuse what the server would, before anything is sent.
 */

import { t } from "./text.js";

function humanSize(size) {
  if (size >= 1024 * 1024) return `${(size / (1024 * 1024)).toFixed(1).replace(/\.0$/, "")} MB`;
  if (size >= 1024) return `${Math.round(size / 1024)} KB`;
  return `${size} bytes`;
}

export function attach(form, options) {
  const input = form.querySelector("input[type=file]");
  const button = form.querySelector(".composer__attach");
  const tray = form.querySelector(".composer__tray");
  const maxBytes = Number(form.dataset.maxBytes || 0);
  const maxFiles = Number(form.dataset.maxFiles || 0);
  const items = []; // { file, li, state: "uploading"|"done"|"failed", key, data, xhr }
  const listeners = [];

  const changed = () => {
    tray.hidden = items.length === 0;
    for (const fn of listeners) fn();
  };

  function row(item) {
    const li = document.createElement("li");
    li.className = "upload";
    const name = document.createElement("span");
    name.className = "upload__name";
    name.dir = "auto";
    name.textContent = item.file.name || t("file"); // never parsed as HTML
    const size = document.createElement("span");
    size.className = "upload__size";
    size.textContent = humanSize(item.file.size);
    const progress = document.createElement("progress");
    progress.className = "upload__progress";
    progress.max = 100;
    progress.value = 0;
    progress.setAttribute("aria-label", t("Uploading %s").replace("%s", item.file.name));
    const status = document.createElement("span");
    status.className = "upload__status";
    status.setAttribute("role", "status");
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "upload__remove";
    remove.textContent = "×";
    remove.setAttribute("aria-label", t("Remove %s").replace("%s", item.file.name));
    remove.addEventListener("click", () => drop(item));
    li.append(name, size, progress, status, remove);
    return li;
  }

  function show(item, state, message) {
    item.state = state;
    item.li.dataset.state = state;
    const status = item.li.querySelector(".upload__status");
    status.textContent = message || "";
    item.li.querySelector(".upload__progress").hidden = state !== "uploading";
    const retry = item.li.querySelector(".upload__retry");
    if (retry) retry.remove();
    if (state === "failed" && item.retryable) {
      const again = document.createElement("button");
      again.type = "button";
      again.className = "link-button upload__retry";
      again.textContent = t("Retry");
      again.addEventListener("click", () => send(item));
      status.after(again);
    }
    if (state === "done" && item.data && item.data.thumbnail && !item.li.querySelector("img")) {
      const img = document.createElement("img");
      img.className = "upload__thumb";
      img.src = item.data.thumbnail;
      img.alt = "";
      item.li.prepend(img);
    }
    changed();
  }

  async function send(item) {
    show(item, "uploading");
    const body = new FormData();
    body.append("file", item.file, item.file.name || "pasted.png");
    const xhr = new XMLHttpRequest();
    item.xhr = xhr;
    xhr.open("POST", options.url());
    for (const [name, value] of Object.entries(await options.headers())) {
      xhr.setRequestHeader(name, value);
    }
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) {
        item.li.querySelector(".upload__progress").value = Math.round((100 * event.loaded) / event.total);
      }
    });
    xhr.addEventListener("load", () => {
      let answer = {};
      try {
        answer = JSON.parse(xhr.responseText);
      } catch (_) { /* not JSON: a proxy's page */ }
      if (xhr.status === 201) {
        item.key = answer.key;
        item.data = answer;
        show(item, "done");
        return;
      }
      // A refusal of the file itself cannot be fixed by sending it again; anything else can.
      item.retryable = !(xhr.status === 413 || xhr.status === 422);
      show(item, "failed", answer.message || t("Upload failed."));
    });
    const lost = () => {
      if (item.state !== "uploading") return;
      item.retryable = true;
      show(item, "failed", t("Upload interrupted."));
    };
    xhr.addEventListener("error", lost);
    xhr.addEventListener("timeout", lost);
    xhr.send(body);
  }

  async function drop(item) {
    const index = items.indexOf(item);
    if (index < 0) return;
    items.splice(index, 1);
    item.li.remove();
    if (item.state === "uploading" && item.xhr) {
      item.state = "cancelled";
      item.xhr.abort();
    } else if (item.state === "done" && item.key && options.discardUrl) {
      try {
        await fetch(options.discardUrl(item.key), {
          method: "POST",
          headers: await options.headers(),
          credentials: "same-origin",
        });
      } catch (_) { /* an upload never sent is removed by the desk after a day anyway */ }
    }
    changed();
  }

  function add(files) {
    for (const file of files) {
      const item = { file, state: "new", retryable: false };
      item.li = row(item);
      items.push(item);
      tray.append(item.li);
      if (maxFiles && items.length > maxFiles) {
        show(item, "failed", t("At most %s files a message.").replace("%s", maxFiles));
      } else if (file.size === 0) {
        show(item, "failed", t("%s is empty.").replace("%s", file.name));
      } else if (maxBytes && file.size > maxBytes) {
        show(item, "failed", t("%s is larger than %s.").replace("%s", file.name).replace("%s", humanSize(maxBytes)));
      } else {
        send(item);
      }
    }
    changed();
  }

  button.addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    add(Array.from(input.files));
    input.value = "";
  });
  const zone = options.dropZone || form;
  zone.addEventListener("dragover", (event) => {
    if (!event.dataTransfer || !Array.from(event.dataTransfer.types).includes("Files")) return;
    event.preventDefault();
    zone.classList.add("is-dropping");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("is-dropping"));
  zone.addEventListener("drop", (event) => {
    zone.classList.remove("is-dropping");
    if (!event.dataTransfer || !event.dataTransfer.files.length) return;
    event.preventDefault();
    add(Array.from(event.dataTransfer.files));
  });
  form.querySelector("textarea").addEventListener("paste", (event) => {
    const files = Array.from((event.clipboardData && event.clipboardData.files) || []);
    if (files.length) {
      event.preventDefault(); // an image pasted: attach it, do not paste its name as text
      add(files);
    }
  });

  return {
    /** The finished uploads, in order, as the outbox keeps them. */
    done: () =>
      items
        .filter((item) => item.state === "done")
        .map(({ data }) => ({ key: data.key, name: data.name, size_text: data.size_text, thumbnail: data.thumbnail })),
    busy: () => items.some((item) => item.state === "uploading"),
    failed: () => items.some((item) => item.state === "failed"),
    /** Take the finished uploads off the tray (they went with a message); a refused one
     *  stays, with its reason, until removed. */
    clearDone() {
      for (const item of items.filter((i) => i.state === "done")) {
        items.splice(items.indexOf(item), 1);
        item.li.remove();
      }
      changed();
    },
    onChange: (fn) => listeners.push(fn),
  };
}
