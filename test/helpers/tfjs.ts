/**
 * TensorFlow.js for the tests that compare our engine graphs with the official face-api.js / tfjs runs (dev
 * dependencies only: the product runs every face network on onnxruntime): @vladmandic/face-api's Node build for the wasm
 * backend (`dist/face-api.node-wasm.js`, which requires `@tensorflow/tfjs` and `@tensorflow/tfjs-backend-wasm`; both
 * install offline, unlike tfjs-node). Both are CommonJS, so they are loaded with `require`, which also guarantees a
 * single tfjs engine shared by face-api and our own code. Backends are tried in order: wasm (SIMD), then tfjs's
 * pure-JS cpu backend.
 */
import { createRequire } from 'node:module';
import type * as TF from '@tensorflow/tfjs';
import type * as FaceApi from '@vladmandic/face-api/dist/face-api.node-wasm.js';
import type { HostTensor } from '../../src/engine/tensor.js';

export type Tfjs = typeof TF;
export type FaceApiModule = typeof FaceApi;

/** Backends tried in order. */
const TFJS_BACKENDS = ['wasm', 'cpu'] as const;

interface TfjsRuntime {
  readonly tf: Tfjs;
  readonly faceapi: FaceApiModule;
  readonly backend: string;
}

let runtime: Promise<TfjsRuntime> | undefined;

async function init(): Promise<TfjsRuntime> {
  const require = createRequire(import.meta.url);
  const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js') as FaceApiModule;
  const tf = require('@tensorflow/tfjs') as Tfjs;
  const failures: string[] = [];
  for (const backend of TFJS_BACKENDS) {
    try {
      if (await tf.setBackend(backend)) {
        await tf.ready();
        return { tf, faceapi, backend };
      }
      failures.push(`${backend}: not available`);
    } catch (e) {
      failures.push(`${backend}: ${(e as Error).message}`);
    }
  }
  throw new Error(`no TensorFlow.js backend could be initialised (${failures.join('; ')})`);
}

/** The shared runtime, initialised on first use. */
export function loadTfjs(): Promise<TfjsRuntime> {
  runtime ??= init().catch((e: unknown) => {
    runtime = undefined;
    throw e;
  });
  return runtime;
}

/** Host tensors (float32 / int32) as a tfjs named tensor map, the form face-api's `loadFromWeightMap` takes. */
export function toNamedTensorMap(tf: Tfjs, tensors: ReadonlyMap<string, HostTensor>): TF.NamedTensorMap {
  const out: TF.NamedTensorMap = {};
  for (const [name, t] of tensors) {
    out[name] = tf.tensor(t.data as Float32Array | Int32Array, [...t.shape], t.dtype === 'int32' ? 'int32' : 'float32');
  }
  return out;
}
