/**
 * The message length, as the server counts it, and the live counter under the box
 * (composer.js): near the form's data-max-length (SUPPORTDESK_MAX_MESSAGE_LENGTH) it says what
 * is left, past it how many too many; Send is then aria-disabled and described by the counter,
 * and a screen reader hears the count once typing pauses.
 */

import { t } from "../text.js";

const COUNT_FROM = 0.9; // the counter shows from this share of the limit
const SAY_COUNT_AFTER_MS = 900; // the screen reader hears the count once typing pauses

/** `text` with each %s replaced by the next of `values`. */
export function fill(text, ...values) {
  let i = 0;
  return text.replace(/%s/g, () => String(values[i++]));
}

/** A count as the page's language writes numbers (5,000 / 5.000). */
export function number(n) {
  try {
    return new Intl.NumberFormat(document.documentElement.lang || undefined).format(n);
  } catch (_) {
    return String(n);
  }
}

/** The length the server checks: code points of the trimmed text (Python's len after strip). */
export function messageLength(text) {
  return Array.from(text.trim()).length;
}

/** The live counter of `input` against the form's data-max-length, and Send's state. */
export function lengthGuard(form, input, send) {
  const limit = () => Number(form.dataset.maxLength || 0);
  const count = document.createElement("p");
  count.className = "composer__count";
  count.id = `${input.id || "composer-input"}-count`;
  count.hidden = true;
  const said = document.createElement("p"); // what a screen reader is told, once typing pauses
  said.className = "visually-hidden";
  said.setAttribute("role", "status");
  (send || input).after(count, said);
  let sayTimer = 0;
  let over = false;

  function text(length, max) {
    if (length > max) {
      return length - max === 1
        ? t("1 character too many: shorten the message to send it.")
        : fill(t("%s characters too many: shorten the message to send it."), number(length - max));
    }
    return max - length === 1 ? t("1 character left") : fill(t("%s characters left"), number(max - length));
  }

  /** Show the counter near the limit; Send disabled past it. True if the text may be sent. */
  function update() {
    const max = limit();
    const length = max ? messageLength(input.value) : 0;
    const shown = Boolean(max) && length >= Math.floor(max * COUNT_FROM);
    over = Boolean(max) && length > max;
    count.hidden = !shown;
    count.textContent = shown ? text(length, max) : "";
    count.classList.toggle("composer__count--over", over);
    if (shown) input.setAttribute("aria-describedby", count.id);
    else input.removeAttribute("aria-describedby");
    if (over) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
    if (send) {
      if (over) {
        send.setAttribute("aria-disabled", "true");
        send.setAttribute("aria-describedby", count.id);
      } else {
        send.removeAttribute("aria-disabled");
        send.removeAttribute("aria-describedby");
      }
    }
    clearTimeout(sayTimer);
    if (shown) sayTimer = setTimeout(() => { said.textContent = count.textContent; }, SAY_COUNT_AFTER_MS);
    else said.textContent = "";
    return !over;
  }

  /** Sending was asked for past the limit: say why, now. */
  function refuse() {
    clearTimeout(sayTimer);
    said.textContent = "";
    // A fresh node: a live region re-announces a change, not the same text set again.
    requestAnimationFrame(() => { said.textContent = count.textContent; });
  }

  return { update, refuse, over: () => over };
}
