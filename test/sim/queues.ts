/**
 * The simulation's queues: the Queues port with SQS's semantics on the simulated clock
 * (delays, visibility timeouts, at-least-once delivery, a dead-letter limit), and faults the
 * seed chooses: a send that fails, a message delivered twice, delivered late, or out of order.
 * Durable (SQS) or not (the local default's in-process queues, lost with the process).
 */
import type { QueueMessage, QueueName, Queues } from "../../core/ports";
import type { Prng } from "./prng";

export class SimFault extends Error {
  override readonly name = "SimFault";
}

export interface QueueKnobs {
  sendFailRate: number;
  dupRate: number;
  delayRate: number;
  reorder: boolean;
}

export interface SimMessage {
  id: string;
  queue: QueueName;
  body: string;
  visibleAt: number;
  receiveCount: number;
  handle?: string;
  sentAt: number;
}

export class SimQueues implements Queues {
  private readonly queues = new Map<string, SimMessage[]>();
  private seq = 0;
  /** set false while the simulator drains the run (no more injected faults) */
  faults = true;

  constructor(
    private readonly rng: Prng,
    private readonly now: () => number,
    readonly knobs: QueueKnobs,
    private readonly onSend: (queue: QueueName, body: string, note: string) => void,
  ) {}

  async send(queue: QueueName, body: unknown, opts: { delaySeconds?: number } = {}): Promise<void> {
    const text = JSON.stringify(body);
    if (this.faults && this.rng.chance(this.knobs.sendFailRate)) {
      this.onSend(queue, text, "send FAILED (injected)");
      throw new SimFault(`injected: send to ${queue} failed`);
    }
    const copies = this.faults && this.rng.chance(this.knobs.dupRate) ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      const extra = this.faults && this.rng.chance(this.knobs.delayRate) ? this.rng.range(1, 8000) : 0;
      const m: SimMessage = {
        id: `m${++this.seq}`,
        queue,
        body: text,
        visibleAt: this.now() + (opts.delaySeconds ?? 0) * 1000 + extra,
        receiveCount: 0,
        sentAt: this.now(),
      };
      this.list(queue).push(m);
      this.onSend(
        queue,
        text,
        `${m.id}${copies > 1 ? ` (copy ${c + 1}/2)` : ""} visible in ${((m.visibleAt - this.now()) / 1000).toFixed(1)}s`,
      );
    }
  }

  async receive(queue: QueueName, opts: { max: number; waitSeconds: number; visibilitySeconds: number }): Promise<QueueMessage[]> {
    return this.take(queue, opts.max, opts.visibilitySeconds);
  }

  /** Up to `max` visible messages (`early`: also ones not yet due, as a skewed clock would), now invisible for `visibilitySeconds`. */
  take(queue: string, max: number, visibilitySeconds: number, o: { early?: boolean } = {}): QueueMessage[] {
    const now = this.now();
    let ready = this.list(queue).filter((m) => o.early || m.visibleAt <= now);
    if (this.knobs.reorder && this.faults) ready = shuffle(this.rng, ready);
    else ready.sort((a, b) => a.visibleAt - b.visibleAt || Number(a.id.slice(1)) - Number(b.id.slice(1)));
    return ready.slice(0, max).map((m) => {
      m.receiveCount++;
      m.handle = `${m.id}#${m.receiveCount}`;
      m.visibleAt = now + visibilitySeconds * 1000;
      return { id: m.id, body: m.body, receiptHandle: m.handle, receiveCount: m.receiveCount };
    });
  }

  async delete(queue: QueueName, receiptHandle: string): Promise<void> {
    const list = this.list(queue);
    const i = list.findIndex((m) => m.handle === receiptHandle);
    if (i >= 0) list.splice(i, 1);
  }

  async ensure(): Promise<void> {}

  /** Move a message to the dead-letter queue, as SQS's redrive policy does (no fault: SQS moves it), receive count reset. */
  deadLetter(queue: string, id: string, to: QueueName) {
    const list = this.list(queue);
    const i = list.findIndex((m) => m.id === id);
    if (i < 0) return;
    const [m] = list.splice(i, 1);
    this.list(to).push({ ...m!, queue: to, visibleAt: this.now(), receiveCount: 0, sentAt: this.now() });
  }

  list(queue: string): SimMessage[] {
    let l = this.queues.get(queue);
    if (!l) this.queues.set(queue, (l = []));
    return l;
  }

  visibleCount(queue: string): number {
    const now = this.now();
    return this.list(queue).filter((m) => m.visibleAt <= now).length;
  }

  /** The earliest time a message of these queues becomes visible (Infinity when empty). */
  nextVisible(queues: string[]): number {
    let t = Infinity;
    for (const q of queues) for (const m of this.list(q)) t = Math.min(t, m.visibleAt);
    return t;
  }

  size(queue: string): number {
    return this.list(queue).length;
  }

  /** The process held them in memory: gone. */
  clear(): number {
    let n = 0;
    for (const l of this.queues.values()) n += l.splice(0).length;
    return n;
  }
}

function shuffle<T>(rng: Prng, xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
