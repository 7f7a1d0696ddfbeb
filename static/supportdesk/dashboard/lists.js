/** The list tabs (Waiting / Mine / All open / Ended): one shows at a time, remembered per agent. */

import { store } from "./agent.js";

const VIEWS = ["waiting", "mine", "open", "ended"];

export function showView(view) {
  if (!VIEWS.includes(view)) view = "open";
  document.querySelector(".sidebar").dataset.view = view;
  for (const tab of document.querySelectorAll("[data-view-button]")) {
    tab.setAttribute("aria-selected", String(tab.dataset.viewButton === view));
  }
  store("view", view);
}

export function installListTabs() {
  for (const tab of document.querySelectorAll("[data-view-button]")) {
    tab.addEventListener("click", () => showView(tab.dataset.viewButton));
  }
}
