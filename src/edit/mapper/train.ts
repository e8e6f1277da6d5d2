/**
 * Training a StyleCLIP latent mapper for a text (Patashnik et al. 2021, sec. 5; mapper/training/coach.py):
 *
 *   w_hat = w + 0.1 * M(w);  loss = clip_lambda * D_CLIP(G(w_hat), t) + l2_lambda * MSE(w_hat, w)
 *                                 + id_lambda * (1 - cos(ID(G(w_hat)), ID(G(w))))
 *
 * D_CLIP is StyleCLIP's CLIPLoss (1 - logit/100 after Upsample(7) + AvgPool(size/32), no mean/std), averaged over the
 * batch; the id term needs an identity network (IR-SE50 as the official code, or MobileFace). One engine call per
 * step returns the loss terms and the gradient w.r.t. every STORED mapper parameter (the checkpoint's values; the
 * EqualLinear gains are applied inside the graph), so checkpoints are written in the official format.
 *
 * Optimiser: Adam (torch defaults) with the official learning rate 0.5. The official code uses Ranger (RAdam +
 * Lookahead, k 6, alpha 0.5); Adam is what this project's one optimiser implements and needs no warm-up; the choice
 * is recorded in the checkpoint's opts (`optim_name`). Checkpoints hold no optimiser state (the Coach's do not either),
 * so a resumed run restarts Adam's moments.
 */
import { Graph, type Value } from '../../engine/graph.js';
import { grad } from '../../engine/grad.js';
import { add, mul, reduceMean, sub } from '../../engine/ops_math.js';
import { SessionCache, type SessionOptions } from '../../engine/session.js';
import { scalarTensor, type HostTensor } from '../../engine/tensor.js';
import { Cancelled } from '../../errors.js';
import type { Clip } from '../../clip/clip.js';
import type { ClipTokenizer } from '../../clip/tokenizer.js';
import { l2Normalize } from '../../clip/zeroshot.js';
import type { IdentityNet } from '../../faces/identity.js';
import { buildSynthesis, constNoise, type Generator } from '../../generator/index.js';
import { optimize } from '../../optimize/loop.js';
import { clipLoss, identityLoss } from '../../optimize/losses.js';
import { LEVEL_GROUPS, MAPPER_DEPTH, MAPPER_LR_MUL, MAPPER_STRENGTH, buildLatentDelta, type LatentMapper, type MapperLayers } from './network.js';

/** coach.py / train_options.py defaults. */
export const MAPPER_TRAIN_DEFAULTS = Object.freeze({
  /** `--max_steps 50000`. */
  steps: 50_000,
  /** `--learning_rate 0.5`. */
  lr: 0.5,
  /** `--batch_size 2`. */
  batch: 2,
  /** `--clip_lambda 1.0`, `--latent_l2_lambda 0.8`, `--id_lambda 0.1`. */
  clipWeight: 1.0,
  l2Weight: 0.8,
  idWeight: 0.1,
  /** `--save_interval 2000`. */
  saveEvery: 2000,
});

export interface MapperTrainOptions {
  readonly prompt: string;
  readonly steps: number;
  readonly lr: number;
  readonly batch: number;
  readonly clipWeight: number;
  readonly l2Weight: number;
  /** Used only with an identity network. */
  readonly idWeight: number;
  readonly saveEvery: number;
  readonly seed: number;
}

export interface MapperTrainStep {
  readonly step: number;
  readonly steps: number;
  readonly loss: number;
  readonly clipLoss: number;
  readonly l2Loss: number;
  readonly idLoss: number;
}

interface MapperTrainHooks {
  readonly signal?: AbortSignal;
  readonly onStep?: (s: MapperTrainStep) => void;
  /** Called every `saveEvery` steps and at the end with the stored parameters (official names) and the step. */
  readonly onCheckpoint?: (params: ReadonlyMap<string, HostTensor>, step: number) => Promise<void>;
}

/** Official names of a LevelsMapper's parameters for the enabled groups: `mapper.<group>.mapping.{1..4}.{weight,bias}`. */
export function levelsParamNames(groups: readonly string[]): string[] {
  return LEVEL_GROUPS.filter((g) => groups.includes(g.name)).flatMap((g) =>
    Array.from({ length: MAPPER_DEPTH }, (_, i) => [`mapper.${g.key}.mapping.${i + 1}.weight`, `mapper.${g.key}.mapping.${i + 1}.bias`]).flat(),
  );
}

/** Stored parameters of a fresh mapper, the official init: W ~ N(0,1) / lr_mul, b = 0 (EqualLinear). */
export function initialParams(names: readonly string[], d: number, normals: (n: number) => Float32Array): Map<string, HostTensor> {
  return new Map(
    names.map((n) => {
      const isW = n.endsWith('.weight');
      const data = isW ? normals(d * d).map((v) => v / MAPPER_LR_MUL) : new Float32Array(d);
      return [n, { dtype: 'float32', shape: isW ? [d, d] : [d], data }];
    }),
  );
}

const num = (t: HostTensor): number => Number(t.data[0]);

/** The training-step graph: stored params + a w+ batch -> loss terms and d loss / d params. */
function buildTrainGraph(generator: Generator, clip: Clip, names: readonly string[], batch: number, identity: IdentityNet | undefined): Graph {
  const { nLatent, wDim, weights, config } = generator;
  const g = new Graph('styleclip_mapper_train');
  const params = names.map((n, i) => g.input(`p${i}`, 'float32', n.endsWith('.weight') ? [wDim, wDim] : [wDim]));
  const byName = new Map(names.map((n, i) => [n, params[i]]));
  const layersOf = (group: string): MapperLayers | undefined => {
    const key = LEVEL_GROUPS.find((x) => x.name === group)!.key;
    if (!byName.has(`mapper.${key}.mapping.1.weight`)) return undefined;
    return Array.from({ length: MAPPER_DEPTH }, (_, i) => ({
      weight: mul(byName.get(`mapper.${key}.mapping.${i + 1}.weight`)!, MAPPER_LR_MUL / Math.sqrt(wDim)),
      bias: mul(byName.get(`mapper.${key}.mapping.${i + 1}.bias`)!, MAPPER_LR_MUL),
    }));
  };
  const w = g.input('w', 'float32', [batch, nLatent, wDim]);
  const text = g.input('text', 'float32', [1, clip.config.embedDim]);
  const disabled: LatentMapper = { kind: 'levels', wDim, groups: LEVEL_GROUPS.map((x) => ({ name: x.name, start: x.start, end: x.end })), layers: new Map() };
  const wHat = add(w, mul(buildLatentDelta(g, w, disabled, layersOf), MAPPER_STRENGTH));
  const noise = constNoise(g, weights, config);
  const image = buildSynthesis(g, wHat, weights, config, noise);
  const cLoss = clipLoss(clip.imageEncoder(g, clip.generatorInput(image, 'styleclip')), text, clip.config.logitScale);
  const diff = sub(wHat, w);
  const l2 = reduceMean(mul(diff, diff)); // torch.nn.MSELoss
  let total: Value = add(mul(cLoss, g.input('clip_weight', 'float32', [])), mul(l2, g.input('l2_weight', 'float32', [])));
  g.output(cLoss, 'clip_loss');
  g.output(l2, 'l2_loss');
  if (identity) {
    const id = identityLoss(identity.buildEmbedding(g, image), identity.buildEmbedding(g, buildSynthesis(g, w, weights, config, noise)));
    total = add(total, mul(id, g.input('id_weight', 'float32', [])));
    g.output(id, 'id_loss');
  }
  g.output(total, 'loss');
  grad(total, params).forEach((gp, i) => g.output(gp, `grad${i}`));
  return g;
}

export class MapperTrainer {
  private readonly sessions: SessionCache;

  constructor(
    readonly generator: Generator,
    readonly clip: Clip,
    readonly tokenizer: ClipTokenizer,
    readonly identity?: IdentityNet,
    sessionOptions: SessionOptions = {},
  ) {
    this.sessions = new SessionCache(sessionOptions);
  }

  /**
   * Trains `params` (stored values, official names; updated in place) from step `from` to `opts.steps`, drawing
   * batches from `batchAt(step)` ([batch, L, D] w+).
   */
  async train(params: Map<string, HostTensor>, batchAt: (step: number) => HostTensor, opts: MapperTrainOptions, from = 0, hooks: MapperTrainHooks = {}): Promise<void> {
    const names = [...params.keys()];
    const useId = this.identity !== undefined && opts.idWeight > 0;
    const session = await this.sessions.get(`train:${opts.batch}:${useId}:${names.length}`, () => buildTrainGraph(this.generator, this.clip, names, opts.batch, useId ? this.identity : undefined));
    const text = l2Normalize(await this.clip.encodeText(this.tokenizer.tokenize([opts.prompt])));
    const sizes = names.map((n) => params.get(n)!.data.length);
    const flat = new Float32Array(sizes.reduce((a, b) => a + b, 0));
    const offsets = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
    names.forEach((n, i) => flat.set(params.get(n)!.data as Float32Array, offsets[i]));
    const view = (i: number): Float32Array => flat.subarray(offsets[i], offsets[i] + sizes[i]);
    const gradient = new Float32Array(flat.length);
    const fixed: Record<string, HostTensor> = { text, clip_weight: scalarTensor(opts.clipWeight), l2_weight: scalarTensor(opts.l2Weight) };
    if (useId) fixed.id_weight = scalarTensor(opts.idWeight);
    const sync = (): void => names.forEach((n, i) => params.set(n, { ...params.get(n)!, data: view(i).slice() }));
    await optimize(flat, {
      steps: opts.steps,
      from,
      lr: () => opts.lr,
      signal: hooks.signal,
      cancelled: () => new Cancelled('mapper training cancelled'),
      run: async (_p, step) => {
        const feeds: Record<string, HostTensor> = { ...fixed, w: batchAt(step) };
        names.forEach((n, i) => (feeds[`p${i}`] = { ...params.get(n)!, data: view(i) }));
        const out = await session.run(feeds);
        names.forEach((_, i) => gradient.set(out[`grad${i}`].data as Float32Array, offsets[i]));
        return { grad: gradient, out };
      },
      after: async (_p, step, _lr, { out }) => {
        hooks.onStep?.({ step: step + 1, steps: opts.steps, loss: num(out.loss), clipLoss: num(out.clip_loss), l2Loss: num(out.l2_loss), idLoss: useId ? num(out.id_loss) : 0 });
        if (hooks.onCheckpoint && ((step + 1) % opts.saveEvery === 0 || step + 1 === opts.steps)) {
          sync();
          await hooks.onCheckpoint(params, step + 1);
        }
      },
    });
    sync();
  }

  async dispose(): Promise<void> {
    await this.sessions.dispose();
  }
}
