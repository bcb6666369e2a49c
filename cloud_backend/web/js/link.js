// The page's one connection to the broker, kept up: the same client id on every attempt, backoff from
// 0.5 s to 30 s with jitter, a state the page shows, subscriptions made again, and an outbox whose
// QoS 1 messages are pending until their PUBACK and are sent again after a reconnect. The token is
// renewed before it expires and the connection is made again with it (a persistent session, so the
// subscriptions carry over). No DOM.

import { MqttConnection } from "./mqtt.js";

export const BACKOFF_MIN_MS = 500;
export const BACKOFF_MAX_MS = 30000;

export class Link {
  constructor({ url, clientId, token, filters, renew, onmessage, onstate, onoutbox, onconnected }) {
    Object.assign(this, { url, clientId, token, filters, renew, onmessage, onstate, onoutbox, onconnected });
    this.outbox = new Map(); // id -> {topic, text, status}
    this.delay = 0;
    this.stopped = false;
    this.connection = null;
    this.attempts = 0;
  }

  start() { this.connect(); }

  state(state, retryIn = 0) { this.onstate({ state, retryIn, attempts: this.attempts }); }

  async connect() {
    if (this.stopped) return;
    this.attempts += 1;
    this.state(this.attempts === 1 ? "connecting" : "reconnecting");
    const connection = new MqttConnection(this.url, { clientId: this.clientId, username: "edgeway", password: this.token, clean: false });
    connection.onmessage = (topic, text) => this.onmessage(topic, text);
    connection.onclose = () => this.lost(connection);
    try {
      await connection.open();
      this.connection = connection;
      await connection.subscribe(this.filters.map((f) => [f, 1]));
    } catch (error) {
      this.lost(connection);
      return;
    }
    this.delay = 0;
    this.state("online");
    for (const [id, item] of this.outbox) if (item.status === "pending") this.transmit(id, item);
    this.onconnected(this.attempts > 1);
  }

  lost(connection) {
    if (connection.lostHandled || (connection !== this.connection && this.connection !== null)) return;
    connection.lostHandled = true;
    this.connection = null;
    if (this.stopped) return;
    connection.onclose = () => {};
    this.delay = Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_MIN_MS, this.delay * 2));
    const wait = Math.round(this.delay * (0.5 + Math.random() / 2));
    this.state("reconnecting", wait);
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.connect(), wait);
  }

  /** Sends a document at QoS 1 through the outbox; returns its id. */
  send(topic, doc) {
    const item = { topic, text: JSON.stringify(doc), status: "pending" };
    this.outbox.set(doc.id, item);
    this.onoutbox(doc.id, item);
    this.transmit(doc.id, item);
    return doc.id;
  }

  retrySend(id) {
    const item = this.outbox.get(id);
    if (!item) return;
    item.status = "pending";
    this.onoutbox(id, item);
    this.transmit(id, item);
  }

  transmit(id, item) {
    const connection = this.connection;
    if (!connection) return; // sent after the reconnect
    connection.publish(item.topic, item.text, 1).then(
      () => { if (item.status === "pending") { item.status = "sent"; this.onoutbox(id, item); } },
      () => {}, // the connection went: still pending, sent again after the reconnect
    );
  }

  failed(id, error) {
    const item = this.outbox.get(id);
    if (item) { item.status = "failed"; item.error = error; this.onoutbox(id, item); }
  }

  /** A fresh token (before the old one expires): the connection is made again with it. */
  async renewToken() {
    this.token = await this.renew(this.token);
    if (this.connection) {
      const old = this.connection;
      this.connection = null;
      old.onclose = () => {};
      old.disconnect();
      this.connect();
    }
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retry);
    if (this.connection) this.connection.disconnect();
  }
}
