/** Who uses this dashboard: their settings (kept per agent in this browser), their CSRF token,
 *  and the way back to the login page. */

const body = document.body;
/** The prefix of everything this agent keeps in localStorage (settings, the outbox). */
export const agentKey = `supportdesk:agent:${body.dataset.agent}`;

/** This agent's setting `key`: read it (no `value`), or write it. */
export function store(key, value) {
  try {
    if (value === undefined) return localStorage.getItem(`${agentKey}:${key}`);
    localStorage.setItem(`${agentKey}:${key}`, value);
  } catch (_) { /* storage blocked: settings last for the page */ }
  return null;
}

export function goToLogin() {
  window.location.assign(`${body.dataset.loginUrl}?next=${encodeURIComponent(location.pathname)}`);
}

export function csrfToken() {
  return JSON.parse(body.getAttribute("hx-headers"))["X-CSRFToken"];
}
