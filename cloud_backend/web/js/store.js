// The page's state in one place: rooms and their messages, presence, the outbox, the dashboard. Views
// subscribe and draw; nothing else writes the state.

import { Series } from "./series.js";

export const MAX_MESSAGES = 500; // per room: older ones are dropped from memory
export const ALERTS = "alerts";

export class Store {
  constructor() {
    this.me = null; // {nick, clientId}
    this.link = { state: "offline", retryIn: 0 };
    this.rooms = new Map(); // name -> {messages: Map(id -> message), unread, users: []}
    this.current = "lobby";
    this.outbox = new Map(); // id -> {doc, status: pending|sent|failed, error}
    this.notices = []; // {text, kind} replies and errors, newest last
    this.asked = new Map(); // command name -> how many the person typed and are not answered yet
    this.devices = new Map(); // thing -> {online, since, lastSeen}
    this.series = new Map(); // "thing/sensor" -> Series
    this.vision = new Map(); // thing -> {labels, frames, faces, ts}
    this.listeners = new Set();
  }

  subscribe(listener) { this.listeners.add(listener); return () => this.listeners.delete(listener); }
  changed(what) { for (const listener of this.listeners) listener(what); }

  room(name) {
    // cursor: where the oldest page we have ends (for "load older"); complete: nothing older exists
    if (!this.rooms.has(name)) this.rooms.set(name, { messages: new Map(), unread: 0, users: [], cursor: null, complete: false });
    return this.rooms.get(name);
  }

  addMessage(message) {
    const room = this.room(message.room);
    if (!message.id || room.messages.has(message.id)) return false; // seen in history and live: once
    room.messages.set(message.id, message);
    if (room.messages.size > MAX_MESSAGES) room.messages.delete(room.messages.keys().next().value);
    if (!message.system && message.room !== this.current && message.user !== this.me?.nick) room.unread += 1;
    return true;
  }

  apply(event) {
    switch (event.kind) {
      case "history": {
        const room = this.room(event.room);
        const all = [...event.messages, ...room.messages.values()];
        const byId = new Map();
        for (const m of all.sort(byTime)) if (m.id && !byId.has(m.id)) byId.set(m.id, m);
        room.messages = byId;
        if (event.cursor === null) room.complete = true;
        else if (room.cursor === null || event.cursor < room.cursor) room.cursor = event.cursor;
        this.changed("messages");
        break;
      }
      case "message":
        if (this.addMessage(event.message)) this.changed("messages");
        if (event.message.room === ALERTS) this.changed("alerts");
        break;
      case "system":
        this.addMessage({ id: `sys-${event.ts}-${event.text}`, room: event.room, user: "", text: event.text, ts: event.ts, system: true });
        this.changed("messages");
        break;
      case "error": {
        const item = event.id ? this.outbox.get(event.id) : undefined;
        if (item) { item.status = "failed"; item.error = event.error; this.changed("outbox"); }
        this.notices.push({ kind: "error", text: event.error, field: event.field, id: event.id });
        this.changed("notices");
        break;
      }
      case "reply":
        if (event.command === "who" && typeof event.reply.room === "string" && Array.isArray(event.reply.users)) {
          this.room(event.reply.room).users = event.reply.users.filter((u) => typeof u === "string");
          this.changed("presence");
        } else if (event.command === "rooms" && Array.isArray(event.reply.rooms)) {
          for (const entry of event.reply.rooms) if (entry && typeof entry.room === "string") this.room(entry.room);
          this.changed("rooms");
        } else if (event.command === "nick" && typeof event.reply.nick === "string" && this.me) {
          this.me.nick = event.reply.nick;
          this.changed("me");
        }
        if (this.asked.get(event.command)) { // a reply to what the person typed, not to the page's own
          this.asked.set(event.command, this.asked.get(event.command) - 1);
          this.notices.push({ kind: "reply", text: describeReply(event.reply) });
          this.changed("notices");
        }
        break;
      case "device": {
        const device = this.devices.get(event.thing) ?? {};
        this.devices.set(event.thing, { ...device, online: event.online, since: event.since, lastSeen: Date.now() });
        this.changed("devices");
        break;
      }
      case "core": {
        const device = this.devices.get(event.thing) ?? { online: true, since: Date.now() };
        this.devices.set(event.thing, { ...device, core: { health: event.health, components: event.components, broken: event.broken }, lastSeen: Date.now() });
        this.changed("devices");
        break;
      }
      case "telemetry": {
        if (event.value === null || !event.sensor) break;
        const key = `${event.thing}/${event.sensor}`;
        if (!this.series.has(key)) this.series.set(key, new Series(event.thing, event.sensor));
        this.series.get(key).add(Date.now(), event.value, event.alerting);
        const device = this.devices.get(event.thing) ?? { online: true, since: Date.now() };
        this.devices.set(event.thing, { ...device, lastSeen: Date.now() });
        this.changed("telemetry");
        break;
      }
      case "vision": {
        const before = this.vision.get(event.thing);
        const thumbnail = event.thumbnail ?? before?.thumbnail ?? null; // the latest picture stays
        this.vision.set(event.thing, { ...event, thumbnail });
        this.changed("vision");
        break;
      }
      default:
        break;
    }
  }
}

// The store's order: by the server's time, then by id (the sort key is time#id#uuid), so the page
// shows a room as its history pages give it, one person's messages in the order they were written.
const byTime = (a, b) => a.ts - b.ts || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

function describeReply(reply) {
  if (reply.command === "who") return `in ${reply.room}: ${(reply.users || []).join(", ") || "nobody"}`;
  if (reply.command === "rooms") return `rooms: ${(reply.rooms || []).map((r) => `${r.room} (${r.online} online)`).join(", ")}`;
  if (reply.command === "nick") return `you are now ${reply.nick}`;
  return `${reply.command}: done`;
}
