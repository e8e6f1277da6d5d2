/**
 * StyleGAN-NADA training (Gal et al. 2022; rinongal/StyleGAN-nada ZSSGAN/train.py + ZSSGAN/model/ZSSGAN.py) on the
 * engine: a trainable copy of the generator is fine-tuned with the directional CLIP loss (loss.ts) so that its images
 * move from the source text to the target text, the frozen copy giving the reference images.
 *
 * Per step (train.py's loop: forward, zero_grad, backward, step):
 *   1. `auto:K` only: the layer probe (ZSSGAN.determine_opt_layers) picks the modules that train (layers.ts).
 *   2. z [B, D] -> w (frozen mapping) -> both images -> loss -> d loss / d every candidate tensor (graph.ts).
 *   3. Adam over the candidates' RAW values (the checkpoint's, before the equalised-lr gains, applied in the graph),
 *      lr 0.002 · 0.8, betas (0, 0.99 ** 0.8) (train.py: g_reg_ratio = 4 / 5), eps 1e-8.
 * Official details reproduced: modules not chosen at a step still take an Adam step with a zero gradient (torch 1.13's
 * zero_grad keeps zero tensors, and the probe gives every synthesis parameter one), which with beta1 = 0 leaves them
 * unchanged but advances their step count and decays their second moment, so every candidate shares one step count;
 * twin generators (the start equals the frozen generator) make the edit direction exactly zero, and the target
 * image is then encoded as image + 1e-6. When K covers every W+ row the probe cannot change the choice (top-K of
 * all rows), so it is skipped.
 *
 * Randomness (`seed`): training z of step s, sample j, the probe's z and random noise maps come from src/random.ts
 * streams seeded with streamSeed(seed, s, kind), so a resumed run continues exactly as an uninterrupted one.
 */
import { SessionCache, type SessionOptions } from '../../engine/session.js';
import { scalarTensor, type HostTensor } from '../../engine/tensor.js';
import { Cancelled, InputError } from '../../errors.js';
import { Generator, broadcastW, noiseShapes, synthesisShape } from '../../generator/index.js';
import { rosinalityTensors } from '../../generator/weights_rosinality.js';
import { createRng, normals } from '../../random.js';
import { Adam } from '../../optimize/adam.js';
import { optimize } from '../../optimize/loop.js';
import type { ClipTokenizer } from '../../clip/tokenizer.js';
import { NADA_IO, buildNadaProbe, buildNadaStep, flatViews, type NadaGraphSpec, type NadaNoise, type TrainableInput } from './graph.js';
import { candidateModules, chooseModules, moduleKeys, type LayerChoice } from './layers.js';
import { ZERO_DIRECTION_SHIFT, targetEmbedding, textDirection, type NadaClip } from './loss.js';
import { saveNadaCheckpoint, type NadaResume, type NadaRunRecord, type RosinalityGenerator } from './checkpoint.js';

/** Official settings (train_options.py, train.py, ZSSGAN.py) and the CLI defaults taken from the README's example. */
export const NADA_DEFAULTS = Object.freeze({
  /** README example `--iter 301` (train_options.py default 1000): 300 updates after step 0. */
  steps: 300,
  /** README example `--batch 2` (train_options.py default 16). */
  batch: 2,
  /** train_options.py `--lr 0.002`. */
  lr: 0.002,
  /** train_options.py `--g_reg_every 4`: train.py multiplies lr and the betas' exponent by 4 / (4 + 1). */
  gRegEvery: 4,
  /** train.py `betas=(0 ** g_reg_ratio, 0.99 ** g_reg_ratio)`. */
  beta2Base: 0.99,
  /** train_options.py `--auto_layer_iters 1`, `--auto_layer_batch 8`; ZSSGAN.py `torch.optim.SGD([w_codes], lr=0.01)`. */
  autoLayerIters: 1,
  autoLayerBatch: 8,
  probeLr: 0.01,
  /** Checkpoint interval of the CLI (train.py `--save_interval` has no default). */
  saveEvery: 50,
});

export interface NadaSettings {
  readonly source: string;
  readonly target: string;
  readonly steps: number;
  readonly batch: number;
  readonly layers: LayerChoice;
  readonly lr: number;
  readonly seed: number;
  readonly noise: NadaNoise;
}

export interface NadaStep {
  readonly step: number;
  readonly steps: number;
  /** Weighted sum over the CLIP models, and each model's directional loss. */
  readonly loss: number;
  readonly losses: readonly number[];
  /** Modules trained at this step (rosinality names). */
  readonly modules: readonly string[];
}

interface NadaHooks {
  readonly signal?: AbortSignal;
  readonly onStep?: (s: NadaStep) => void | Promise<void>;
}

/** Largest step count a run may have (the random streams reserve that many steps per seed). */
export const MAX_NADA_STEPS = 2 ** 20;
/** Largest --seed (seed · MAX_NADA_STEPS · STREAMS stays an exact integer). */
export const MAX_NADA_SEED = 2 ** 28;
const STREAMS = { z: 0, probe: 1, noiseFrozen: 2, noiseTrain: 3 } as const;
const streamSeed = (seed: number, step: number, kind: number): number => (seed * MAX_NADA_STEPS + step) * 4 + kind;

function normalTensor(seed: number, shape: readonly number[]): HostTensor {
  return { dtype: 'float32', shape: [...shape], data: normals(createRng(seed), shape.reduce((a, b) => a * b, 1)) };
}

const sameTensors = (a: ReadonlyMap<string, HostTensor>, b: ReadonlyMap<string, HostTensor>): boolean =>
  a.size === b.size && [...a].every(([k, t]) => { const u = b.get(k); return !!u && u.data.length === t.data.length && t.data.every((v, i) => v === u.data[i]); });

export class NadaTrainer {
  private readonly sessions: SessionCache;
  private readonly mapper: Generator;
  /** The candidates: g_ema keys, their modules, graph inputs and gains; raw values flat in `raw`. */
  readonly keys: readonly string[];
  private readonly moduleOf: readonly string[];
  private readonly inputs: readonly TrainableInput[];
  private readonly offsets: readonly number[];
  readonly raw: Float32Array;
  readonly adam: Adam;
  private readonly spec: NadaGraphSpec;
  private readonly twinStart: boolean;
  /** Steps completed. */
  step: number;

  private constructor(
    private readonly frozen: RosinalityGenerator,
    private readonly start: RosinalityGenerator,
    private readonly clips: readonly NadaClip[],
    private readonly directions: readonly HostTensor[],
    private readonly targets: readonly HostTensor[],
    readonly settings: NadaSettings,
    resume: NadaResume | undefined,
    sessionOptions: SessionOptions,
  ) {
    this.sessions = new SessionCache(sessionOptions);
    this.mapper = Generator.fromWeights(frozen.weights, frozen.config, sessionOptions);
    const { nLatent } = synthesisShape(start.config);
    const table = rosinalityTensors(start.config);
    const sdKeys = [...start.stateDict.keys()];
    const modules = candidateModules(settings.layers, nLatent);
    const keys = modules.flatMap((m) => moduleKeys(m, sdKeys).map((k) => [k, m] as const));
    this.keys = keys.map(([k]) => k);
    this.moduleOf = keys.map(([, m]) => m);
    this.inputs = this.keys.map((k) => ({ dst: table.get(k)!.dst, shape: table.get(k)!.shape, gain: table.get(k)!.gain }));
    const sizes = this.keys.map((k) => start.stateDict.get(k)!.data.length);
    this.offsets = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
    const trainable = resume?.generator ?? start;
    this.raw = new Float32Array(sizes.reduce((a, b) => a + b, 0));
    this.keys.forEach((k, i) => this.raw.set(trainable.stateDict.get(k)!.data as Float32Array, this.offsets[i]));
    const ratio = NADA_DEFAULTS.gRegEvery / (NADA_DEFAULTS.gRegEvery + 1);
    this.adam = new Adam(this.raw.length, { beta1: 0 ** ratio, beta2: NADA_DEFAULTS.beta2Base ** ratio });
    if (resume) this.adam.restore(resume.adam(this.keys));
    this.step = resume?.record.step ?? 0;
    this.twinStart = start === frozen || sameTensors(start.stateDict, frozen.stateDict);
    this.spec = { config: start.config, frozen: frozen.weights, start: start.weights, inputs: this.inputs, clips, noise: settings.noise };
  }

  /** The trainer for `frozen` -> a trainable copy starting at `start` (or `resume`'s generator and optimiser). */
  static async create(frozen: RosinalityGenerator, start: RosinalityGenerator, clips: readonly NadaClip[], tokenizer: ClipTokenizer, settings: NadaSettings, resume?: NadaResume, sessionOptions: SessionOptions = {}): Promise<NadaTrainer> {
    checkSettings(frozen, start, clips, settings);
    const directions = await Promise.all(clips.map((c) => textDirection(c.clip, tokenizer, settings.source, settings.target)));
    const probes = settings.layers.kind === 'auto' ? await Promise.all(clips.map((c) => targetEmbedding(c.clip, tokenizer, settings.target))) : [];
    return new NadaTrainer(frozen, start, clips, directions, probes, settings, resume, sessionOptions);
  }

  /** The learning rate Adam runs at (train.py `args.lr * g_reg_ratio`). */
  get lr(): number {
    return (this.settings.lr * NADA_DEFAULTS.gRegEvery) / (NADA_DEFAULTS.gRegEvery + 1);
  }

  /** The textual direction of CLIP model m, [1, E]. */
  textDirection(m: number): HostTensor {
    return this.directions[m];
  }

  /** Trains from `this.step` to `settings.steps`; `zAt(step)` overrides the seeded training z ([batch, D]). */
  async train(hooks: NadaHooks = {}, zAt?: (step: number) => HostTensor): Promise<void> {
    const { batch, steps } = this.settings;
    const session = await this.sessions.get(`step:${batch}`, () => buildNadaStep(this.spec, batch));
    const gradient = new Float32Array(this.raw.length);
    // The step writes each candidate's gradient straight into its slice of `gradient`.
    const into = flatViews(this.inputs, gradient, this.offsets, NADA_IO.grad);
    await optimize(this.raw, {
      steps,
      from: this.step,
      adam: this.adam,
      lr: () => this.lr,
      signal: hooks.signal,
      cancelled: () => new Cancelled('StyleGAN-NADA training cancelled'),
      run: async (raw, s) => {
        const modules = await this.chooseModules(s);
        const feeds: Record<string, HostTensor> = { ...flatViews(this.inputs, raw, this.offsets), [NADA_IO.z]: zAt?.(s) ?? this.sampleZ(s), ...this.noiseFeeds(s, batch) };
        this.directions.forEach((d, m) => (feeds[NADA_IO.direction(m)] = d));
        feeds[NADA_IO.shift] = scalarTensor(this.isTwin(raw) ? ZERO_DIRECTION_SHIFT : 0);
        const out = await session.run(feeds, undefined, into);
        const chosen = new Set(modules);
        this.keys.forEach((_, i) => {
          if (!chosen.has(this.moduleOf[i])) (into[NADA_IO.grad(i)].data as Float32Array).fill(0);
        });
        return { grad: gradient, out, modules };
      },
      after: async (_raw, s, _lr, { out, modules }) => {
        this.step = s + 1;
        await hooks.onStep?.({ step: s + 1, steps, loss: Number(out[NADA_IO.loss].data[0]), losses: this.clips.map((_, m) => Number(out[NADA_IO.modelLoss(m)].data[0])), modules });
      },
    });
  }

  /** Writes the trainable generator, the optimiser and the run record (checkpoint.ts). */
  save(path: string): Promise<void> {
    const trained = new Map(this.keys.map((k, i) => [k, this.raw.subarray(this.offsets[i], this.offsets[i] + this.start.stateDict.get(k)!.data.length)]));
    const s = this.settings;
    const record: NadaRunRecord = { step: this.step, source: s.source, target: s.target, layers: layerText(s.layers), batch: s.batch, seed: s.seed };
    return saveNadaCheckpoint(path, { start: this.start, trained, adam: this.adam.state, adamOptions: this.adam.options, lr: this.lr, record });
  }

  /** Whether the trainable copy still equals the frozen generator bit for bit (see the header). */
  private isTwin(raw: Float32Array): boolean {
    if (!this.twinStart) return false;
    return this.keys.every((k, i) => { const f = this.frozen.stateDict.get(k)!.data; return f.every((v, j) => v === raw[this.offsets[i] + j]); });
  }

  private sampleZ(step: number): HostTensor {
    return normalTensor(streamSeed(this.settings.seed, step, STREAMS.z), [this.settings.batch, this.start.config.wDim]);
  }

  private noiseFeeds(step: number, batch: number, probe = false): Record<string, HostTensor> {
    if (this.settings.noise === 'const') return {};
    const feeds: Record<string, HostTensor> = {};
    const branches = probe ? (['train'] as const) : (['frozen', 'train'] as const);
    for (const b of branches) {
      const rng = createRng(streamSeed(this.settings.seed, step, b === 'frozen' ? STREAMS.noiseFrozen : STREAMS.noiseTrain));
      noiseShapes(this.start.config, batch).forEach((shape, i) => (feeds[NADA_IO.noise(b, i)] = { dtype: 'float32', shape, data: normals(rng, shape.reduce((x, y) => x * y, 1)) }));
    }
    return feeds;
  }

  /** The modules step `s` trains: every candidate, or the probe's top K (skipped when K covers every row). */
  private async chooseModules(s: number): Promise<string[]> {
    const { layers } = this.settings;
    const { nLatent } = synthesisShape(this.start.config);
    if (layers.kind === 'default' || layers.k >= nLatent) return candidateModules(layers, nLatent);
    const p = NADA_DEFAULTS.autoLayerBatch;
    const session = await this.sessions.get(`probe:${p}`, () => buildNadaProbe(this.spec, p));
    const w0 = broadcastW(await this.mapper.map(normalTensor(streamSeed(this.settings.seed, s, STREAMS.probe), [p, this.start.config.wDim])), nLatent);
    const w = (w0.data as Float32Array).slice();
    for (let it = 0; it < NADA_DEFAULTS.autoLayerIters; it++) {
      const feeds: Record<string, HostTensor> = { ...flatViews(this.inputs, this.raw, this.offsets), [NADA_IO.wPlus]: { ...w0, data: w }, ...this.noiseFeeds(s, p, true) };
      this.targets.forEach((t, m) => (feeds[NADA_IO.target(m)] = t));
      const g = (await session.run(feeds))[NADA_IO.gradW].data as Float32Array;
      for (let i = 0; i < w.length; i++) w[i] -= NADA_DEFAULTS.probeLr * g[i];
    }
    const d = this.start.config.wDim;
    const scores = new Float64Array(nLatent);
    const base = w0.data as Float32Array;
    for (let i = 0; i < w.length; i++) scores[Math.floor(i / d) % nLatent] += Math.abs(w[i] - base[i]) / (p * d);
    return chooseModules(scores, layers.k);
  }

  async dispose(): Promise<void> {
    await Promise.all([this.sessions.dispose(), this.mapper.dispose()]);
  }
}

/** `--layers` as written. */
export const layerText = (c: LayerChoice): string => (c.kind === 'default' ? 'default' : `auto:${c.k}`);

function checkSettings(frozen: RosinalityGenerator, start: RosinalityGenerator, clips: readonly NadaClip[], s: NadaSettings): void {
  if (!s.source.trim() || !s.target.trim()) throw new InputError('--source and --target must both be non-empty texts (e.g. --source "photo" --target "sketch")');
  if (s.source.trim() === s.target.trim()) throw new InputError(`--source and --target are both "${s.source}": the text direction would be zero; give two different texts`);
  if (clips.length === 0) throw new InputError('give at least one CLIP model (--clip)');
  const a = [...frozen.stateDict].map(([k, t]) => `${k}:${t.shape.join('x')}`).join(',');
  const b = [...start.stateDict].map(([k, t]) => `${k}:${t.shape.join('x')}`).join(',');
  if (a !== b) throw new InputError('--start has another architecture than --generator: the trainable copy must be the same network');
  if (s.steps > MAX_NADA_STEPS) throw new InputError(`--steps ${s.steps}: at most ${MAX_NADA_STEPS}`);
}
