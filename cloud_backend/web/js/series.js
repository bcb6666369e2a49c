// One telemetry series for a chart: a fixed-size ring buffer of (time, value), so memory stays flat
// however long the page is open. Points older than the window are not drawn; past `capacity` the
// oldest are overwritten (at 1 Hz, 600 points hold the 10-minute window).

export const WINDOW_MS = 10 * 60 * 1000;
export const CAPACITY = 600;

export class Series {
  constructor(thing, sensor, capacity = CAPACITY) {
    this.thing = thing;
    this.sensor = sensor;
    this.times = new Float64Array(capacity);
    this.values = new Float64Array(capacity);
    this.start = 0;
    this.length = 0;
    this.alerting = false;
    this.last = null;
  }

  add(time, value, alerting) {
    const capacity = this.times.length;
    const at = (this.start + this.length) % capacity;
    this.times[at] = time;
    this.values[at] = value;
    if (this.length < capacity) this.length += 1;
    else this.start = (this.start + 1) % capacity;
    this.alerting = alerting;
    this.last = value;
  }

  /** The points within the window ending at `now`, oldest first, at most `most` (evenly decimated). */
  points(now, most = 300) {
    const out = [];
    for (let i = 0; i < this.length; i += 1) {
      const at = (this.start + i) % this.times.length;
      if (this.times[at] >= now - WINDOW_MS) out.push([this.times[at], this.values[at]]);
    }
    if (out.length <= most) return out;
    const step = out.length / most;
    const kept = [];
    for (let i = 0; i < most; i += 1) kept.push(out[Math.floor(i * step)]);
    kept[kept.length - 1] = out[out.length - 1];
    return kept;
  }
}
