/**
 * The header's face: once an agent has joined, their photo (or initials: chat.faces) and name
 * in place of the team's faces and the reply time. Follows the conversation's state element
 * (page.html#state: data-status, data-agent-id, data-agent-name), however it arrives: in the
 * loaded log, or pushed over the socket.
 */

const body = document.body;

function currentState() {
  const states = document.querySelectorAll("#conversation-state .chat-state[data-status]");
  return states.length ? states[states.length - 1] : null;
}

export function showAgent() {
  const state = currentState();
  const id = state && state.dataset.status === "active" ? state.dataset.agentId || "" : "";
  const name = id ? state.dataset.agentName || "" : "";
  if (id === (body.dataset.joined || "") && name === (body.dataset.joinedName || "")) return;
  const face = document.getElementById("header-agent-face");
  const label = document.getElementById("header-agent-name");
  if (!id) {
    delete body.dataset.joined;
    delete body.dataset.joinedName;
    face.replaceChildren();
    label.textContent = "";
    return;
  }
  body.dataset.joined = id;
  body.dataset.joinedName = name;
  const img = document.createElement("img");
  img.className = "face face--lg face--photo";
  img.alt = "";
  img.src = `faces/${encodeURIComponent(id)}`; // relative to the widget page: /widget/KEY/
  face.replaceChildren(img);
  label.textContent = name;
}

new MutationObserver(showAgent).observe(document.getElementById("conversation"), {
  childList: true,
  subtree: true,
  attributes: true,
  attributeFilter: ["data-status", "data-agent-id"],
});
showAgent();
