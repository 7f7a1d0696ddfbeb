/** The pre-chat form, if the inbox asks for one: name and email before the first message. */

import { t } from "../text.js";
import { KEY, ensureSession } from "./session.js";

const PROFILE_KEY = `${KEY}:profile`;

export function installPrechat() {
  const body = document.body;
  const prechat = document.getElementById("prechat");
  if (!prechat) return;
  let given = false;
  try {
    given = localStorage.getItem(PROFILE_KEY) === "1";
  } catch (_) { /* storage blocked: ask again */ }
  if (given) body.dataset.prechat = "done";
  prechat.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = prechat.querySelector(".form-error");
    error.hidden = true;
    try {
      const response = await fetch(body.dataset.profileUrl, {
        method: "POST",
        headers: { "X-Visitor-Token": await ensureSession() },
        body: new URLSearchParams(new FormData(prechat)),
      });
      if (!response.ok) {
        error.textContent = (await response.json()).message;
        error.hidden = false;
        return;
      }
    } catch (_) {
      error.textContent = t("Not sent");
      error.hidden = false;
      return;
    }
    try {
      localStorage.setItem(PROFILE_KEY, "1");
    } catch (_) { /* storage blocked */ }
    body.dataset.prechat = "done";
    // The address is known now: no need to ask for it again when nobody is online.
    const capture = document.getElementById("email-capture");
    if (capture) capture.remove();
    document.getElementById("composer-input").focus();
  });
}
