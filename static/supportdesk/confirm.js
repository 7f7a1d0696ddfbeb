/**
 * Confirmations asked in the page, never with the browser's confirm(): an htmx element with
 * hx-confirm="End this chat?" asks in a modal <dialog> (role alertdialog) titled with that
 * question. On the same element, optionally: data-confirm-detail (a sentence under the title)
 * and data-confirm-button (the confirming button's label, naming the action, e.g. "End chat";
 * "Confirm" without it).
 *
 * htmx's documented hook (the htmx:confirm event): the event is cancelled, and the request
 * issued with issueRequest(true) (no second, native, question) once the person says yes.
 * Focus goes to Cancel, the safe choice; it comes back to the element that asked, or, if that
 * was replaced meanwhile, to its successor with the same id or data-action. Escape, Cancel or a
 * click on the backdrop says no. Keys pressed in the dialog stay in it (the dashboard's
 * one-letter shortcuts must not act behind it).
 */

import { t } from "./text.js";

let dialog = null;
let answer = null; // resolves the open question's promise

function build() {
  const el = document.createElement("dialog");
  el.className = "confirm";
  el.id = "confirm-dialog";
  el.setAttribute("role", "alertdialog");
  el.setAttribute("aria-modal", "true");
  el.setAttribute("aria-labelledby", "confirm-title");
  el.setAttribute("aria-describedby", "confirm-detail");
  const title = document.createElement("h2");
  title.id = "confirm-title";
  title.className = "confirm__title";
  const detail = document.createElement("p");
  detail.id = "confirm-detail";
  detail.className = "confirm__detail";
  const buttons = document.createElement("div");
  buttons.className = "confirm__buttons";
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "button";
  cancel.dataset.answer = "no";
  cancel.textContent = t("Cancel");
  const yes = document.createElement("button");
  yes.type = "button";
  yes.className = "button button--danger";
  yes.dataset.answer = "yes";
  buttons.append(cancel, yes);
  el.append(title, detail, buttons);
  el.addEventListener("click", (event) => {
    const button = event.target.closest("[data-answer]");
    if (button) settle(button.dataset.answer === "yes");
    else if (event.target === el) settle(false); // the backdrop
  });
  el.addEventListener("cancel", (event) => {
    event.preventDefault(); // closed by settle, so the answer and the focus are ours to give
    settle(false);
  });
  el.addEventListener("keydown", (event) => event.stopPropagation());
  document.body.append(el);
  return el;
}

function settle(yes) {
  if (!answer) return;
  const resolve = answer;
  answer = null;
  dialog.close();
  resolve(yes);
}

/** Ask `question` in the page; resolves true for yes. `opener`: where focus goes back to. */
export function confirmInPage({ question, detail = "", button = "", opener = null }) {
  if (answer) settle(false); // one question at a time: a new one answers the old "no"
  dialog = dialog && dialog.isConnected ? dialog : build();
  dialog.querySelector(".confirm__title").textContent = question;
  const detailLine = dialog.querySelector(".confirm__detail");
  detailLine.textContent = detail;
  detailLine.hidden = !detail;
  if (detail) dialog.setAttribute("aria-describedby", "confirm-detail");
  else dialog.removeAttribute("aria-describedby");
  dialog.querySelector('[data-answer="yes"]').textContent = button || t("Confirm");
  const back = focusTarget(opener || document.activeElement);
  return new Promise((resolve) => {
    answer = (yes) => {
      resolve(yes);
      // After htmx had its turn with the answer (a confirmed request may replace the opener).
      setTimeout(() => {
        const target = back();
        if (target) target.focus();
      });
    };
    dialog.showModal();
    dialog.querySelector('[data-answer="no"]').focus();
  });
}

/** Where focus returns: the opener, or the element that took its place (same id, or the same
 *  data-action in the same pane), or nothing. */
function focusTarget(opener) {
  if (!(opener instanceof HTMLElement) || opener === document.body) return () => null;
  const id = opener.id;
  const action = opener.dataset.action;
  const pane = opener.closest("[id]");
  const paneId = pane && pane !== opener ? pane.id : null;
  return () => {
    if (opener.isConnected) return opener;
    if (id) return document.getElementById(id);
    const container = paneId && document.getElementById(paneId);
    if (!container) return null;
    const twin = action && container.querySelector(`[data-action="${CSS.escape(action)}"]`);
    return twin || container.querySelector("button, a[href]");
  };
}

/** Every hx-confirm of the page asks in the page. While the question is open, the live page
 *  may replace the element that asked (the pane header, re-rendered when the chat's state
 *  changed): htmx drops a request whose element left the page, so a yes then goes to its
 *  successor, if it still offers the same request, without asking again; if it offers it no
 *  more (the chat ended meanwhile), the new header already says why. */
export function installConfirmDialogs() {
  let answered = null; // the successor clicked on a yes given to its predecessor
  document.addEventListener("htmx:confirm", (event) => {
    const question = event.detail.question;
    if (!question) return; // htmx fires this for every request: only ours to ask
    event.preventDefault();
    const elt = event.detail.elt;
    if (elt === answered) {
      answered = null;
      event.detail.issueRequest(true);
      return;
    }
    const source = elt.closest("[hx-confirm]") || elt;
    const current = focusTarget(elt);
    confirmInPage({
      question,
      detail: source.dataset.confirmDetail || "",
      button: source.dataset.confirmButton || "",
      opener: elt,
    }).then((yes) => {
      if (!yes) return;
      // The answer may replace the element (the pane header, swapped whole): focus, lost to
      // the page with it, goes to what took its place.
      document.addEventListener(
        "htmx:afterSettle",
        () => {
          const target = current();
          if (target && document.activeElement === document.body) target.focus();
        },
        { once: true }
      );
      if (elt.isConnected) {
        event.detail.issueRequest(true);
        return;
      }
      const twin = current();
      const verb = ["hx-post", "hx-delete", "hx-put", "hx-patch", "hx-get"].find((name) =>
        elt.hasAttribute(name)
      );
      if (twin && verb && twin.getAttribute(verb) === elt.getAttribute(verb)) {
        answered = twin;
        window.htmx.process(twin); // swapped in by the socket a moment ago: maybe not wired yet
        twin.click();
      }
    });
  });
}
