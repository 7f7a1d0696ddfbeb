/**
 * Grouped timestamps: one time under a run of messages from the same person within a few
 * minutes (under its last message), not the same "10:57" under each. The others keep their
 * time for screen readers (visually hidden), and every message says its exact date and time
 * on hover (title). A failed or pending message always shows its state.
 */

const RUN_MS = 5 * 60 * 1000;

function stamp(li) {
  const time = li.querySelector(":scope > .msg__content > .msg__meta > time, :scope > time");
  const at = time ? Date.parse(time.getAttribute("datetime")) : NaN;
  return { time, at };
}

const exact = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
  dateStyle: "medium",
  timeStyle: "short",
});

function group(log) {
  const items = [...log.children].filter((li) => li.classList.contains("msg") && !li.hidden);
  items.forEach((li, i) => {
    const { at } = stamp(li);
    const content = li.querySelector(":scope > .msg__content");
    if (content && !Number.isNaN(at)) {
      const title = exact.format(new Date(at));
      if (content.title !== title) content.title = title;
    }
    const next = items[i + 1];
    let grouped = false;
    if (next && li.dataset.author && next.dataset.author === li.dataset.author) {
      const later = stamp(next).at;
      grouped = !Number.isNaN(at) && !Number.isNaN(later) && later - at < RUN_MS;
    }
    if (li.matches(".msg--failed, .msg--pending, [data-state]")) grouped = false;
    li.classList.toggle("msg--grouped", grouped);
  });
}

function groupAll() {
  for (const log of document.querySelectorAll("#conversation .log")) group(log);
}

let queued = false;
new MutationObserver(() => {
  if (queued) return;
  queued = true;
  queueMicrotask(() => {
    queued = false;
    groupAll();
  });
}).observe(document.getElementById("conversation"), { childList: true, subtree: true });
groupAll();
