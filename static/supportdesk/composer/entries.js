/**
 * The outbox's entries, in localStorage: one key per entry (`<key>:<client_id>`), so adding and
 * removing are single writes and tabs never undo each other's changes. Memory only if storage
 * is blocked. An entry: {client_id, body, url, at, order, attachments?, files?}; one the server
 * refused (outbox.js keeps it apart, under `<key>.held`) also {refusal, after?, conversation?}.
 */

/** A client_id: a random UUID, also where crypto.randomUUID is missing. */
export function uuid4() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  // randomUUID needs a secure context; getRandomValues does not (plain-http intranets).
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The entries of the outbox `key`: all() oldest first, add(entry), get(clientId), put(entry),
 *  remove(clientId). */
export function entryStore(key) {
  const memory = new Map();
  const prefix = `${key}:`;
  // The order entries were written in: a number that only grows, shared by the person's tabs
  // through localStorage (not the clock, which a time sync may turn back while messages wait).
  const orderKey = `${key}.order`;
  let counter = 0;
  const storage = () => {
    try {
      return window.localStorage;
    } catch (_) {
      return null;
    }
  };
  let lastOrder = 0;
  /** One more than any order written so far, in this tab, in another, or queued. */
  function nextOrder(entries) {
    let last = lastOrder;
    try {
      last = Math.max(last, Number(storage().getItem(orderKey)) || 0);
    } catch (_) { /* storage blocked: this tab's own count */ }
    for (const entry of entries) last = Math.max(last, entry.order || 0);
    lastOrder = last + 1;
    try {
      storage().setItem(orderKey, String(lastOrder));
    } catch (_) { /* storage blocked or full */ }
    return lastOrder;
  }
  return {
    prefix,
    all() {
      const store = storage();
      if (!store) return [...memory.values()];
      const entries = [];
      for (let i = 0; i < store.length; i += 1) {
        const name = store.key(i);
        if (!name || !name.startsWith(prefix)) continue;
        try {
          entries.push(JSON.parse(store.getItem(name)));
        } catch (_) { /* a damaged entry: skip it */ }
      }
      return entries.filter(Boolean).sort(byOrder);
    },
    add(entry) {
      entry.n = counter++;
      entry.order = nextOrder(this.all());
      memory.set(entry.client_id, entry);
      try {
        storage().setItem(prefix + entry.client_id, JSON.stringify(entry));
      } catch (_) { /* storage blocked or full: memory only */ }
    },
    /** The entry `clientId`, or null. */
    get(clientId) {
      let stored = null;
      try {
        stored = JSON.parse(storage().getItem(prefix + clientId));
      } catch (_) { /* storage blocked, or a damaged entry */ }
      return stored || memory.get(clientId) || null;
    },
    /** Write `entry` as it is (its order kept): an update of one already added. */
    put(entry) {
      memory.set(entry.client_id, entry);
      try {
        storage().setItem(prefix + entry.client_id, JSON.stringify(entry));
      } catch (_) { /* storage blocked or full: memory only */ }
    },
    remove(clientId) {
      memory.delete(clientId);
      try {
        storage().removeItem(prefix + clientId);
      } catch (_) { /* storage blocked */ }
    },
  };
}

/** Oldest first: by `order` (see entryStore); entries written before it existed, by time. */
function byOrder(a, b) {
  return (a.order || 0) - (b.order || 0) || a.at - b.at || a.n - b.n;
}
