/** Saved replies: "/" and a shortcut in the reply box offers the matching ones (a listbox the
 *  arrow keys move in; Enter or Tab takes one, Escape closes it). */

export function attachCanned(form) {
  const input = form.querySelector("textarea");
  const list = form.querySelector(".canned");
  const data = document.getElementById("canned-data");
  const canned = data ? JSON.parse(data.textContent) : [];
  let matches = [];
  let active = 0;

  function close() {
    list.hidden = true;
    matches = [];
    input.removeAttribute("aria-activedescendant");
  }

  function render() {
    list.replaceChildren(
      ...matches.map((c, i) => {
        const li = document.createElement("li");
        li.id = `canned-${i}`;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", String(i === active));
        const key = document.createElement("strong");
        key.textContent = `/${c.shortcut}`;
        const text = document.createElement("span");
        text.textContent = ` ${c.body}`;
        li.append(key, text);
        li.addEventListener("mousedown", (event) => {
          event.preventDefault();
          choose(i);
        });
        return li;
      })
    );
    list.hidden = matches.length === 0;
    if (matches.length) input.setAttribute("aria-activedescendant", `canned-${active}`);
  }

  function choose(i) {
    input.value = matches[i].body;
    input.dispatchEvent(new Event("input", { bubbles: true })); // the box grows to fit
    close();
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }

  input.addEventListener("input", () => {
    const typed = /^\/(\S*)$/.exec(input.value);
    if (!typed || !canned.length) return close();
    const prefix = typed[1].toLowerCase();
    matches = canned.filter((c) => c.shortcut.toLowerCase().startsWith(prefix));
    active = 0;
    render();
  });
  input.addEventListener("blur", close);
  // Capture phase on the form: runs before the composer's Enter-to-send on the textarea.
  form.addEventListener(
    "keydown",
    (event) => {
      if (list.hidden || event.target !== input) return;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        active = (active + (event.key === "ArrowDown" ? 1 : matches.length - 1)) % matches.length;
        render();
      } else if (event.key === "Enter" || event.key === "Tab") {
        choose(active);
      } else if (event.key === "Escape") {
        close();
      } else {
        return;
      }
      event.preventDefault();
      event.stopPropagation();
    },
    true
  );
}
