/**
 * StyleCLIP global directions (Patashnik et al. 2021, sec. 6): any text becomes a StyleSpace direction once
 * (direction.ts) and edits any image with one generator pass. `GlobalDirections` holds the generator, CLIP, the
 * tokenizer, the S statistics (stats.ts) and the per-channel directions (fs3.ts); text directions are cached per
 * (prompt, neutral) pair, so moving alpha or beta costs one matrix-vector product and one synthesis.
 */
import { Clip } from '../../clip/clip.js';
import { ClipTokenizer } from '../../clip/tokenizer.js';
import { createHash } from 'node:crypto';
import { STYLECLIP_IMAGENET_TEMPLATES } from '../../clip/templates.js';
import type { CompiledCache, SessionOptions } from '../../engine/session.js';
import { compiledCacheFor, readCompiledRecord, writeCompiledRecord } from '../../io/models/compiled.js';
import type { HostTensor } from '../../engine/tensor.js';
import { InputError } from '../../errors.js';
import { Generator, styleSpaceLayout, type StyleSpaceLayout } from '../../generator/index.js';
import { ALPHA_RANGE, BETA_RANGE, GLOBAL_DEFAULTS, applyDirections, boundary, relevance, templateEnsemble, textDirection, type Boundary, type DirectionEdit } from './direction.js';
import { loadChannelDirections, type ChannelDirections } from './fs3.js';
import { loadStyleStats, type StyleStats } from './stats.js';
import { releaseStart, resolveStart } from '../start.js';
import type { EditCall, EditStart, ProjectedPhoto } from '../types.js';
import { DEFAULT_MODEL_NAMES, resolveModelPath } from '../../io/models/registry.js';

export { ALPHA_RANGE, BETA_RANGE, GLOBAL_DEFAULTS, applyDirections, boundary, readDirectionEdit, relevance, templateEnsemble, textDirection, type DirectionEdit } from './direction.js';
export { FS3_ALPHA, FS3_IMAGES, channelDirections, computeChannelDirections, coveredLayers, loadChannelDirections, truncatedUint8 } from './fs3.js';
export { STATS_SAMPLES, STATS_TRUNCATION, computeStyleStats, loadStyleStats, parseStyleStats, styleStatsPickle, stylesOfZ } from './stats.js';


export interface GlobalEditResult {
  /** G(start) (absent when the call asked not to render it, `EditCall.before`) and G(edited), [1,3,R,R] unclamped. */
  readonly before?: HostTensor;
  readonly after: HostTensor;
  /** Edited S codes [1, total] in StyleCLIP order. */
  readonly codes: HostTensor;
  readonly photo?: ProjectedPhoto;
  /** Channels each edit's beta keeps, and its largest relevance. */
  readonly kept: readonly number[];
  readonly maxRelevance: readonly number[];
}

/** Paths or registry names (defaults: DEFAULT_MODEL_NAMES, FFHQ's; downloaded on first use). */
export interface GlobalSources {
  readonly generator?: string;
  readonly clip?: string;
  readonly vocab?: string;
  /** fs3.npy */
  readonly fs3?: string;
  /** S_mean_std */
  readonly stats?: string;
}

/** Text ensembles kept (512 floats each for ViT-B/32): a typed prompt is encoded once, then sliders only re-threshold. */
const MAX_CACHED_TEXTS = 1024;

function checkRange(name: string, v: number, [lo, hi]: readonly [number, number]): void {
  if (!Number.isFinite(v) || v < lo || v > hi) throw new InputError(`${name} must be a number in ${lo}..${hi}, got ${v}`);
}

/** CLIP read only when a text must be encoded (every text of the edit recorded already: never). */
export interface DeferredClip {
  readonly embedDim: number;
  load(): Promise<Clip>;
}

/** The record of what a CLIP checkpoint is, so a later process can defer reading it. */
const CLIP_RECORD = 'clip';

export class GlobalDirections {
  readonly layout: StyleSpaceLayout;
  /** t(text) per text: a new prompt costs 79 text encodings once; the neutral text is shared. */
  private readonly ensembles = new Map<string, Promise<Float32Array>>();
  private loadedClip?: Promise<Clip>;
  private readonly deferred?: DeferredClip;
  /** Width of CLIP's embeddings (fs3's rows). */
  readonly embedDim: number;

  constructor(
    readonly generator: Generator,
    clip: Clip | DeferredClip,
    readonly tokenizer: ClipTokenizer,
    readonly stats: StyleStats,
    readonly fs3: ChannelDirections,
    /** Whether `dispose` releases the generator and CLIP (true when `load` created them; false when shared). */
    private readonly ownsModels = false,
    /** Where template ensembles of this CLIP are kept across processes (io/models/compiled.ts records). */
    private readonly textCache?: CompiledCache,
  ) {
    this.layout = styleSpaceLayout(generator.config);
    if (clip instanceof Clip) {
      this.loadedClip = Promise.resolve(clip);
      this.embedDim = clip.config.embedDim;
    } else {
      this.embedDim = clip.embedDim;
      this.deferred = clip;
    }
  }

  /** CLIP, read on first need when deferred. */
  clip(): Promise<Clip> {
    this.loadedClip ??= this.deferred!.load();
    return this.loadedClip;
  }

  /** Loads and cross-checks the five files (fs3 rows vs the generator's layout and CLIP's width; stats layer count). */
  static async load(sources: GlobalSources = {}, opts: SessionOptions = {}): Promise<GlobalDirections> {
    const src = { ...DEFAULT_MODEL_NAMES, ...Object.fromEntries(Object.entries(sources).filter(([, v]) => v !== undefined)) };
    const clipPath = await resolveModelPath(src.clip, 'clip');
    // A CLIP checkpoint read by an earlier process has a record of its width: it is then read only if a text of
    // the edit has no recorded ensemble (a 0.6 GB read and its memory for ViT-B/32).
    const textCache = compiledCacheFor(clipPath);
    const known = textCache && (await readCompiledRecord<{ embedDim: number }>(textCache, CLIP_RECORD));
    const loadClip = async (): Promise<Clip> => {
      const c = await Clip.load(clipPath, opts);
      if (textCache) await writeCompiledRecord(textCache, CLIP_RECORD, { embedDim: c.config.embedDim });
      return c;
    };
    const [generator, clip, tokenizer] = await Promise.all([
      Generator.load(src.generator, opts),
      known ? { embedDim: known.embedDim, load: loadClip } : loadClip(),
      ClipTokenizer.load(src.vocab),
    ]);
    const dims = clip instanceof Clip ? clip.config.embedDim : clip.embedDim;
    try {
      const layout = styleSpaceLayout(generator.config);
      const [statsPath, fs3Path] = await Promise.all([resolveModelPath(src.stats, 'directions'), resolveModelPath(src.fs3, 'directions')]);
      const [stats, fs3] = await Promise.all([loadStyleStats(statsPath, layout), loadChannelDirections(fs3Path, layout, dims)]);
      return new GlobalDirections(generator, clip, tokenizer, stats, fs3, true, textCache);
    } catch (e) {
      await Promise.all([generator.dispose(), clip instanceof Clip ? clip.dispose() : undefined]);
      throw e;
    }
  }

  /** The text direction dt and the channel relevances r for a prompt (text ensembles cached per text). */
  async direction(prompt: string, neutral: string = GLOBAL_DEFAULTS.neutral): Promise<{ dt: Float32Array; r: Float32Array }> {
    const [t, n] = await Promise.all([this.ensemble(prompt), this.ensemble(neutral)]);
    const dt = textDirection(t, n, [prompt, neutral]);
    return { dt, r: relevance(this.fs3, dt) };
  }

  private ensemble(text: string): Promise<Float32Array> {
    let hit = this.ensembles.get(text);
    if (!hit) {
      hit = this.storedEnsemble(text);
      hit.catch(() => this.ensembles.delete(text));
      if (this.ensembles.size >= MAX_CACHED_TEXTS) this.ensembles.delete(this.ensembles.keys().next().value!);
      this.ensembles.set(text, hit);
    }
    return hit;
  }

  /**
   * t(text) from the disk record of an earlier process with this CLIP checkpoint, else computed (79 text encodings,
   * ~1 s each for a prompt and its neutral text at ViT-B/32 size) and recorded.
   */
  private async storedEnsemble(text: string): Promise<Float32Array> {
    const cache = this.textCache;
    const name = `ensemble.${createHash('sha256').update(JSON.stringify([STYLECLIP_IMAGENET_TEMPLATES, text])).digest('hex').slice(0, 32)}`;
    const stored = cache && (await readCompiledRecord<number[]>(cache, name));
    if (stored && stored.length === this.embedDim) return Float32Array.from(stored);
    const t = await templateEnsemble(await this.clip(), this.tokenizer, text);
    if (cache) await writeCompiledRecord(cache, name, Array.from(t));
    return t;
  }

  /** Loads the statistics and fs3 for models that are already loaded (a server shares its editor's). */
  static async forModels(generator: Generator, clip: Clip, tokenizer: ClipTokenizer, files: { readonly fs3: string; readonly stats: string }): Promise<GlobalDirections> {
    const layout = styleSpaceLayout(generator.config);
    const [stats, fs3] = await Promise.all([loadStyleStats(files.stats, layout), loadChannelDirections(files.fs3, layout, clip.config.embedDim)]);
    return new GlobalDirections(generator, clip, tokenizer, stats, fs3);
  }

  /** The StyleSpace step of one edit at its beta (checked), with how many channels it keeps. */
  async boundaryOf(edit: DirectionEdit): Promise<Boundary> {
    const beta = edit.beta ?? GLOBAL_DEFAULTS.beta;
    checkRange('beta', beta, BETA_RANGE);
    const { r } = await this.direction(edit.prompt, edit.neutral);
    return boundary(r, this.fs3, this.stats, this.layout, beta);
  }

  /** S codes [N, total] moved by every edit (stacked): s + sum alpha_k ds_k. */
  async apply(codes: HostTensor, edits: readonly DirectionEdit[]): Promise<HostTensor> {
    if (codes.shape.length !== 2 || codes.shape[1] !== this.layout.total) {
      throw new InputError(`StyleSpace codes must be [N, ${this.layout.total}] for this generator, got [${codes.shape.join(', ')}]`);
    }
    if (edits.length === 0) throw new InputError('no edit given: pass at least one prompt');
    const steps = [];
    for (const e of edits) {
      const alpha = e.alpha ?? GLOBAL_DEFAULTS.alpha;
      checkRange('alpha', alpha, ALPHA_RANGE);
      steps.push({ ds: (await this.boundaryOf(e)).ds, alpha });
    }
    return { dtype: 'float32', shape: [...codes.shape], data: applyDirections(codes.data as Float32Array, this.layout.total, steps) };
  }

  /**
   * The whole edit: start -> w+ (photos through `photos`) -> S -> moved by every edit -> one synthesis. Returns the
   * before/after images (unclamped NCHW), the edited S codes, and for photos the inverted photo (for paste-back).
   */
  async edit(start: EditStart, edits: readonly DirectionEdit[], call: EditCall = {}): Promise<GlobalEditResult> {
    const boundaries = await Promise.all(edits.map((e) => this.boundaryOf(e)));
    // CLIP only for a photo that will be projected (its CLIP term); an encoder's photo and a seed need none.
    const image = start.kind === 'image' ? start : undefined;
    const clip = image && (call.photos?.projects?.(image) ?? true) ? await this.clip() : undefined;
    const resolved = await resolveStart(start, 'w+', { generator: this.generator, clip }, call);
    const { latent0, noise, photo, generator } = resolved;
    try {
      // S codes from the rendering generator's affines: a domain (StyleGAN-NADA) trains them; HyperStyle's offsets do not.
      const codes0 = await generator.styles(latent0);
      const codes = await this.apply(codes0, edits);
      const synth = { noiseMaps: noise };
      const [before, after] = await Promise.all([call.before === false ? undefined : generator.synthesizeFromStyles(codes0, synth), generator.synthesizeFromStyles(codes, synth)]);
      return { before, after, codes, photo, kept: boundaries.map((b) => b.kept), maxRelevance: boundaries.map((b) => b.maxRelevance) };
    } finally {
      await releaseStart(resolved);
    }
  }

  async dispose(): Promise<void> {
    const clip = this.loadedClip;
    this.loadedClip = undefined;
    if (this.ownsModels) await Promise.all([this.generator.dispose(), clip?.then((c) => c.dispose()).catch(() => undefined)]);
  }
}
