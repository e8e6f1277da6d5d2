/**
 * Checkpoint -> our naming (layout.ts): a table of rules, one per source tensor, each naming the source key, its
 * expected shape, and either our name plus a transform (equalised-lr gain, squeeze/reshape, transpose) or a check
 * (fixed buffers such as the FIR kernels, which must hold the values the architecture hard-codes). Applying a table
 * asserts that every source key is used exactly once and that every shape matches; problems are reported together in
 * one InputError that lists them.
 */
import { fileRegionOf, toFloat32, type DType, type HostTensor } from '../../engine/tensor.js';
import { InputError } from '../../errors.js';

export interface MapRule {
  readonly src: string;
  readonly shape: readonly number[];
  /** Our tensor name; omitted for check-only rules (with neither `dst` nor `check`, only presence and shape are checked). */
  readonly dst?: string;
  /** float32 source -> our tensor (default: unchanged). */
  readonly transform?: (t: HostTensor) => HostTensor;
  /** A problem description when the tensor's values are not the expected constant. */
  readonly check?: (t: HostTensor) => string | undefined;
}

/** Source dtypes accepted for weights (widened to float32). */
export const FLOAT_DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16', 'float64'];

/** How many names an error message lists before summarising the rest. */
const MAX_LISTED = 12;

function list(names: readonly string[]): string {
  const shown = names.slice(0, MAX_LISTED).join(', ');
  return names.length > MAX_LISTED ? `${shown} and ${names.length - MAX_LISTED} more` : shown;
}

const shapeText = (s: readonly number[]): string => `[${s.join(',')}]`;

/** Applies `rules` to `source`; `what` names the checkpoint in errors. */
export function applyRules(source: ReadonlyMap<string, HostTensor>, rules: readonly MapRule[], what: string): Map<string, HostTensor> {
  const bySrc = new Map(rules.map((r) => [r.src, r]));
  const unknown = [...source.keys()].filter((k) => !bySrc.has(k));
  const missing = rules.filter((r) => !source.has(r.src)).map((r) => r.src);
  const problems: string[] = [];
  const out = new Map<string, HostTensor>();
  for (const r of rules) {
    const t = source.get(r.src);
    if (!t) continue;
    if (t.shape.length !== r.shape.length || t.shape.some((d, i) => d !== r.shape[i])) {
      problems.push(`${r.src} has shape ${shapeText(t.shape)}, expected ${shapeText(r.shape)}`);
      continue;
    }
    if (!FLOAT_DTYPES.includes(t.dtype)) {
      problems.push(`${r.src} has dtype ${t.dtype}, expected floating point`);
      continue;
    }
    if (!r.dst && !r.check) continue;
    const f = toFloat32(t);
    const bad = r.check?.(f);
    if (bad) problems.push(`${r.src} ${bad}`);
    if (r.dst) out.set(r.dst, r.transform ? r.transform(f) : f);
  }
  const parts = [
    unknown.length ? `unknown keys: ${list(unknown)}` : '',
    missing.length ? `missing keys: ${list(missing)}` : '',
    ...problems,
  ].filter(Boolean);
  if (parts.length) throw new InputError(`${what}: ${parts.join('; ')}`);
  return unpinned(out);
}

/**
 * Checkpoint tensors parsed from bytes in memory are views of them (engine/tensor.ts viewFromBytes). Outputs that keep
 * less than this share of such a buffer are copied out of it, so a file mostly unused (a training checkpoint's
 * discriminator and optimiser states beside g_ema) is freed rather than held by the few tensors passed through
 * unscaled. Tensors read from their file on demand (`fileTensor`) hold no shared buffer and are left unread.
 */
const PINNED_SHARE = 0.5;

function unpinned(out: Map<string, HostTensor>): Map<string, HostTensor> {
  const used = new Map<ArrayBufferLike, number>();
  const inMemory = [...out].filter(([, t]) => !fileRegionOf(t));
  for (const [, t] of inMemory) used.set(t.data.buffer, (used.get(t.data.buffer) ?? 0) + t.data.byteLength);
  for (const [k, t] of inMemory) {
    const held = t.data.buffer.byteLength;
    if (t.data.byteLength < held && used.get(t.data.buffer)! < PINNED_SHARE * held) out.set(k, { ...t, data: t.data.slice() as typeof t.data });
  }
  return out;
}

/** A transform that multiplies by a constant gain and reshapes: linear, so gradients and the inverse map use `gain`. */
export interface ScaledTransform {
  (t: HostTensor): HostTensor;
  readonly gain: number;
  readonly shape?: readonly number[];
}

/** Multiplies by a constant gain and reshapes (row-major order is kept). */
export function scaled(gain: number, shape?: readonly number[]): ScaledTransform {
  const f = (t: HostTensor): HostTensor => {
    const src = t.data as Float32Array;
    let data = src;
    if (gain !== 1) {
      // A plain loop: TypedArray.map with a closure runs ~15x slower (a config-f generator's 30M weights took ~1 s).
      data = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) data[i] = src[i] * gain;
    }
    return { dtype: 'float32', shape: [...(shape ?? t.shape)], data };
  };
  return Object.assign(f, { gain, shape });
}

/**
 * How a rule maps its source when the map is a gain and a reshape (no transform, or `scaled`): ours = gain * source,
 * viewed as `shape`; undefined for check-only rules and other transforms.
 */
export function linearPart(r: MapRule): { readonly gain: number; readonly shape: readonly number[] } | undefined {
  if (!r.dst) return undefined;
  if (!r.transform) return { gain: 1, shape: r.shape };
  const t = r.transform as Partial<ScaledTransform>;
  return typeof t.gain === 'number' ? { gain: t.gain, shape: t.shape ?? r.shape } : undefined;
}

/** Fails unless the tensor equals `want` within float32 rounding. */
export function equals(want: Float32Array, label: string): (t: HostTensor) => string | undefined {
  return (t) => {
    const d = t.data as Float32Array;
    const ok = d.length === want.length && d.every((v, i) => Math.abs(v - want[i]) <= 1e-6 * Math.max(1, Math.abs(want[i])));
    return ok ? undefined : `is not the ${label} this architecture uses`;
  };
}
