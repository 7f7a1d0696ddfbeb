/** The top bar: the account menu (a disclosure button; Escape or a click elsewhere closes it),
 *  and the agent's status select, kept to what the team sees. */

export function installAccountMenu() {
  const menu = document.getElementById("account-menu");
  const accountButton = menu.querySelector(":scope > button");
  const accountItems = document.getElementById("account-menu-items");
  function setAccountMenu(open) {
    accountButton.setAttribute("aria-expanded", String(open));
    accountItems.hidden = !open;
  }
  accountButton.addEventListener("click", () => setAccountMenu(accountItems.hidden));
  document.addEventListener("click", (event) => {
    if (!accountItems.hidden && !event.target.closest("#account-menu")) setAccountMenu(false);
  });
  menu.addEventListener("focusout", (event) => {
    if (!accountItems.hidden && !event.currentTarget.contains(event.relatedTarget)) setAccountMenu(false);
  });
  menu.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !accountItems.hidden) {
      setAccountMenu(false);
      accountButton.focus();
      event.stopPropagation();
    }
  });
}

/** My status as the team sees it, in every tab: another tab may have changed it. */
export function syncMyStatus() {
  const select = document.getElementById("availability-select");
  const me = document.getElementById(`member-${document.body.dataset.agent}`);
  const presence = me && me.dataset.presence;
  if ((presence === "online" || presence === "away") && select.value !== presence) {
    select.value = presence;
  }
}
