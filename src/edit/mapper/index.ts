/**
 * StyleCLIP latent mappers as an edit method (Patashnik et al. 2021, sec. 5): `LatentMapperEdit` loads a mapper
 * checkpoint (network.ts, weights.ts) and a generator (given, or the checkpoint's own decoder), maps the start to
 * w_hat = w + strength * M(w) (or S codes for the StyleSpace mapper) and renders it: one mapper pass and one synthesis.
 */
import { readCheckpoint } from '../../io/tensors/checkpoint.js';
import { Graph } from '../../engine/graph.js';
import { SessionCache, type SessionOptions } from '../../engine/session.js';
import type { HostTensor } from '../../engine/tensor.js';
import { InputError } from '../../errors.js';
import { Generator, styleSpaceLayout } from '../../generator/index.js';
import type { EditCall, EditStart, ProjectedPhoto } from '../types.js';
import { releaseStart, resolveStart } from '../start.js';
import { MAPPER_STRENGTH, buildLatentDelta, buildStyleDelta, type LatentMapper } from './network.js';
import { mapperFromTensors } from './weights.js';
import { resolveModelPath } from '../../io/models/registry.js';

export { LEVEL_GROUPS, MAPPER_DEPTH, MAPPER_LR_MUL, MAPPER_STRENGTH, buildLatentDelta, buildStyleDelta, type LatentMapper, type MapperKind, type MapperNet } from './network.js';
export { mapperFromTensors } from './weights.js';

export interface MapperEditResult {
  /** G(start) (absent when the call asked not to render it, `EditCall.before`) and G(edited), [1,3,R,R] unclamped. */
  readonly before?: HostTensor;
  readonly after: HostTensor;
  /** The edited latent: w_hat [1, L, D], or S codes [1, total] for the StyleSpace mapper. */
  readonly latent: HostTensor;
  readonly photo?: ProjectedPhoto;
}

/** Checks that a mapper fits a generator (latent width, StyleSpace layers). */
export function checkMapperFits(m: LatentMapper, generator: Generator, what: string): void {
  if (m.kind !== 'stylespace') {
    if (m.wDim !== generator.wDim) throw new InputError(`${what} maps ${m.wDim}-d latents, but the generator's w has ${generator.wDim} dims: use the generator the mapper was trained with`);
    return;
  }
  const layout = styleSpaceLayout(generator.config);
  for (const [c, net] of m.layers) {
    const l = layout.layers[c];
    const width = net[0].weight.shape[1];
    if (!l || l.kind !== 'conv' || l.channels !== width) {
      throw new InputError(`${what}: StyleSpace mapper layer ${c} (${width} channels) does not match the generator's layer ${c} (${l ? `${l.name}, ${l.channels} channels` : 'absent'})`);
    }
  }
}

export class LatentMapperEdit {
  private readonly sessions: SessionCache;

  constructor(
    readonly mapper: LatentMapper,
    readonly generator: Generator,
    readonly name: string,
    opts: SessionOptions = {},
    private readonly ownsGenerator = false,
  ) {
    checkMapperFits(mapper, generator, name);
    this.sessions = new SessionCache(opts);
  }

  /** Reads a mapper checkpoint; without `generatorPath` its embedded decoder is the generator. */
  static async load(mapperPathOrName: string, generatorPath?: string, opts: SessionOptions = {}): Promise<LatentMapperEdit> {
    const mapperPath = await resolveModelPath(mapperPathOrName, 'mapper');
    const { tensors } = await readCheckpoint(mapperPath, 'mapper checkpoint');
    const mapper = mapperFromTensors(tensors, mapperPath);
    const generator = await Generator.givenOrEmbedded(generatorPath, tensors, mapperPath, opts);
    try {
      return new LatentMapperEdit(mapper, generator, mapperPath, opts, true);
    } catch (e) {
      await generator.dispose();
      throw e;
    }
  }

  /** M(x) for a batch: w+ [N, L, D] (levels, single) or S [N, total] (stylespace). */
  async delta(x: HostTensor): Promise<HostTensor> {
    const s = await this.sessions.get(`delta:${x.shape.join('x')}`, () => {
      const g = new Graph('styleclip_mapper');
      const input = g.input('x', 'float32', x.shape);
      const layout = styleSpaceLayout(this.generator.config).layers;
      g.output(this.mapper.kind === 'stylespace' ? buildStyleDelta(g, input, this.mapper, layout) : buildLatentDelta(g, input, this.mapper), 'delta');
      return g;
    });
    return (await s.run({ x })).delta;
  }

  /** x + strength * M(x). */
  async apply(x: HostTensor, strength = MAPPER_STRENGTH): Promise<HostTensor> {
    if (!Number.isFinite(strength)) throw new InputError(`strength must be a number, got ${strength}`);
    const d = (await this.delta(x)).data as Float32Array;
    return { dtype: 'float32', shape: [...x.shape], data: Float32Array.from(x.data as Float32Array, (v, i) => Math.fround(v + Math.fround(strength * d[i]))) };
  }

  /** The S codes of w+ [1, L, D] moved by the mapper, whatever space it works in (for stacking global directions on top). */
  async styleCodes(wPlus: HostTensor, strength = MAPPER_STRENGTH): Promise<HostTensor> {
    if (this.mapper.kind === 'stylespace') return this.apply(await this.generator.styles(wPlus), strength);
    return this.generator.styles(await this.apply(wPlus, strength));
  }

  /** The whole edit from any start (photos through `photos`). */
  async edit(start: EditStart, strength = MAPPER_STRENGTH, call: EditCall = {}): Promise<MapperEditResult> {
    const resolved = await resolveStart(start, 'w+', { generator: this.generator }, call);
    const { latent0, noise, photo, generator } = resolved;
    const synth = { noiseMaps: noise };
    try {
      if (this.mapper.kind === 'stylespace') {
        const s0 = await generator.styles(latent0);
        const s1 = await this.apply(s0, strength);
        const [before, after] = await Promise.all([call.before === false ? undefined : generator.synthesizeFromStyles(s0, synth), generator.synthesizeFromStyles(s1, synth)]);
        return { before, after, latent: s1, photo };
      }
      const w1 = await this.apply(latent0, strength);
      const [before, after] = await Promise.all([call.before === false ? undefined : generator.synthesize(latent0, synth), generator.synthesize(w1, synth)]);
      return { before, after, latent: w1, photo };
    } finally {
      await releaseStart(resolved);
    }
  }

  async dispose(): Promise<void> {
    await this.sessions.dispose();
    if (this.ownsGenerator) await this.generator.dispose();
  }
}
