/**
 * A bot's suggested replies (templates/chat/_message.html#quick_replies): a click sends the
 * button's text as the visitor's own message through the composer, so the outbox's rules hold
 * (a client id, retries, "Sending…"). A draft in the box is kept. The buttons hide once anything
 * follows the bot's message (app.css).
 */

/** Delegated: the buttons arrive with messages, over the socket or in a loaded log. */
export function installQuickReplies(form) {
  const input = form.querySelector("textarea");
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-quick-reply]");
    if (!button) return;
    const draft = input.value;
    input.value = button.dataset.quickReply;
    form.requestSubmit(); // the composer sends synchronously, then empties the box
    input.value = draft;
    input.focus();
  });
}
