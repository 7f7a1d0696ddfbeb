/**
 * The composer's bubbles (composer.js): the optimistic copy of a message being sent, where it
 * goes in the log, and the place a refused one keeps.
 */

/** The optimistic copy of `entry` (its text never parsed as HTML, its files by name), to be
 *  put in the log at `sort` (data-sort). */
export function pendingBubble(entry, sort) {
  const li = document.createElement("li");
  li.setAttribute("role", "none"); // a log's entries are no list's items (templates/chat/_message.html)
  li.className = "msg msg--mine msg--pending";
  li.dataset.pending = "";
  li.dataset.clientId = entry.client_id;
  li.dataset.sort = String(sort);
  const content = document.createElement("div");
  content.className = "msg__content";
  const bubble = document.createElement("p");
  bubble.className = "msg__bubble";
  bubble.dir = "auto";
  bubble.textContent = entry.body; // never parsed as HTML
  bubble.hidden = !entry.body;
  const meta = document.createElement("span");
  meta.className = "msg__meta";
  const state = document.createElement("span");
  state.className = "msg__state";
  state.setAttribute("role", "status");
  meta.append(state);
  content.append(bubble);
  if (entry.files && entry.files.length) {
    const list = document.createElement("ul");
    list.className = "msg__files";
    for (const file of entry.files) {
      const item = document.createElement("li");
      item.className = "file";
      const name = document.createElement("span");
      name.className = "file__name";
      name.textContent = `📎 ${file.name}`;
      item.append(name);
      list.append(item);
    }
    content.append(list);
  }
  content.append(meta);
  li.append(content);
  return li;
}

/** Put `li` in `log` by its data-sort, after its equals (as realtime/apply.js does). */
export function insertAt(log, li) {
  const key = Number(li.dataset.sort);
  let after = log.lastElementChild;
  while (after) {
    const other = after.dataset.sort === undefined ? Infinity : Number(after.dataset.sort);
    if (other <= key) break;
    after = after.previousElementSibling;
  }
  log.insertBefore(li, after ? after.nextSibling : log.firstChild);
}

/** A bubble that will not be stored as things stand keeps the place it has: a message that
 *  arrives later goes below it, not above (data-sort just after the stored one before it). */
export function keepPlace(li) {
  if (li.dataset.sort !== "Infinity") return;
  let before = li.previousElementSibling;
  const placed = (el) => Number.isFinite(Number(el.dataset.sort ?? NaN));
  while (before && !placed(before)) before = before.previousElementSibling;
  li.dataset.sort = String(before ? Math.floor(Number(before.dataset.sort)) + 0.5 : 0.5);
}

export function actionButton(label, onClick) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "link-button";
  button.textContent = label;
  button.addEventListener("click", onClick);
  return button;
}
