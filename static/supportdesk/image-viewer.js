/**
 * The image viewer, for every page with messages: a message's thumbnail opens the full image in
 * a dialog over the page, which works by keyboard (Enter on the focused thumbnail opens it,
 * Escape or Close shuts it and focus goes back to the thumbnail). Without script the link opens
 * the image itself.
 */

import { t } from "./text.js";

export function installImageViewer() {
  let dialog = null;
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a[data-image-viewer]");
    if (!link || event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    if (!dialog) {
      dialog = document.createElement("dialog");
      dialog.className = "viewer";
      const close = document.createElement("button");
      close.type = "button";
      close.className = "viewer__close";
      close.textContent = "×";
      close.setAttribute("aria-label", t("Close"));
      close.addEventListener("click", () => dialog.close());
      const img = document.createElement("img");
      img.className = "viewer__image";
      dialog.append(close, img);
      // A click on the backdrop (the dialog itself, outside the image) closes it too.
      dialog.addEventListener("click", (e) => {
        if (e.target === dialog) dialog.close();
      });
      document.body.append(dialog);
    }
    const img = dialog.querySelector("img");
    img.src = link.href;
    img.alt = (link.querySelector("img") && link.querySelector("img").alt) || "";
    dialog.setAttribute("aria-label", img.alt);
    dialog.showModal();
    dialog.querySelector(".viewer__close").focus();
  });
}
