/**
 * The visitor's conversation in the log: loading it, and following it from its last seq. Only
 * one conversation is shown, the newest: a new chat after an ended one replaces the log.
 */

import { lastSeq, scrollToEnd } from "../realtime/log.js";

export function log() {
  return document.querySelector("#conversation .log");
}

/** Ask the socket for everything after the log's last seq (gap-free). */
export function resume(conn) {
  const current = log();
  conn.send({
    type: "resume",
    conversation: current.dataset.conversation ? Number(current.dataset.conversation) : null,
    after: lastSeq(current),
  });
}

/** `connection()`: the page's socket, or null; `restore()`: the composer shows its queued
 *  bubbles again (a load replaces the log, and them with it). */
export function conversationView({ connection, restore }) {
  let loading = 0; // the newer conversation being loaded, if any
  let newest = 0; // the newest conversation heard of: a reconnect loads it if the log lags

  function load() {
    return window.htmx
      .ajax("GET", document.body.dataset.conversationUrl, { target: "#conversation", swap: "innerHTML" })
      .then(() => {
        restore(); // the swap took the queued bubbles with the old log
        scrollToEnd(log()); // a new log: it opens at its newest message
        const conn = connection();
        if (conn) resume(conn); // and anything the socket applied to the old log meanwhile
      });
  }

  /** Show `conversationId` in the log: the first one, or a new one after an ended chat.
   *  Conversation ids only grow, so an answer about an older one (a retried send that was
   *  stored before the chat ended) never replaces the newer conversation on screen.
   *  True if the empty log now follows it (resume it); a new chat after one that the log shows
   *  is loaded from the server instead, with the ended one folded above it as a returning
   *  visitor sees it (one markup for both), and the load resumes it. */
  function adopt(conversationId) {
    const current = log();
    const id = Number(conversationId);
    const shown = Number(current.dataset.conversation || 0);
    newest = Math.max(newest, id);
    if (shown >= id || loading >= id) return false;
    if (shown) {
      loading = id;
      load()
        .catch(() => {}) // offline, or the desk restarting
        .finally(() => {
          // Not shown after all (an error, or a 5xx htmx did not swap in): the next frame about
          // it, or the next reconnect (catchUp), tries again.
          if (Number(log().dataset.conversation || 0) < id) loading = 0;
        });
      return false;
    }
    current.id = `log-${id}`;
    current.dataset.conversation = String(id);
    return true;
  }

  /** On (re)connecting: load a newer conversation the log missed, if not loading already. */
  function catchUp() {
    if (newest > Number(log().dataset.conversation || 0) && !loading) adopt(newest);
  }

  return { load, adopt, catchUp };
}
