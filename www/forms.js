// The two forms: the topic picker, and the chat publish form.
import { $ } from "./dom.js";
import { listenFor } from "./connection.js";
import { topicsError } from "./topics.js";

export function showTopicsInForm(topics) {
  const form = $("topics-form");
  const boxes = [...form.querySelectorAll('input[name="topic"]')];
  for (const box of boxes) box.checked = topics.includes(box.value);
  const fixed = boxes.map((box) => box.value);
  form.elements.more.value = topics.filter((t) => !fixed.includes(t)).join(", ");
}

function topicsFromForm(form) {
  const checked = [...form.querySelectorAll('input[name="topic"]:checked')].map((box) => box.value);
  const more = form.elements.more.value.split(",").map((t) => t.trim()).filter(Boolean);
  return [...new Set([...checked, ...more])];
}

// onTopics(topics) runs when the form holds topics the worker accepts.
export function onTopicsSubmit(onTopics) {
  return (event) => {
    event.preventDefault();
    const topics = topicsFromForm(event.currentTarget);
    const error = topicsError(topics);
    $("topics-error").textContent = error;
    if (!error) onTopics(topics);
  };
}

function showPublishResult(text, kind) {
  const el = $("publish-result");
  el.dataset.kind = kind; // ok, error, busy
  el.textContent = text;
}

// Posts the form as application/x-www-form-urlencoded, as the browser itself
// would. The answer is the new event's id, or a one-line reason (4xx).
export async function onPublishSubmit(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const body = new URLSearchParams(new FormData(form));
  const type = body.get("type").trim();
  if (type) body.set("type", type);
  else body.delete("type"); // no event: line, so a plain "message" event
  listenFor(type || "message"); // before it is sent, so its event is not missed
  const button = form.querySelector("button");
  button.disabled = true;
  showPublishResult("Publishing…", "busy");
  try {
    const response = await fetch("/publish", { method: "POST", body });
    const text = (await response.text()).trim();
    if (response.ok) {
      showPublishResult(`Published as id ${text}.`, "ok");
      form.elements.data.value = "";
    } else {
      showPublishResult(`Refused: ${response.status} ${response.statusText}: ${text}`, "error");
    }
  } catch (err) {
    showPublishResult(`Could not reach the server: ${err.message}`, "error");
  } finally {
    button.disabled = false;
  }
}

// Enter sends, Shift+Enter starts a new line: as in a chat.
export function onMessageKey(event) {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    event.currentTarget.form.requestSubmit();
  }
}
