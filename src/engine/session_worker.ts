/**
 * onnxruntime sessions on a thread of their own. onnxruntime-node runs an inference synchronously on the thread that
 * calls it, so a server running its sessions on the event loop answers nothing while a synthesis runs (1.1 s at
 * 1024 px): no other request, no upload, no progress event, no other client's JavaScript. A session opened with
 * `thread: 'worker'` (./session_options.ts) lives in a worker thread that runs its inferences one at a time, with the
 * same onnxruntime options; the event loop only posts feeds and receives outputs (structured-clone copies: 12 MB for
 * a 1024 px image, a few ms). `serve` opens every session this way (src/cli/serve.ts).
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type * as ort from 'onnxruntime-node';
import type { DType, HostTensor, TypedData } from './tensor.js';

/** A tensor as it crosses threads: onnxruntime's type name, dims and data. */
interface WireTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: TypedData;
}

type Reply = { readonly id: number; readonly error?: string; readonly outputNames?: string[]; readonly outputs?: Record<string, WireTensor> };

/**
 * The worker's code (CommonJS, evaluated): onnxruntime-node is required by the path the main thread resolved, so a
 * worker finds it wherever the process was started.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ort);
// This thread allocates little JavaScript, so its garbage collector would hold the copy of a model's bytes (160 MB
// for FFHQ 1024 synthesis) long after onnxruntime has read them: it is collected once the session is open.
let collect;
try {
  require('node:v8').setFlagsFromString('--expose-gc');
  collect = require('node:vm').runInNewContext('gc');
} catch {}
let session;
const wire = (t) => ({ type: t.type, dims: t.dims, data: t.data });
parentPort.on('message', async (m) => {
  try {
    if (m.op === 'open') {
      session = await ort.InferenceSession.create(m.model, m.options);
      const large = typeof m.model !== 'string' && m.model.byteLength > workerData.collectBytes;
      m.model = undefined;
      if (large && collect) collect();
      parentPort.postMessage({ id: m.id, outputNames: session.outputNames });
    } else if (m.op === 'run') {
      const feeds = {};
      for (const [k, t] of Object.entries(m.feeds)) feeds[k] = new ort.Tensor(t.type, t.data, t.dims);
      const res = m.fetches ? await session.run(feeds, m.fetches) : await session.run(feeds);
      const outputs = {};
      for (const [k, t] of Object.entries(res)) outputs[k] = wire(t);
      // Moved, not copied: the worker keeps no output alive until its own garbage collection.
      const buffers = [...new Set(Object.values(outputs).map((t) => t.data.buffer))];
      try {
        parentPort.postMessage({ id: m.id, outputs }, buffers);
      } catch {
        parentPort.postMessage({ id: m.id, outputs });
      }
    } else {
      if (m.profile) session.endProfiling();
      await session.release();
      parentPort.postMessage({ id: m.id });
    }
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: String((e && e.message) || e) });
  }
});
`;

let ortPath: string | undefined;

/** Model bytes from which on the worker collects its garbage once the session is open (see WORKER). */
const COLLECT_BYTES = 16 * 2 ** 20;

/** One onnxruntime session in a worker thread of its own. */
export class WorkerSession {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve(r: Reply): void; reject(e: Error): void }>();
  private failure: Error | undefined;
  outputNames: readonly string[] = [];

  private constructor(private readonly worker: Worker) {
    // The worker keeps the process alive only while it owes an answer (a forgotten session does not hang an exit).
    worker.unref();
    worker.on('message', (r: Reply) => this.settle(r));
    const fail = (e: Error): void => {
      this.failure = e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`onnxruntime's session worker exited (code ${code})`)));
  }

  /** Opens `model` (ONNX bytes or an .onnx path) with onnxruntime `options` in a new worker thread. */
  static async open(model: Uint8Array | string, options: ort.InferenceSession.SessionOptions): Promise<WorkerSession> {
    ortPath ??= createRequire(import.meta.url).resolve('onnxruntime-node');
    const s = new WorkerSession(new Worker(WORKER, { eval: true, workerData: { ort: ortPath, collectBytes: COLLECT_BYTES } }));
    try {
      s.outputNames = (await s.call({ op: 'open', model, options })).outputNames ?? [];
    } catch (e) {
      await s.worker.terminate();
      throw e;
    }
    return s;
  }

  /** One inference: feeds by name -> outputs by name (those of `fetches`, or all). */
  async run(feeds: Readonly<Record<string, HostTensor>>, fetches?: readonly string[]): Promise<Record<string, HostTensor>> {
    const wireFeeds = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { type: t.dtype, dims: t.shape, data: t.data }]));
    const { outputs = {} } = await this.call({ op: 'run', feeds: wireFeeds, fetches: fetches && [...fetches] });
    return Object.fromEntries(Object.entries(outputs).map(([k, t]) => [k, { dtype: t.type as DType, shape: [...t.dims], data: t.data }]));
  }

  /** Releases the session and ends its thread. */
  async release(profile: boolean): Promise<void> {
    try {
      if (!this.failure) await this.call({ op: 'release', profile });
    } finally {
      await this.worker.terminate();
    }
  }

  private call(message: Record<string, unknown>): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    const id = ++this.nextId;
    if (this.pending.size === 0) this.worker.ref();
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...message, id });
    });
  }

  private settle(r: Reply): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    if (this.pending.size === 0) this.worker.unref();
    if (r.error !== undefined) p.reject(new Error(r.error));
    else p.resolve(r);
  }
}
