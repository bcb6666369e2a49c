// The page: sign in with a nick (POST /api/session on this origin), then one Link to the broker
// carrying the chat and the dashboard feeds. Wires the store to the views; the views never talk to
// the network and the network modules never touch the DOM.

import * as chat from "./chat.js";
import { ChatView } from "./chat_view.js";
import { DashView } from "./dash_view.js";
import { Link } from "./link.js";
import { Store } from "./store.js";

const RENEW_AT = 0.8; // renew the token when this much of its life has gone

const store = new Store();
const $ = (selector) => document.querySelector(selector);
let link = null;
const pendingJoins = new Map(); // join id -> room, until its history comes (accepted) or an error (refused)
let homeRoom = "lobby"; // the last room a join was accepted for: where a refused join goes back to

async function post(path, body, token) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { method: "POST", headers, body: JSON.stringify(body) });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(typeof answer.error === "string" ? answer.error : `HTTP ${response.status}`);
  return answer;
}

function showState({ state, retryIn }) {
  store.link = { state, retryIn };
  const status = $("#link-state");
  status.dataset.state = state;
  status.textContent = state === "reconnecting" && retryIn ? `reconnecting (next try in ${(retryIn / 1000).toFixed(1)} s)` : state;
}

function scheduleRenewal(expiresIn) {
  const seconds = Math.max(2, expiresIn * RENEW_AT);
  setTimeout(async () => {
    try {
      const fresh = await post("/api/session/renew", {}, link.token);
      link.renew = async () => fresh.token;
      await link.renewToken();
      scheduleRenewal(fresh.expiresIn);
    } catch (error) {
      store.apply({ kind: "error", error: `could not renew the session: ${error.message}`, field: "", id: "" });
      setTimeout(() => scheduleRenewal(expiresIn), 5000);
    }
  }, seconds * 1000);
}

function send(doc) {
  if (doc.type === "message") {
    store.outbox.set(doc.id, { doc, status: "pending", ts: Date.now() });
  }
  link.send(chat.OUT, doc);
}

const actions = {
  say(line) {
    const doc = chat.fromComposer(line, store.current, store.me.nick);
    if (!doc) return false;
    if (doc.type === "join") actions.switchRoom(doc.room, doc);
    else {
      if (doc.type === "command") {
        const name = doc.text.slice(1).split(" ")[0].toLowerCase();
        store.asked.set(name, (store.asked.get(name) ?? 0) + 1);
      }
      send(doc);
    }
    return true;
  },
  switchRoom(room, doc = null) {
    const join = doc ?? chat.join(room, store.me.nick);
    pendingJoins.set(join.id, room);
    store.current = room;
    store.room(room).unread = 0;
    send(join);
    send(chat.command("/who", room, store.me.nick));
    store.changed("all");
  },
  retry(id) { link.retrySend(id); },
  loadOlder() {
    const room = store.room(store.current);
    if (room.cursor) send(chat.older(store.current, room.cursor, store.me.nick));
  },
};

async function signIn(nick) {
  const session = await post("/api/session", { nick });
  store.me = { nick, clientId: session.clientId };
  store.changed("me");
  document.body.dataset.signedIn = "true";
  link = new Link({
    url: session.mqttUrl,
    clientId: session.clientId,
    token: session.token,
    filters: [chat.inbox(session.clientId), chat.ROOMS_FILTER, chat.DASH_FILTER],
    onmessage: (topic, text) => {
      const event = chat.parse(topic, text, session.clientId);
      if (!event) return;
      store.apply(event);
      if (event.kind === "history") {
        homeRoom = event.room;
        for (const [id, room] of pendingJoins) if (room === event.room) pendingJoins.delete(id);
      }
      if (event.kind === "error" && pendingJoins.has(event.id)) { // not a room: none made, back home
        const room = pendingJoins.get(event.id);
        pendingJoins.delete(event.id);
        store.rooms.delete(room);
        if (store.current === room) store.current = homeRoom;
        store.changed("all");
      }
      if (event.kind === "system" && event.room === store.current) {
        link.send(chat.OUT, chat.command("/who", store.current, store.me.nick));
      }
    },
    onstate: showState,
    onoutbox: (id, item) => {
      const shown = store.outbox.get(id);
      if (shown) { shown.status = item.status; shown.error = item.error; store.changed("outbox"); }
    },
    onconnected: () => {
      // first time and after every reconnect: the room again (its history fetches what was missed)
      link.send(chat.OUT, chat.command("/rooms", store.current, store.me.nick));
      actions.switchRoom(store.current);
    },
  });
  link.start();
  scheduleRenewal(session.expiresIn);
}

function showView(name) {
  for (const view of ["chat", "dashboard"]) {
    $(`#${view}`).hidden = view !== name;
    $(`#tab-${view}`).setAttribute("aria-selected", String(view === name));
  }
}

function start() {
  const chatView = new ChatView($("#chat"), store, actions);
  const dashView = new DashView($("#dashboard"), store);
  store.subscribe((what) => {
    chatView.draw(what);
    dashView.draw(what);
    if (what === "me" || what === "all") $("#me").textContent = store.me ? store.me.nick : "";
  });
  $("#tab-chat").addEventListener("click", () => showView("chat"));
  $("#tab-dashboard").addEventListener("click", () => showView("dashboard"));
  $("#sign-in").addEventListener("submit", async (event) => {
    event.preventDefault();
    const nick = $("#nick").value.trim();
    const problem = $("#sign-in-error");
    problem.textContent = "";
    try {
      await signIn(nick);
      $("#composer-input").focus();
    } catch (error) {
      problem.textContent = error.message;
    }
  });
  for (const room of ["lobby", "field", "alerts"]) store.room(room);
  store.changed("all");
}

start();
