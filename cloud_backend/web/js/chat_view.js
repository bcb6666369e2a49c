// The chat: rooms with unread counts, the current room's messages (with each of mine marked pending,
// sent or failed), who is here, and the replies and errors the server sent. Draws from the store.

import { el, replaceChildren, time } from "./dom.js";

export class ChatView {
  constructor(root, store, actions) {
    this.root = root;
    this.store = store;
    this.actions = actions;
    this.roomsList = root.querySelector("#rooms");
    this.messages = root.querySelector("#messages");
    this.presence = root.querySelector("#presence");
    this.notices = root.querySelector("#notices");
    this.title = root.querySelector("#room-title");
    this.older = root.querySelector("#load-older");
    this.older.addEventListener("click", () => actions.loadOlder());
    this.rendered = new Map(); // message id -> li, for the current room
    this.renderedRoom = null;
    root.querySelector("#composer").addEventListener("submit", (event) => {
      event.preventDefault();
      const input = root.querySelector("#composer-input");
      if (actions.say(input.value)) input.value = "";
    });
  }

  draw(what) {
    if (["rooms", "messages", "me", "all"].includes(what)) this.drawRooms();
    if (["messages", "outbox", "all"].includes(what)) this.drawMessages();
    if (["presence", "all"].includes(what)) this.drawPresence();
    if (["notices", "all"].includes(what)) this.drawNotices();
  }

  drawRooms() {
    const items = [...this.store.rooms.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, room]) => {
      const current = name === this.store.current;
      const label = room.unread > 0 && !current ? `${name} (${room.unread} unread)` : name;
      return el("li", {}, el("button", {
        type: "button", class: current ? "room current" : "room", "aria-current": current ? "true" : undefined,
        dataset: { room: name }, onclick: () => this.actions.switchRoom(name),
      }, el("span", { class: "room-name" }, name), room.unread > 0 && !current ? el("span", { class: "badge", "aria-label": label }, String(room.unread)) : null));
    });
    replaceChildren(this.roomsList, items);
    this.title.textContent = this.store.current;
  }

  drawMessages() {
    const room = this.store.room(this.store.current);
    this.older.hidden = room.complete || room.cursor === null;
    if (this.renderedRoom !== this.store.current) {
      this.messages.replaceChildren();
      this.rendered.clear();
      this.renderedRoom = this.store.current;
    }
    let previous = null;
    for (const message of room.messages.values()) {
      let item = this.rendered.get(message.id);
      if (!item) {
        item = this.messageItem(message);
        this.rendered.set(message.id, item);
        if (previous) previous.after(item); else this.messages.prepend(item);
      }
      const outgoing = this.store.outbox.get(message.id);
      if (outgoing) this.setStatus(item, message.id, outgoing);
      previous = item;
    }
    for (const [id, item] of this.store.outbox) {
      if (item.doc.room !== this.store.current || room.messages.has(id) || item.doc.type !== "message") continue;
      let node = this.rendered.get(id);
      if (!node) {
        node = this.messageItem({ id, user: item.doc.user, text: item.doc.text, ts: item.ts });
        this.rendered.set(id, node);
        this.messages.append(node);
      }
      this.setStatus(node, id, item);
    }
    this.messages.scrollTop = this.messages.scrollHeight;
  }

  messageItem(message) {
    if (message.system) return el("li", { class: "system", dataset: { id: message.id } }, el("span", { class: "text" }, message.text), " ", el("time", {}, time(message.ts)));
    return el("li", { class: "message", dataset: { id: message.id } },
      el("span", { class: "user" }, message.user), " ",
      el("span", { class: "text" }, message.text), " ",
      el("time", {}, time(message.ts)), " ",
      el("span", { class: "status" }));
  }

  setStatus(node, id, item) {
    const status = node.querySelector(".status");
    if (!status) return;
    node.dataset.status = item.status;
    const children = [item.status];
    if (item.status === "failed") {
      if (item.error) children.push(`: ${item.error}`);
      children.push(el("button", { type: "button", class: "retry", onclick: () => this.actions.retry(id) }, "retry"));
    }
    replaceChildren(status, children.map((c) => (typeof c === "string" ? document.createTextNode(c) : c)));
  }

  drawPresence() {
    const users = this.store.room(this.store.current).users;
    replaceChildren(this.presence, users.map((user) => el("li", {}, user)));
  }

  drawNotices() {
    const recent = this.store.notices.slice(-5);
    replaceChildren(this.notices, recent.map((n) => el("li", { class: n.kind }, n.kind === "error" ? `error: ${n.text}` : n.text)));
  }
}
