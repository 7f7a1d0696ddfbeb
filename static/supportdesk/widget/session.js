/**
 * The visitor's session: their token in this iframe's localStorage, created only when the
 * visitor opens the chat or writes (a page view alone stores nothing); the signed-in user the
 * host page vouches for; and the token from the link in an email.
 */

const body = document.body;
/** The prefix of everything the widget keeps in localStorage for this inbox. */
export const KEY = `supportdesk:${body.dataset.inbox}`;
const TOKEN_KEY = `${KEY}:token`;
const IDENTITY_KEY = `${KEY}:identity`; // the host site's user id the stored token belongs to

let token = null;
let identity = null;
let sessionPromise = null;
let identityTried = false;
let onSession = () => {};

function stored(key) {
  try {
    return localStorage.getItem(key);
  } catch (_) {
    return null; // storage blocked: the session lasts as long as the page
  }
}

function store(key, value) {
  try {
    if (value) localStorage.setItem(key, value);
    else localStorage.removeItem(key);
  } catch (_) { /* storage blocked */ }
}

/** Read what this page was handed and what this browser keeps; `sessionMade(changed)` is
 *  called after each new session (`changed`: another visitor's token than before). */
export function startSession(sessionMade) {
  onSession = sessionMade;
  const fragment = readFragment();
  identity = typeof fragment.user_id === "string" ? fragment : null;
  forgetAnotherUser();
  token = stored(TOKEN_KEY);
  if (typeof fragment.visitor_token === "string" && fragment.visitor_token !== token) {
    // The link in an email: that visitor's chat, whoever used this browser before.
    forgetStored();
    saveToken(fragment.visitor_token);
  }
}

/** The visitor's token, or null before the first session. */
export function currentToken() {
  return token;
}

export function saveToken(value) {
  token = value;
  store(TOKEN_KEY, value);
}

/** What our URL's fragment hands over, read once and cleared: the signed-in user the host
 *  page vouches for (embed.js), or a visitor's own token from the link in an email that
 *  reopens their chat (mail.views.continue_chat). A fragment never reaches a server. */
function readFragment() {
  const raw = location.hash.slice(1);
  if (!raw) return {};
  history.replaceState(null, "", location.pathname + location.search);
  try {
    const value = JSON.parse(decodeURIComponent(raw));
    return value && typeof value === "object" ? value : {};
  } catch (_) {
    return {};
  }
}

/** This browser's chat belongs to a signed-in user, and the page now shows nobody or someone
 *  else (signed out; another person on a shared computer): start afresh, before anything of
 *  theirs is shown. Their chats stay theirs, on the desk and wherever they sign in. */
function forgetAnotherUser() {
  const linked = stored(IDENTITY_KEY);
  if (!linked || (identity && identity.user_id === linked)) return;
  forgetStored();
}

/** Everything this browser keeps of the person before: their unsent messages too (sent now,
 *  they would go out in the next person's name), their token, identity and profile. */
function forgetStored() {
  try {
    const names = Object.keys(localStorage).filter((name) => name.startsWith(`${KEY}:outbox:`));
    for (const name of names) localStorage.removeItem(name);
  } catch (_) { /* storage blocked */ }
  for (const suffix of [":token", ":identity", ":profile"]) store(KEY + suffix, null);
}

/** A signed-in user this browser has not linked yet (tried once per page). */
export function needsIdentity() {
  return Boolean(identity) && !identityTried && stored(IDENTITY_KEY) !== identity.user_id;
}

/** The visitor's token, once there is a session (made now if there is none). */
export function ensureSession() {
  token = token || stored(TOKEN_KEY); // another tab may have started the session
  if (token && !needsIdentity() && !sessionPromise) return Promise.resolve(token);
  if (!sessionPromise) {
    const linking = needsIdentity();
    identityTried = true; // once per page: a refused signature will not pass on a retry
    const made = fetch(body.dataset.sessionUrl, {
      method: "POST",
      headers: token ? { "X-Visitor-Token": token } : {},
      body: linking ? new URLSearchParams(identity) : null,
    })
      .then((r) => {
        if (!r.ok) throw new Error(`session: HTTP ${r.status}`);
        return r.json();
      })
      .then((data) => {
        if (data.identity === "verified") {
          store(IDENTITY_KEY, identity.user_id);
          body.dataset.prechat = "done"; // the site told us who this is
        } else if (data.identity === "rejected") {
          console.warn(`Supportdesk: the signed-in user was not verified (${data.identity_error}).`);
        }
        const changed = data.token !== token;
        saveToken(data.token);
        onSession(changed);
        return token;
      })
      .finally(() => {
        if (sessionPromise === made) sessionPromise = null; // not identify()'s, made meanwhile
      });
    sessionPromise = made;
  }
  return sessionPromise;
}

/** The host page's `Supportdesk.identify()` (docs/API.md): a user who signed in on a page
 *  that is already open (a single-page site). The same signed claims as the script tag's, and
 *  the same rules: the desk verifies them; a refusal changes nothing here and rejects with its
 *  reason. Another user than the one this browser's chat belongs to starts afresh, as a page
 *  showing someone else does (forgetAnotherUser); an anonymous visitor's chat joins the user's.
 *  Resolves to whether the visitor changed (the log must be loaded again). */
export function identify(claims) {
  const linked = stored(IDENTITY_KEY);
  if (linked && linked === claims.user_id) return Promise.resolve(false);
  const attempt = (sessionPromise || Promise.resolve())
    .catch(() => {})
    .then(() => {
      token = token || stored(TOKEN_KEY);
      return fetch(body.dataset.sessionUrl, {
        method: "POST",
        // Someone else's token would hand nothing over (the desk leaves another user alone).
        headers: token && !linked ? { "X-Visitor-Token": token } : {},
        body: new URLSearchParams(claims),
      });
    })
    .then((r) => {
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      return r.json();
    })
    .then((data) => {
      if (data.identity !== "verified") throw new Error(data.identity_error || "bad_user_id");
      if (linked) forgetStored();
      identity = claims;
      identityTried = true;
      store(IDENTITY_KEY, claims.user_id);
      body.dataset.prechat = "done";
      const changed = data.token !== token;
      saveToken(data.token);
      onSession(changed);
      return changed;
    });
  // Sessions wait for it: one made meanwhile would be the anonymous visitor's, saved last.
  const settled = attempt
    .then(() => token, () => null)
    .then((made) => {
      if (sessionPromise === settled) sessionPromise = null;
      return made || ensureSession();
    });
  sessionPromise = settled;
  return attempt;
}

/** The host page's `Supportdesk.logout()`: forget everything of this visitor here (a shared
 *  computer shows nothing of them afterwards); the page then reloads, empty. Their chats stay
 *  theirs on the desk. */
export function forgetVisitor() {
  forgetStored();
  token = null;
  identity = null;
}

/** `joined()` when the visitor started chatting in another tab while this one had no session:
 *  this one joins the same conversation. */
export function joinFromOtherTabs(joined) {
  window.addEventListener("storage", (event) => {
    if (event.key === TOKEN_KEY && event.newValue && !token) {
      token = event.newValue;
      joined();
    }
  });
}
