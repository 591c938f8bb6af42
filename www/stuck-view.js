// Shows (and hides again) the note of a tab stuck behind the browser's
// connection limit; the logic is in stuck.js.
import { $ } from "./dom.js";
import { DEFAULT_HTTPS_PORT, STUCK_AFTER_MS, connectionLimited, httpsUrl, isStuck, stuckMessage } from "./stuck.js";

// How this page itself came: a cached page reports no protocol.
const navigation = performance.getEntriesByType("navigation")[0];
const LIMITED = connectionLimited(location.protocol, navigation ? navigation.nextHopProtocol : "");
// The HTTPS port: <meta name="sse-https-port"> in index.html (make run's
// TLS_PORT and docker compose's default, 8443).
const meta = document.querySelector('meta[name="sse-https-port"]');
const HTTPS_PORT = meta ? meta.content : DEFAULT_HTTPS_PORT;

// Updates the note for this EventSource; true while it is stuck.
export function showStuck(source, waitingSince) {
  const el = $("stuck-note");
  const stuck = source !== null &&
    isStuck({ readyState: source.readyState, waitingSince, now: Date.now(), limited: LIMITED });
  if (!stuck) {
    if (!el.hidden) el.hidden = true;
    return false;
  }
  if (el.hidden) {
    const { before, after } = stuckMessage(STUCK_AFTER_MS / 1000);
    const link = document.createElement("a");
    link.href = httpsUrl(location, HTTPS_PORT);
    link.textContent = link.href;
    el.replaceChildren(before, link, after);
    el.hidden = false;
  }
  return true;
}
