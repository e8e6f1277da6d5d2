/** What a session is built with, shared by ./session.ts and ./compiled.ts. */
import { InputError } from '../errors.js';
import type { Graph } from './graph.js';
import { defaultWinograd, lowerConvs, type WinogradMode } from './lower.js';
import { externalWeightsOf, toOnnx } from './onnx.js';
import { tensorBytes, type DType } from './tensor.js';

export const DEVICES = ['cpu', 'cuda', 'webgpu'] as const;
export type Device = (typeof DEVICES)[number];

/** `STYLECLIP_DEVICE`, default cpu; an unknown name is one InputError line. */
export function defaultDevice(): Device {
  const d = process.env.STYLECLIP_DEVICE ?? 'cpu';
  if (!(DEVICES as readonly string[]).includes(d)) throw new InputError(`STYLECLIP_DEVICE must be one of ${DEVICES.join(', ')}, got '${d}'`);
  return d as Device;
}

export const SESSION_THREADS = ['main', 'worker'] as const;
/** Where a session's inferences run: on the calling (event-loop) thread, or a worker thread of its own (./session_worker.ts). */
export type SessionThread = (typeof SESSION_THREADS)[number];

let threadDefault: SessionThread | undefined;

/** The process's default session thread, below `STYLECLIP_SESSION_THREAD` (`serve` and `worker` set 'worker'). */
export function setDefaultSessionThread(thread: SessionThread | undefined): void {
  threadDefault = thread;
}

/** The default session thread: `STYLECLIP_SESSION_THREAD`, else the process's (setDefaultSessionThread), else main. */
export function defaultSessionThread(): SessionThread {
  const t = process.env.STYLECLIP_SESSION_THREAD ?? threadDefault ?? 'main';
  if (!(SESSION_THREADS as readonly string[]).includes(t)) throw new InputError(`STYLECLIP_SESSION_THREAD must be one of ${SESSION_THREADS.join(', ')}, got '${t}'`);
  return t as SessionThread;
}

/** Where compiled sessions of one set of weights are kept (./compiled.ts). */
export interface CompiledCache {
  /** Directory of the entries (created on first write). */
  readonly dir: string;
  /** Identity of the weights the graph holds (e.g. a checkpoint's path, size and mtime, or its digest). */
  readonly source: string;
}

export interface SessionOptions {
  readonly device?: Device;
  /** Intra-op threads; default `STYLECLIP_THREADS` or all cores. */
  readonly threads?: number;
  /** SessionCache: keep compiled sessions of these weights on disk (./compiled.ts). */
  readonly compiled?: CompiledCache;
  /**
   * onnxruntime's graph optimisation ('disabled' for models it optimised already); default 'all', 'extended' for
   * graphs whose weights it maps from a checkpoint (`serialise`).
   */
  readonly optimization?: 'all' | 'extended' | 'disabled';
  /** The folder onnxruntime reads the model's external data from (`serialise` sets it). */
  readonly externalDir?: string;
  /**
   * Where onnxruntime saves the optimised model (./compiled.ts): `model`, with its weights in `weights` (a file name in
   * the model's directory, which the model names; onnxruntime maps it into memory when it opens the model).
   */
  readonly saveOptimizedTo?: { readonly model: string; readonly weights: string };
  /** The Winograd conv lowering (./lower.ts); default `STYLECLIP_WINOGRAD` or 'auto'. */
  readonly winograd?: WinogradMode;
  /** Where inferences run (default `defaultSessionThread()`). */
  readonly thread?: SessionThread;
  /**
   * onnxruntime's CPU memory arena (default on): off, a run's buffers go back to the system when it ends, for
   * sessions run once or twice per request on large images (face detection, alignment) that should not keep their
   * peak held for the process's life.
   */
  readonly memoryArena?: boolean;
}

/** The lowering a session of these options gets: the CPU provider only (GPU libraries choose their own algorithms). */
export function winogradOf(opts: SessionOptions): WinogradMode {
  return (opts.device ?? defaultDevice()) === 'cpu' ? (opts.winograd ?? defaultWinograd()) : 'off';
}

/** Applies the engine's lowerings to a finished graph before it is serialised (./lower.ts). */
export function lowerFor(g: Graph, opts: SessionOptions): Graph {
  lowerConvs(g, winogradOf(opts));
  return g;
}

/**
 * A graph is "mapped" when at least this share of its weight bytes lie unchanged in one folder's checkpoint files:
 * onnxruntime then maps them from there (external data) instead of receiving a serialised copy.
 */
const MAPPED_SHARE = 0.5;

/**
 * The lowered graph as ONNX bytes and the options to open them with. A mapped graph's file-backed weights are
 * external data in their checkpoint's folder, and it is built at 'extended': onnxruntime's 'all' adds the NCHWc
 * layout, which copies and reorders every conv weight (e4e: 14.4 s and +3.9 GB of fresh memory to build on this VM,
 * against 0.5 s at 'extended' for a 1.25x slower run, 0.75 vs 0.60 s; measured 2026-12-04), and a compiled copy
 * (./compiled.ts) would be another file of the same size. `mapped` says which it was.
 */
export function serialise(g: Graph, opts: SessionOptions): { bytes: Uint8Array; opts: SessionOptions; mapped: boolean } {
  const lowered = lowerFor(g, opts);
  const ext = externalWeightsOf(lowered);
  let total = 0;
  for (const t of lowered.initializers.values()) total += tensorBytes(t);
  if (!ext || ext.bytes < MAPPED_SHARE * total) return { bytes: toOnnx(lowered), opts, mapped: false };
  return { bytes: toOnnx(lowered, ext.dir), opts: { optimization: 'extended', ...opts, externalDir: ext.dir }, mapped: true };
}

export interface InputSpec {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
}

export function specsOf(g: Graph): InputSpec[] {
  return g.inputs.map((v) => ({ name: v.name, dtype: v.dtype, shape: v.shape }));
}
