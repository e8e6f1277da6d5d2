/**
 * StyleGAN-NADA checkpoints as the official train.py writes them (l.127-133):
 *   {"g_ema": the trainable generator's state dict (rosinality layout, every key of the start in its order),
 *    "g_optim": torch.optim.Adam.state_dict()}
 * plus `styleclip_nada` (what a `--resume` needs: the step and the run's settings). It loads as a rosinality
 * generator everywhere (other top-level keys are ignored; there is no latent_avg, as in the official files).
 *
 * `g_optim` follows torch 1.13: `state` keyed by the parameter's index in `generator.parameters()` (the state dict's
 * non-buffer keys in order) with `step` (a 0-d float tensor), `exp_avg`, `exp_avg_sq`; one param group.
 */
import type { HostTensor } from '../../engine/tensor.js';
import { InputError } from '../../errors.js';
import { G_EMA, fromRosinality, toRosinality } from '../../generator/weights_rosinality.js';
import { loadGeneratorWeights, type GeneratorConfig, type WeightMap } from '../../generator/index.js';
import { readCheckpoint } from '../../io/tensors/checkpoint.js';
import { saveTorch, type Saveable } from '../../io/tensors/torch_write.js';
import type { AdamOptions, AdamState } from '../../optimize/adam.js';
import { isBuffer } from './layers.js';

/** Top-level key of our run record in a NADA checkpoint. */
const RUN_KEY = 'styleclip_nada';
/** The Adam settings torch 1.13 records in a param group besides lr, betas and eps. */
const TORCH_ADAM_GROUP = [['weight_decay', 0], ['amsgrad', false], ['maximize', false], ['foreach', null], ['capturable', false], ['differentiable', false], ['fused', null]] as const;

/** A rosinality generator as training starts from it: its raw g_ema tensors (keys relative to g_ema, file order). */
export interface RosinalityGenerator {
  readonly stateDict: Map<string, HostTensor>;
  readonly config: GeneratorConfig;
  /** The same tensors in our naming. */
  readonly weights: WeightMap;
}

/** The settings a run records, and a resume must match. */
export interface NadaRunRecord {
  readonly step: number;
  readonly source: string;
  readonly target: string;
  readonly layers: string;
  readonly batch: number;
  readonly seed: number;
}

/** A run to continue: the trainable generator, Adam's state over the candidates, and the record. */
export interface NadaResume {
  readonly generator: RosinalityGenerator;
  readonly record: NadaRunRecord;
  readonly adam: (keys: readonly string[]) => AdamState;
}

async function readRosinality(path: string, what: string): Promise<{ gen: RosinalityGenerator; tensors: Map<string, HostTensor>; values: Record<string, unknown> }> {
  const ck = await readCheckpoint(path, what);
  const prefix = `${G_EMA}.`;
  let stateDict = new Map<string, HostTensor>();
  for (const [k, t] of ck.tensors) if (k.startsWith(prefix)) stateDict.set(k.slice(prefix.length), t);
  if (stateDict.size > 0 && !stateDict.has('style.1.weight')) throw new InputError(`${what} ${path} has no mapping network (g_ema.style.*): StyleGAN-NADA samples z through it; give a whole generator checkpoint`);
  if (stateDict.size === 0) {
    // Another layout (an NVIDIA pickle, an e4e/pSp decoder, a converted file): the trainable copy is written as rosinality.
    const other = await loadGeneratorWeights(path);
    stateDict = toRosinality(other.weights, other.config);
    return { gen: { stateDict, config: other.config, weights: other.weights }, tensors: ck.tensors, values: ck.values };
  }
  const { config, weights } = fromRosinality(ck.tensors, path);
  return { gen: { stateDict, config, weights }, tensors: ck.tensors, values: ck.values };
}

/** The trainable copy's start (`--start`, or the generator itself). */
export async function readStartGenerator(path: string, what = 'generator'): Promise<RosinalityGenerator> {
  return (await readRosinality(path, what)).gen;
}

/** Parameter indices in `generator.parameters()` order: the state dict's non-buffer keys. */
const parameterIndex = (sd: ReadonlyMap<string, HostTensor>): Map<string, number> => new Map([...sd.keys()].filter((k) => !isBuffer(k)).map((k, i) => [k, i]));

/** Reads a checkpoint this module wrote, for `--resume`. */
export async function readResume(path: string): Promise<NadaResume> {
  const { gen, tensors, values } = await readRosinality(path, '--resume checkpoint');
  const v = (k: string): unknown => values[`${RUN_KEY}.${k}`];
  if (typeof v('step') !== 'number') throw new InputError(`--resume ${path} was not written by 'styleclip nada train' (no ${RUN_KEY} record): resume from a checkpoint of this command`);
  const record: NadaRunRecord = { step: v('step') as number, source: String(v('source')), target: String(v('target')), layers: String(v('layers')), batch: Number(v('batch')), seed: Number(v('seed')) };
  const index = parameterIndex(gen.stateDict);
  const adam = (keys: readonly string[]): AdamState => {
    const sizes = keys.map((k) => gen.stateDict.get(k)!.data.length);
    const m = new Float32Array(sizes.reduce((a, b) => a + b, 0));
    const vv = new Float32Array(m.length);
    let off = 0;
    keys.forEach((k, i) => {
      const at = (name: string): HostTensor | undefined => tensors.get(`g_optim.state.${index.get(k)}.${name}`);
      const [ea, es] = [at('exp_avg'), at('exp_avg_sq')];
      if (!ea || !es || ea.data.length !== sizes[i] || es.data.length !== sizes[i]) throw new InputError(`--resume ${path}: no optimiser state for '${k}'; resume with the --layers the run was started with`);
      m.set(ea.data as Float32Array, off);
      vv.set(es.data as Float32Array, off);
      off += sizes[i];
    });
    return { m, v: vv, t: record.step };
  };
  return { generator: gen, record, adam };
}

interface SaveSpec {
  readonly start: RosinalityGenerator;
  /** The candidates' raw values by g_ema key (a view is fine: it is written at once). */
  readonly trained: ReadonlyMap<string, Float32Array>;
  readonly adam: AdamState;
  readonly adamOptions: Required<AdamOptions>;
  readonly lr: number;
  readonly record: NadaRunRecord;
}

/** Writes a whole checkpoint atomically (see the header). */
export async function saveNadaCheckpoint(path: string, s: SaveSpec): Promise<void> {
  const { stateDict } = s.start;
  const gEma = [...stateDict].map(([k, t]) => {
    const data = s.trained.get(k);
    return [k, data ? { dtype: 'float32' as const, shape: [...t.shape], data: Float32Array.from(data) } : t] as const;
  });
  const index = parameterIndex(stateDict);
  let off = 0;
  const state: [number, Saveable][] = [];
  for (const [k, data] of s.trained) {
    const shape = [...stateDict.get(k)!.shape];
    const slice = (a: Float32Array): HostTensor => ({ dtype: 'float32', shape, data: a.slice(off, off + data.length) });
    state.push([index.get(k)!, { dict: [['step', { dtype: 'float32', shape: [], data: Float32Array.of(s.adam.t) }], ['exp_avg', slice(s.adam.m)], ['exp_avg_sq', slice(s.adam.v)]] }]);
    off += data.length;
  }
  state.sort((a, b) => a[0] - b[0]);
  const o = s.adamOptions;
  const group = { dict: [['lr', s.lr], ['betas', { tuple: [o.beta1, o.beta2] }], ['eps', o.eps], ...TORCH_ADAM_GROUP, ['params', [...index.values()]]] as [string, Saveable][] };
  const r = s.record;
  await saveTorch(path, {
    dict: [
      [G_EMA, { dict: gEma, ordered: true }],
      ['g_optim', { dict: [['state', { dict: state }], ['param_groups', [group]]] }],
      [RUN_KEY, { dict: [['step', r.step], ['source', r.source], ['target', r.target], ['layers', r.layers], ['batch', r.batch], ['seed', r.seed]] }],
    ],
  });
}
