// The chat contract of the backend (topics and documents), with no DOM: what the page sends on
// `chat/out` and how it reads what comes back on its inbox, the rooms and the dashboard feeds.

export const OUT = "chat/out";
export const inbox = (clientId) => `chat/in/${clientId}`;
export const ROOMS_FILTER = "chat/pub/+";
export const DASH_FILTER = "dash/#";

// Message ids that sort in the order this page made them: UUIDv7s (RFC 9562: 48 bits of Unix time in
// milliseconds, then a 12-bit counter that grows within a millisecond, then random bits). The store's
// sort key holds the id after the server's time, so messages that reach the server in the same
// millisecond (an outbox flushed on reconnect, a paste of several lines) are kept in the order they
// were written. Written here because crypto.randomUUID() makes only version 4 (random) ids.
let lastMs = 0;
let counter = 0;
const hex = (value, width) => value.toString(16).padStart(width, "0");

export function newId(now = Date.now()) {
  if (now > lastMs) {
    lastMs = now;
    counter = 0;
  } else if (counter < 0xfff) {
    counter += 1; // the same millisecond, or the clock went back: still after the last id
  } else {
    lastMs += 1; // 4,096 ids in one millisecond: borrow the next one
    counter = 0;
  }
  const random = crypto.getRandomValues(new Uint8Array(8));
  random[0] = (random[0] & 0x3f) | 0x80; // the RFC's variant bits
  const time = hex(lastMs, 12);
  const tail = Array.from(random, (byte) => hex(byte, 2)).join("");
  return `${time.slice(0, 8)}-${time.slice(8)}-7${hex(counter, 3)}-${tail.slice(0, 4)}-${tail.slice(4)}`;
}

export const message = (room, text, user) => ({ type: "message", room, text, id: newId(), user });
export const join = (room, user) => ({ type: "join", room, user, id: newId() });
export const command = (text, room, user) => ({ type: "command", text, room, user, id: newId() });
export const older = (room, cursor, user) => command(`/history 50 ${cursor}`, room, user);

/** What a line typed in the composer means: a command (starting with /) or a message. */
export function fromComposer(line, room, user) {
  const text = line.trim();
  if (!text) return null;
  if (text.startsWith("/join ")) return join(text.slice(6).trim(), user);
  return text.startsWith("/") ? command(text, room, user) : message(room, text, user);
}

function parseJson(text) {
  try {
    const value = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

const str = (value) => (typeof value === "string" ? value : "");
const num = (value) => (typeof value === "number" && Number.isFinite(value) ? value : null);

function chatMessage(doc) {
  return { id: str(doc.id), room: str(doc.room), user: str(doc.user), text: str(doc.text), ts: num(doc.ts) ?? Date.now(), clientId: str(doc.clientId) };
}

/** A message from the broker as one of the events the store understands, or null. Pure. */
export function parse(topic, text, myClientId) {
  const doc = parseJson(text);
  if (doc === null) return null;
  if (topic === inbox(myClientId)) {
    if (doc.type === "history") {
      const messages = (Array.isArray(doc.messages) ? doc.messages : []).map(chatMessage);
      return { kind: "history", room: str(doc.room), messages, cursor: str(doc.cursor) || null };
    }
    if (doc.type === "error") return { kind: "error", error: str(doc.error), field: str(doc.field), id: str(doc.id) };
    if (doc.type === "reply") return { kind: "reply", command: str(doc.command), reply: doc };
    return null;
  }
  if (topic.startsWith("chat/pub/")) {
    const room = topic.slice("chat/pub/".length);
    if (doc.type === "message") return { kind: "message", message: { ...chatMessage(doc), room } };
    if (doc.type === "system") return { kind: "system", room, text: str(doc.text), ts: num(doc.ts) ?? Date.now() };
    return null;
  }
  const dash = topic.split("/");
  if (dash[0] === "dash" && dash.length === 3) {
    const thing = dash[2];
    if (dash[1] === "devices") return { kind: "device", thing, online: doc.online === true, since: num(doc.since) ?? Date.now() };
    if (dash[1] === "telemetry") return { kind: "telemetry", thing, sensor: str(doc.sensor), value: num(doc.last), alerting: doc.alerting === true };
    if (dash[1] === "cores") {
      const broken = Array.isArray(doc.broken) ? doc.broken.map(str).filter((n) => n) : [];
      return { kind: "core", thing, health: doc.status === "UNHEALTHY" ? "UNHEALTHY" : "HEALTHY", components: num(doc.components) ?? 0, broken };
    }
    if (dash[1] === "vision") {
      const labels = doc.labels !== null && typeof doc.labels === "object" ? doc.labels : {};
      const counts = Object.entries(labels).filter(([, n]) => typeof n === "number" && n > 0).map(([label, n]) => [String(label), n]);
      const thumbnail = typeof doc.thumbnail === "string" && /^\/9j\/[A-Za-z0-9+/]+={0,2}$/.test(doc.thumbnail) ? doc.thumbnail : null;
      return { kind: "vision", thing, frames: num(doc.frames) ?? 0, faces: num(doc.faces) ?? 0, labels: counts, ts: num(doc.ts) ?? Date.now(), thumbnail };
    }
  }
  return null;
}
