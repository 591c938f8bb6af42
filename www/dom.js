// Small DOM helpers shared by the views. Everything that came from the
// network is put on the page with textContent only, never innerHTML: event
// data can never become markup or script.

export const $ = (id) => document.getElementById(id);

// aria-live regions announce every change: only write when the text changes.
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

export function span(className, text) {
  const el = document.createElement("span");
  el.className = className;
  el.textContent = text;
  return el;
}

export function timeOfDay(date) {
  return date.toTimeString().slice(0, 8) + "." + String(date.getMilliseconds()).padStart(3, "0");
}

// Newest on top; the oldest rows go once there are more than max.
export function addRow(list, li, max) {
  list.prepend(li);
  while (list.children.length > max) list.lastElementChild.remove();
}

// Types with a colour of their own in style.css; other types get one of
// PALETTE_SIZE colours, picked from a hash of their name so it stays the same.
export const STYLED_TYPES = new Set(["tick", "message", "chat", "gap"]);
const PALETTE_SIZE = 6;

// Sets data-type, and data-slot for a type without a colour of its own.
export function colourByType(el, type) {
  el.dataset.type = type;
  if (STYLED_TYPES.has(type)) return;
  let hash = 0;
  for (const ch of type) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  el.dataset.slot = String(hash % PALETTE_SIZE);
}
