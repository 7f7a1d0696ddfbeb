/**
 * Tell the other side while `input` is being typed in: a "typing" frame at most every
 * TYPING_EVERY_MS while keys come, "stopped" after TYPING_IDLE_MS without one or when the
 * form is sent. Nothing is stored; the receiver expires the indicator by itself.
 */

const TYPING_EVERY_MS = 3000;
const TYPING_IDLE_MS = 4000;

/** `conversationId()`: the chat being typed in, or null (nobody to tell); `send(frame)`: true
 *  if the frame went out. */
export function watchTyping(input, conversationId, send) {
  let lastSent = 0;
  let idle = null;
  let typingIn = null;
  function stop() {
    clearTimeout(idle);
    if (typingIn !== null) send({ type: "typing", conversation: typingIn, state: "stopped" });
    typingIn = null;
    lastSent = 0;
  }
  input.addEventListener("input", () => {
    const id = conversationId();
    if (!id || !input.value.trim()) return stop();
    const now = Date.now();
    if (now - lastSent >= TYPING_EVERY_MS || typingIn !== id) {
      if (send({ type: "typing", conversation: id, state: "typing" })) {
        lastSent = now;
        typingIn = id;
      }
    }
    clearTimeout(idle);
    idle = setTimeout(stop, TYPING_IDLE_MS);
  });
  if (input.form) input.form.addEventListener("submit", stop);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) setTimeout(stop, 0); // Enter sends
  });
  return { stop };
}
