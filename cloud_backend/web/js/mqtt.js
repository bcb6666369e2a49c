// A small MQTT 3.1.1 client over WebSocket, written here rather than taken from a library: the page
// must work under `script-src 'self'` with no build step and no CDN, and the whole app stays under
// 100 KB (the usual browser MQTT library alone is several times that). It does what the app needs:
// CONNECT with username and password, SUBSCRIBE, PUBLISH at QoS 0 and 1 (PUBACK tracked), PINGREQ
// keep-alive, DISCONNECT. No DOM access: it can be tested on its own.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const PACKET = {
  CONNECT: 1, CONNACK: 2, PUBLISH: 3, PUBACK: 4, SUBSCRIBE: 8, SUBACK: 9,
  PINGREQ: 12, PINGRESP: 13, DISCONNECT: 14,
};

function utf8(text) {
  const bytes = encoder.encode(text);
  if (bytes.length > 0xffff) throw new Error("an MQTT string is at most 65535 bytes");
  return [bytes.length >> 8, bytes.length & 0xff, ...bytes];
}

function remainingLength(n) {
  const out = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

export function packet(type, flags, body) {
  return new Uint8Array([(type << 4) | flags, ...remainingLength(body.length), ...body]);
}

export function connectPacket({ clientId, username, password, keepalive, clean }) {
  let flags = clean ? 0x02 : 0;
  if (username !== undefined) flags |= 0x80;
  if (password !== undefined) flags |= 0x40;
  const body = [...utf8("MQTT"), 4, flags, keepalive >> 8, keepalive & 0xff, ...utf8(clientId)];
  if (username !== undefined) body.push(...utf8(username));
  if (password !== undefined) body.push(...utf8(password));
  return packet(PACKET.CONNECT, 0, body);
}

export function publishPacket(topic, payload, qos, id) {
  const body = [...utf8(topic)];
  if (qos > 0) body.push(id >> 8, id & 0xff);
  return packet(PACKET.PUBLISH, qos << 1, [...body, ...payload]);
}

export function subscribePacket(id, filters) {
  const body = [id >> 8, id & 0xff];
  for (const [filter, qos] of filters) body.push(...utf8(filter), qos);
  return packet(PACKET.SUBSCRIBE, 0x02, body);
}

/** Splits a byte stream into packets: {type, flags, body}. */
export class PacketReader {
  constructor() { this.buffer = new Uint8Array(0); }

  push(bytes) {
    const joined = new Uint8Array(this.buffer.length + bytes.length);
    joined.set(this.buffer);
    joined.set(bytes, this.buffer.length);
    this.buffer = joined;
    const packets = [];
    for (;;) {
      if (this.buffer.length < 2) break;
      let length = 0, multiplier = 1, at = 1, byte;
      do {
        if (at >= this.buffer.length) return packets;
        byte = this.buffer[at++];
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if (multiplier > 128 ** 4) throw new Error("malformed remaining length");
      } while (byte & 0x80);
      if (this.buffer.length < at + length) break;
      packets.push({ type: this.buffer[0] >> 4, flags: this.buffer[0] & 0x0f, body: this.buffer.slice(at, at + length) });
      this.buffer = this.buffer.slice(at + length);
    }
    return packets;
  }
}

export function parsePublish(flags, body) {
  const qos = (flags >> 1) & 0x03;
  const topicLength = (body[0] << 8) | body[1];
  const topic = decoder.decode(body.slice(2, 2 + topicLength));
  let at = 2 + topicLength, id = 0;
  if (qos > 0) { id = (body[at] << 8) | body[at + 1]; at += 2; }
  return { topic, qos, id, payload: body.slice(at) };
}

/**
 * One MQTT connection. `open()` resolves once CONNACK accepts it (and rejects with the return code
 * otherwise); `onmessage(topic, text)`, `onclose(reason)`. QoS 1 publishes resolve on PUBACK.
 */
export class MqttConnection {
  constructor(url, options, socketFactory = (u) => new WebSocket(u, ["mqtt"])) {
    this.url = url;
    this.options = { keepalive: 30, clean: true, ...options };
    this.socketFactory = socketFactory;
    this.nextId = 1;
    this.acks = new Map(); // packet id -> {resolve, reject}
    this.onmessage = () => {};
    this.onclose = () => {};
    this.reader = new PacketReader();
    this.closed = false;
  }

  open(timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      const socket = this.socketFactory(this.url);
      this.socket = socket;
      socket.binaryType = "arraybuffer";
      const timer = setTimeout(() => { reject(new Error("no CONNACK in time")); socket.close(); }, timeoutMs);
      this.connack = { resolve: (code) => { clearTimeout(timer); code === 0 ? resolve() : reject(new Error(`CONNACK ${code}`)); } };
      socket.onopen = () => socket.send(connectPacket(this.options));
      socket.onmessage = (event) => this.receive(new Uint8Array(event.data));
      socket.onerror = () => {};
      socket.onclose = () => { clearTimeout(timer); reject(new Error("the connection closed")); this.closing("closed"); };
    });
  }

  receive(bytes) {
    let packets;
    try { packets = this.reader.push(bytes); } catch (error) { this.socket.close(); return; }
    for (const { type, flags, body } of packets) {
      if (type === PACKET.CONNACK) {
        this.connack.resolve(body[1]);
        if (body[1] === 0) this.keepAlive();
      } else if (type === PACKET.PUBLISH) {
        const message = parsePublish(flags, body);
        if (message.qos === 1) this.send(packet(PACKET.PUBACK, 0, [message.id >> 8, message.id & 0xff]));
        this.onmessage(message.topic, decoder.decode(message.payload));
      } else if (type === PACKET.PUBACK || type === PACKET.SUBACK) {
        const id = (body[0] << 8) | body[1];
        const waiting = this.acks.get(id);
        this.acks.delete(id);
        if (waiting) waiting.resolve(type === PACKET.SUBACK ? Array.from(body.slice(2)) : undefined);
      }
    }
  }

  keepAlive() {
    const every = this.options.keepalive * 1000;
    this.pinger = setInterval(() => this.send(packet(PACKET.PINGREQ, 0, [])), every / 2);
  }

  send(bytes) {
    if (this.socket && this.socket.readyState === 1) this.socket.send(bytes);
  }

  packetId() {
    const id = this.nextId;
    this.nextId = this.nextId === 0xffff ? 1 : this.nextId + 1;
    return id;
  }

  waitAck(id, timeoutMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.acks.delete(id); reject(new Error("no acknowledgement in time")); }, timeoutMs);
      this.acks.set(id, { resolve: (value) => { clearTimeout(timer); resolve(value); }, reject });
    });
  }

  subscribe(filters, timeoutMs = 10000) {
    const id = this.packetId();
    const acked = this.waitAck(id, timeoutMs);
    this.send(subscribePacket(id, filters));
    return acked;
  }

  publish(topic, text, qos = 0, timeoutMs = 10000) {
    const payload = encoder.encode(text);
    if (qos === 0) { this.send(publishPacket(topic, payload, 0, 0)); return Promise.resolve(); }
    const id = this.packetId();
    const acked = this.waitAck(id, timeoutMs);
    this.send(publishPacket(topic, payload, 1, id));
    return acked;
  }

  closing(reason) {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pinger);
    for (const waiting of this.acks.values()) waiting.reject(new Error("the connection closed"));
    this.acks.clear();
    this.onclose(reason);
  }

  disconnect() {
    this.send(packet(PACKET.DISCONNECT, 0, []));
    this.closed = true;
    clearInterval(this.pinger);
    if (this.socket) this.socket.close();
  }
}
