/**
 * One try at sending an outbox entry: over the page's open socket as a `send` frame, or as a
 * POST to its url (docs/PROTOCOL.md). Either way the server's answer comes back in one shape:
 *   { ok, status, retryAfter, code, message, stored: {conversation, seq} | null, html: async () => "" }
 * or null when none came (not open, closed, too slow, the network failed).
 */

const SOCKET_ANSWER_MS = 8000; // then the same entry goes over HTTP
const SOCKET_FRAME_BYTES = 16384; // a larger frame goes over HTTP (chat.consumers accepts this)

/** "Not now, try again in Retry-After seconds": a rate limit (429), or a desk too busy to
 * take the request (503 with Retry-After, supportdesk/handler.py); nothing was stored. */
function slowDown(response) {
  if (!response) return false;
  return response.status === 429 || (response.status === 503 && response.headers.has("Retry-After"));
}

/** The entry as a `send` frame, if it may go over the page's open socket. */
function socketFrame(entry, hooks) {
  let conn = null;
  try {
    conn = hooks.socket ? hooks.socket() : null;
  } catch (_) { /* the page has not made its connection yet */ }
  const extra = conn && hooks.socketFrame && hooks.socketFrame(entry);
  if (!extra) return null;
  const frame = { type: "send", client_id: entry.client_id, body: entry.body, ...extra };
  if (entry.attachments && entry.attachments.length) frame.attachments = entry.attachments;
  // At most 3 bytes of UTF-8 per UTF-16 unit: an upper bound without encoding it.
  return JSON.stringify(frame).length * 3 <= SOCKET_FRAME_BYTES ? { conn, frame } : null;
}

/** The server's answer to the entry, sent over the socket: a view of its `ack` or `refused`
 *  frame, or null. */
export async function overSocket(entry, hooks) {
  const via = socketFrame(entry, hooks);
  if (!via) return null;
  let answer;
  try {
    answer = await via.conn.request(via.frame, SOCKET_ANSWER_MS);
  } catch (_) {
    return null;
  }
  const stored = answer.type === "ack";
  return {
    ok: stored,
    status: stored ? (answer.created ? 201 : 200) : answer.status,
    retryAfter: answer.retry_after,
    code: answer.code,
    message: answer.message,
    stored: stored ? { conversation: String(answer.conversation), seq: answer.seq } : null,
    html: async () => answer.html || "",
  };
}

/** The POST's answer in the same shape, or null if the network failed. */
export async function overHttp(entry, hooks) {
  let response;
  try {
    response = await fetch(entry.url, {
      method: "POST",
      headers: { ...(await hooks.headers()), "Content-Type": "application/x-www-form-urlencoded" },
      body: formBody(entry),
      credentials: "same-origin",
    });
  } catch (_) {
    return null;
  }
  // fetch follows a login redirect to a 200 page: that is "signed out", not "stored".
  // 403: a CSRF token rotated by a login in another tab. Keep the entry, get credentials.
  const signedOut = response.status === 401 || response.status === 403 || response.redirected;
  const stored = response.ok && !signedOut;
  let message = null;
  let code = null;
  if (!stored && response.status < 500) {
    try {
      ({ message, error: code } = await response.json());
    } catch (_) { /* not JSON */ }
  }
  return {
    ok: stored,
    status: signedOut ? 401 : response.status,
    retryAfter: slowDown(response) ? Number(response.headers.get("Retry-After")) || 1 : undefined,
    code,
    message,
    stored: stored
      ? { conversation: response.headers.get("X-Conversation-Id"), seq: response.headers.get("X-Seq") }
      : null,
    html: () => response.text(),
  };
}

/** An entry as the send view reads it: body, client_id, and each file key as `attachments`. */
function formBody(entry) {
  const body = new URLSearchParams({ body: entry.body, client_id: entry.client_id });
  for (const key of entry.attachments || []) body.append("attachments", key);
  return body;
}
