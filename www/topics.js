// Topics: what the worker accepts, and the /events URL that asks for them.
// Pure: tests/page/ runs it in node.

export const DEFAULT_TOPICS = ["clock", "chat"];
export const MAX_TOPICS = 16;                            // the worker's --max-topics default
export const TOPIC_RE = /^[A-Za-z0-9\-._~:/@]{1,128}$/;  // what the worker accepts

// /events?topic=a&topic=b, plus ?lastEventId= when resuming. EventSource
// cannot set request headers, so the id goes into the query; the worker reads
// it there when no Last-Event-ID header came.
export function eventsUrl(topics, lastId) {
  const query = new URLSearchParams();
  for (const topic of topics) query.append("topic", topic);
  if (lastId) query.set("lastEventId", lastId);
  return "/events?" + query.toString();
}

// Topics from a page query (?topic=a&topic=b), else the defaults. Invalid
// ones are left out, and no more than the worker takes.
export function topicsFromQuery(search) {
  const topics = new URLSearchParams(search).getAll("topic").filter((t) => TOPIC_RE.test(t));
  return topics.length > 0 ? topics.slice(0, MAX_TOPICS) : DEFAULT_TOPICS;
}

// "" when the worker would accept these topics, else why not, in one line.
export function topicsError(topics) {
  const bad = topics.filter((t) => !TOPIC_RE.test(t));
  if (topics.length === 0) return "Pick at least one topic.";
  if (bad.length > 0) return `Not a valid topic: ${bad.join(", ")} (use 1 to 128 of A-Z a-z 0-9 - . _ ~ : / @).`;
  if (topics.length > MAX_TOPICS) return `At most ${MAX_TOPICS} topics.`;
  return "";
}
