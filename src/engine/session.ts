/**
 * Runs engine graphs with onnxruntime-node. A `Session` owns one ORT InferenceSession; `SessionCache` shares sessions
 * between callers that build the same model (keyed by the caller's key, or the model bytes' SHA-1).
 *
 * Devices: `cpu` (default; bundled with onnxruntime-node), `cuda` (needs the CUDA EP binaries, see README) or `webgpu`
 * (bundled since onnxruntime-node 1.30: Dawn over Vulkan on Linux, D3D12 on Windows, Metal on macOS; nodes it has no
 * kernel for run on the CPU EP). A machine without a WebGPU adapter gets one line naming the fix.
 * Threads: `STYLECLIP_THREADS` or the number of CPU cores.
 */
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { InputError } from '../errors.js';
import { compiledSession } from './compiled.js';
import type { Graph } from './graph.js';
import { defaultDevice, defaultSessionThread, serialise, specsOf, type Device, type InputSpec, type SessionOptions } from './session_options.js';
import { WorkerSession } from './session_worker.js';
import { shapeStr, type DType, type HostTensor, type TypedData } from './tensor.js';
import { trace } from './trace.js';

export { DEVICES, SESSION_THREADS, defaultDevice, defaultSessionThread, setDefaultSessionThread, specsOf, type CompiledCache, type Device, type InputSpec, type SessionOptions, type SessionThread } from './session_options.js';

/** Execution providers per device, the CPU EP last for what a GPU EP cannot run. */
const PROVIDERS: Readonly<Record<Device, string[]>> = { cpu: ['cpu'], cuda: ['cuda', 'cpu'], webgpu: ['webgpu', 'cpu'] };

/** What ORT's WebGPU EP says when Dawn finds no adapter (webgpu_context.cc). */
const NO_WEBGPU_ADAPTER = /Failed to get a WebGPU adapter|No supported adapters/;
const WEBGPU_HELP =
  "STYLECLIP_DEVICE=webgpu: this machine has no WebGPU adapter (Dawn needs a GPU with Vulkan drivers on Linux, D3D12 on Windows or Metal on macOS, and refuses CPU adapters such as Mesa's lavapipe): install the GPU's Vulkan driver (libvulkan1 and the vendor's ICD), or unset STYLECLIP_DEVICE to run on the CPU";

export function defaultThreads(): number {
  const t = Number(process.env.STYLECLIP_THREADS ?? availableParallelism());
  return Number.isInteger(t) && t > 0 ? t : availableParallelism();
}

const ORT_TYPE: Readonly<Partial<Record<DType, ort.Tensor.Type>>> = {
  float32: 'float32',
  float64: 'float64',
  float16: 'float16',
  int64: 'int64',
  int32: 'int32',
  int16: 'int16',
  int8: 'int8',
  uint8: 'uint8',
  bool: 'bool',
};

function toOrt(t: HostTensor): ort.Tensor {
  const type = ORT_TYPE[t.dtype];
  if (type === undefined) throw new Error(`dtype ${t.dtype} cannot be fed to onnxruntime`);
  return new ort.Tensor(type, t.data as never, [...t.shape]);
}

function fromOrt(t: ort.Tensor): HostTensor {
  const dtype = (t.type === 'float16' ? 'float16' : t.type) as DType;
  return { dtype, shape: [...t.dims], data: t.data as TypedData };
}

/**
 * Initializers of at least this many bytes are saved in the weights file, not in the model (the session option's name
 * and default in onnxruntime_session_options_config_keys.h: kOrtSessionOptionsOptimizedModelExternalInitializersMinSizeInBytes).
 */
const EXTERNAL_MIN_BYTES = 1024;

/** Session config entries that save an optimised model's initializers to `file` (next to the model). */
function externalWeights(file: string): Record<string, string> {
  return { optimized_model_external_initializers_file_name: file, optimized_model_external_initializers_min_size_in_bytes: String(EXTERNAL_MIN_BYTES) };
}

/** onnxruntime's fetches: the tensors of `into` for the outputs it names, null (allocated by onnxruntime) for the rest. */
function preallocated(outputs: readonly string[], into: Readonly<Record<string, HostTensor>>): Record<string, ort.Tensor | null> {
  return Object.fromEntries(outputs.map((name) => [name, into[name] ? toOrt(into[name]) : null]));
}

/** A worker's outputs with those named in `into` copied into its tensors (what preallocated outputs give on the event loop). */
function intoGiven(out: Record<string, HostTensor>, into: Readonly<Record<string, HostTensor>> | undefined): Record<string, HostTensor> {
  if (!into) return out;
  for (const [k, t] of Object.entries(out)) {
    const target = into[k];
    if (!target) continue;
    (target.data as Float32Array).set(t.data as Float32Array);
    out[k] = target;
  }
  return out;
}

/** `STYLECLIP_ORT_PROFILE=/tmp/prefix`: every session writes onnxruntime's per-node profile `<prefix>_<date>.json`. */
export const PROFILE_ENV = 'STYLECLIP_ORT_PROFILE';

/** onnxruntime's options for a session of `opts` on `device` (the same on the event loop and in a worker). */
function ortOptions(opts: SessionOptions, device: Device): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: PROVIDERS[device],
    intraOpNumThreads: opts.threads ?? defaultThreads(),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: opts.optimization ?? 'all',
    ...(opts.saveOptimizedTo ? { optimizedModelFilePath: opts.saveOptimizedTo.model } : {}),
    // Memory patterns pre-plan one block per run shape; with the arena on, a gradient graph then holds both the
    // planned block and arena chunks (measured at 1024 px: 9.0 GB peak with patterns, 7.2 GB without, same speed).
    enableMemPattern: false,
    enableCpuMemArena: opts.memoryArena ?? true,
    // MLAS pre-packs constant matrix/conv weights into a second copy; without it the 1024 px edit step peaks at
    // 6.4 GB instead of 7.2 GB at the same speed (measured, see bench/edit-step.ts).
    extra: {
      session: {
        disable_prepacking: '1',
        // Intra-op threads sleep between parallel sections instead of spinning: on two cores a spinning thread takes
        // the core the event loop (request handling, image encoding) needs. Measured: /v1/render under 8 fixture
        // clients 246 -> 518 renders/s (1 client: 340 -> 356); FFHQ 1024 synthesis, CLIP's text ensemble, the 256 px
        // edit step and bench photo-edit unchanged.
        intra_op: { allow_spinning: '0' },
        ...(opts.saveOptimizedTo ? externalWeights(opts.saveOptimizedTo.weights) : {}),
        // the folder of a model's external data when it is opened from bytes (onnxruntime_session_options_config_keys.h)
        ...(opts.externalDir !== undefined ? { model_external_initializers_file_folder_path: opts.externalDir } : {}),
      },
    },
    // Debugging aid: ORT's per-node trace (JSON, one file per session, written when the session is released).
    ...(process.env[PROFILE_ENV] ? { enableProfiling: true, profileFilePrefix: process.env[PROFILE_ENV] } : {}),
  };
}

export class Session {
  private constructor(
    private readonly ort: ort.InferenceSession | WorkerSession,
    readonly inputs: readonly InputSpec[],
    readonly outputNames: readonly string[],
  ) {}

  /** Builds an ORT session from a graph. */
  static async create(g: Graph, opts: SessionOptions = {}): Promise<Session> {
    const t0 = performance.now();
    const m = serialise(g, opts);
    const t1 = performance.now();
    const s = await Session.open(m.bytes, specsOf(g), m.opts);
    trace(`session ${g.name}: serialise ${(t1 - t0).toFixed(0)} ms, build ${(performance.now() - t1).toFixed(0)} ms${m.mapped ? ' (weights mapped)' : ''}`);
    return s;
  }

  /** Opens serialised ONNX bytes (or an .onnx file, read by onnxruntime); `inputs` are the feeds `run` checks. */
  static async open(bytes: Uint8Array | string, inputs: readonly InputSpec[], opts: SessionOptions = {}): Promise<Session> {
    const device = opts.device ?? defaultDevice();
    const options = ortOptions(opts, device);
    const thread = opts.thread ?? defaultSessionThread();
    try {
      if (thread === 'worker') {
        const remote = await WorkerSession.open(bytes, options);
        return new Session(remote, inputs, remote.outputNames);
      }
      const s = await ort.InferenceSession.create(bytes as Uint8Array, options);
      return new Session(s, inputs, s.outputNames);
    } catch (e) {
      throw device === 'webgpu' && NO_WEBGPU_ADAPTER.test(String((e as Error)?.message)) ? new InputError(WEBGPU_HELP) : e;
    }
  }

  /**
   * Runs the graph; feeds are checked against the declared inputs when the session was built from a Graph. Outputs
   * named in `into` are written into its tensors (onnxruntime's pre-allocated outputs: no allocation, no copy; a
   * training step's 26M gradients land in the optimiser's buffer).
   */
  async run(feeds: Readonly<Record<string, HostTensor>>, outputs?: readonly string[], into?: Readonly<Record<string, HostTensor>>): Promise<Record<string, HostTensor>> {
    const checked: Record<string, HostTensor> = {};
    for (const spec of this.inputs) {
      const t = feeds[spec.name];
      if (!t) throw new Error(`missing input '${spec.name}'`);
      if ((t.dtype !== spec.dtype || t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i]))) {
        throw new Error(`input '${spec.name}' must be ${spec.dtype}${shapeStr(spec.shape)}, got ${t.dtype}${shapeStr(t.shape)}`);
      }
      checked[spec.name] = t;
    }
    if (this.ort instanceof WorkerSession) return intoGiven(await this.ort.run(checked, outputs), into); // no names: all outputs
    const ortFeeds = Object.fromEntries(Object.entries(checked).map(([k, t]) => [k, toOrt(t)]));
    const fetches = into ? preallocated(outputs ?? this.outputNames, into) : outputs && [...outputs];
    const res = fetches ? await this.ort.run(ortFeeds, fetches) : await this.ort.run(ortFeeds);
    const out: Record<string, HostTensor> = {};
    for (const [k, v] of Object.entries(res)) out[k] = fromOrt(v);
    return out;
  }

  async dispose(): Promise<void> {
    if (this.ort instanceof WorkerSession) return this.ort.release(Boolean(process.env[PROFILE_ENV]));
    if (process.env[PROFILE_ENV]) this.ort.endProfiling();
    await this.ort.release();
  }
}

/** Shares sessions by key; `dispose()` releases them all. */
export class SessionCache {
  private readonly sessions = new Map<string, Promise<Session>>();

  constructor(private readonly opts: SessionOptions = {}) {}

  get size(): number {
    return this.sessions.size;
  }

  /** Returns the session for `key`, building the graph only on a miss. */
  get(key: string, build: () => Graph | Promise<Graph>): Promise<Session> {
    const compiled = this.opts.compiled;
    return this.memo(key, async () => (compiled ? compiledSession(compiled, key, build, this.opts, (m, i, o) => Session.open(m, i, o)) : Session.create(await build(), this.opts)));
  }

  /** Keyed by the serialised model's SHA-1: identical graphs share one session. */
  forGraph(g: Graph): Promise<Session> {
    const m = serialise(g, this.opts);
    const key = createHash('sha1').update(m.bytes).digest('hex');
    return this.memo(key, () => Session.open(m.bytes, specsOf(g), m.opts));
  }

  private memo(key: string, open: () => Promise<Session>): Promise<Session> {
    let s = this.sessions.get(key);
    if (!s) {
      s = open();
      s.catch(() => this.sessions.delete(key));
      this.sessions.set(key, s);
    }
    return s;
  }

  async dispose(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s).dispose();
  }
}
