/**
 * Slider renders under many clients (issue 21 part 4). Each render's S codes are prepared by its own request; the
 * synthesis is one queue: while a synthesis runs, arriving renders wait, and the next synthesis takes every waiting
 * render at once, one generator call per group of compatible renders (the same generator and the same noise maps:
 * seeds and e4e photos of one generator share its stored noise) with their codes stacked as one batch. A client's
 * render that a newer render of the same client has superseded by then is answered 409 without being rendered: the
 * newest slider position wins.
 */
import { concatRows, sliceRows } from '../engine/batching.js';
import type { HostTensor } from '../engine/tensor.js';
import type { Generator } from '../generator/index.js';
import { RequestError } from '../jobs/errors.js';

/** Renders in one synthesis call at most (8 concurrent clients in one call; the generator chunks it further). */
export const MAX_RENDER_BATCH = 8;

export interface RenderTicket {
  readonly seq: number;
  readonly client?: string;
}

interface Waiting {
  readonly ticket: RenderTicket;
  readonly generator: Generator;
  readonly codes: HostTensor;
  readonly noise?: readonly HostTensor[];
  readonly key: string;
  resolve(image: HostTensor): void;
  reject(e: unknown): void;
}

/** Identity of an array (noise maps are compared by the buffers they hold, not by value). */
const ids = new WeakMap<object, number>();
let nextId = 0;
const idOf = (o: object): number => {
  let id = ids.get(o);
  if (id === undefined) ids.set(o, (id = ++nextId));
  return id;
};

export class RenderBatcher {
  private waiting: Waiting[] = [];
  private running = false;
  private seq = 0;
  private readonly newest = new Map<string, number>();
  /** Synthesis calls made and renders they served, for the benchmark and the tests. */
  readonly stats = { calls: 0, renders: 0, superseded: 0 };

  constructor(private readonly maxBatch = MAX_RENDER_BATCH) {}

  /** Taken when a render arrives: from then on the client's older renders are superseded. */
  ticket(client: string | undefined): RenderTicket {
    const seq = ++this.seq;
    if (client) this.newest.set(client, seq);
    return { seq, client };
  }

  /** Refuses a render whose client has sent a newer one (409: the newest slider position wins). */
  checkCurrent(t: RenderTicket): void {
    if (t.client !== undefined && this.newest.get(t.client) !== t.seq) {
      this.stats.superseded++;
      throw new RequestError('conflict', 'superseded: a newer render of this client arrived before this one was rendered');
    }
  }

  /** Forgets the client once its newest render is answered. */
  done(t: RenderTicket): void {
    if (t.client !== undefined && this.newest.get(t.client) === t.seq) this.newest.delete(t.client);
  }

  /** The image [1,3,R,R] of S codes [1, total], rendered in the next synthesis with every compatible waiting render. */
  synthesize(ticket: RenderTicket, generator: Generator, codes: HostTensor, noise?: readonly HostTensor[]): Promise<HostTensor> {
    const key = `${idOf(generator)}:${noise ? noise.map((m) => idOf(m.data)).join(',') : 'const'}`;
    return new Promise((resolve, reject) => {
      this.waiting.push({ ticket, generator, codes, noise, key, resolve, reject });
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.waiting.length) {
        const live = this.waiting.splice(0).filter((w) => {
          try {
            this.checkCurrent(w.ticket);
            return true;
          } catch (e) {
            w.reject(e);
            return false;
          }
        });
        const groups = new Map<string, Waiting[]>();
        for (const w of live) groups.set(w.key, [...(groups.get(w.key) ?? []), w]);
        for (const group of groups.values()) {
          for (let i = 0; i < group.length; i += this.maxBatch) await this.run(group.slice(i, i + this.maxBatch));
        }
      }
    } finally {
      this.running = false;
    }
  }

  private async run(batch: readonly Waiting[]): Promise<void> {
    try {
      const images = await batch[0].generator.synthesizeFromStyles(concatRows(batch.map((w) => w.codes)), { noiseMaps: batch[0].noise });
      this.stats.calls++;
      this.stats.renders += batch.length;
      batch.forEach((w, i) => w.resolve(sliceRows(images, i, 1)));
    } catch (e) {
      for (const w of batch) w.reject(e);
    }
  }
}
