/**
 * The edit loop (StyleCLIP latent optimisation, Patashnik et al. 2021, sec. 4; run_optimization.py): Adam on the
 * latent with the cosine learning-rate ramp, one engine call per step (edit_graph.ts) returning the loss terms and the
 * gradient. `Editor` holds the generator, CLIP, the tokenizer and the step sessions, and is reused across edits.
 *
 * Photo starts go through an injected `PhotoLatentSource` (src/faces `FacePhotoSource`: detect, align, project): the
 * edit starts from the projected w+ and renders with the projected noise maps (so step 0 shows the reconstruction,
 * whatever `noise` says), and the result carries the edited face pasted back into the photo.
 */
import type { Graph } from '../../engine/graph.js';
import { SessionCache, type SessionOptions } from '../../engine/session.js';
import { scalarTensor, type HostTensor } from '../../engine/tensor.js';
import { Cancelled } from '../../errors.js';
import { Clip } from '../../clip/clip.js';
import { ClipTokenizer } from '../../clip/tokenizer.js';
import { l2Normalize } from '../../clip/zeroshot.js';
import { Generator, convChannelMask, sampleNoise, styleSpaceLayout, noiseShapes } from '../../generator/index.js';
import { releaseStart, resolveStart, type ResolvedStart } from '../start.js';
import { tensorToRgb } from '../../io/images/image.js';
import { optimize } from '../../optimize/loop.js';
import type { IdentityNet } from '../../faces/identity.js';
import { EDIT_IO, buildEditGraph, latentShape, noiseInputName } from './graph.js';
import { checkEditFits, resolveEditOptions } from './options.js';
import { styleclipLr } from '../../optimize/schedule.js';
import type { EditCall, EditProgress, EditStart, PhotoLatentSource } from '../types.js';
import type { EditOptions, EditResult } from './types.js';
import type { RgbFrame } from '../../io/images/image.js';
import { DEFAULT_MODEL_NAMES } from '../../io/models/registry.js';

export interface EditorSources {
  /** Generator checkpoint path or registry name (default `stylegan2-ffhq-config-f`, downloaded on first use). */
  readonly generator?: string;
  /** CLIP checkpoint path or registry name (default `clip-vit-b32`). */
  readonly clip?: string;
  /** CLIP BPE merges file or registry name (default `clip-bpe-vocab`). */
  readonly vocab?: string;
  /** Identity network for the id term (optional; edits with id > 0 need it). */
  readonly identity?: IdentityNet;
  /** Turns photo starts into latents (src/faces `FacePhotoSource`); photo starts are refused without it. */
  readonly photos?: PhotoLatentSource;
}

/** What a loaded editor reports about its models (the job layer and the API read it). */
export interface EditorInfo {
  /** Generator model: the path (or name) it was loaded from. */
  readonly generator: string;
  /** CLIP model: the path (or name) it was loaded from. */
  readonly clip: string;
  readonly resolution: number;
  /** Rows of a W+ latent. */
  readonly nLatent: number;
  /** Dimension of w. */
  readonly wDim: number;
  readonly clipEmbedDim: number;
  /** Identity network for the id weight, when one is loaded. */
  readonly identity?: string;
}

/** Thrown when an edit's AbortSignal fires; nothing is written. */
export class EditCancelled extends Cancelled {
  override name = 'EditCancelled';
}

const toFrame = (image: HostTensor): RgbFrame => tensorToRgb(image, 0, '[-1,1]');

export class Editor {
  private readonly sessions: SessionCache;

  constructor(
    readonly generator: Generator,
    readonly clip: Clip,
    readonly tokenizer: ClipTokenizer,
    readonly identity?: IdentityNet,
    private readonly sessionOptions: SessionOptions = {},
    /** Where the models came from, for `info()`. */
    readonly sources: { readonly generator: string; readonly clip: string } = { generator: 'in-memory', clip: 'in-memory' },
    /** Photo starts (see `EditorSources.photos`). */
    readonly photos?: PhotoLatentSource,
  ) {
    this.sessions = new SessionCache(sessionOptions);
  }

  /** Loads the models by path or registry name; names not in the cache are downloaded (unless STYLECLIP_OFFLINE=1). */
  static async load(src: EditorSources = {}, opts: SessionOptions = {}): Promise<Editor> {
    const names = { generator: src.generator ?? DEFAULT_MODEL_NAMES.generator, clip: src.clip ?? DEFAULT_MODEL_NAMES.clip, vocab: src.vocab ?? DEFAULT_MODEL_NAMES.vocab };
    const [generator, clip, tokenizer] = await Promise.all([Generator.load(names.generator, opts), Clip.load(names.clip, opts), ClipTokenizer.load(names.vocab)]);
    return new Editor(generator, clip, tokenizer, src.identity, opts, { generator: names.generator, clip: names.clip }, src.photos);
  }

  info(): EditorInfo {
    return {
      generator: this.sources.generator,
      clip: this.sources.clip,
      resolution: this.generator.config.resolution,
      nLatent: this.generator.nLatent,
      wDim: this.generator.wDim,
      clipEmbedDim: this.clip.config.embedDim,
      identity: this.identity?.name,
    };
  }

  /** The starting latent in `space`: StyleSpace starts are the styles of the w+ start. */
  private async start(start: EditStart, space: EditOptions['space'], call: EditCall): Promise<ResolvedStart> {
    if (space !== 's') return this.startInW(start, space, call);
    const base = await this.startInW(start, 'w+', call);
    return { ...base, latent0: await this.generator.styles(base.latent0) };
  }

  /** The starting latent as w+ [1, L, D] (or w [1, D] for space w); photos are inverted by the call's photo source. */
  private async startInW(start: EditStart, space: 'w' | 'w+', call: EditCall): Promise<ResolvedStart> {
    try {
      return await resolveStart(start, space, { generator: this.generator, clip: this.clip, identity: this.identity }, { ...call, photos: call.photos ?? this.photos });
    } catch (e) {
      if (call.signal?.aborted) throw new EditCancelled('edit cancelled');
      throw e;
    }
  }

  /** Unit text embedding of the prompt [1, D]. */
  async textEmbedding(prompt: string): Promise<HostTensor> {
    return l2Normalize(await this.clip.encodeText(this.tokenizer.tokenize([prompt])));
  }

  /**
   * Runs the optimisation. Photo starts go through `call.photos` (default: the source given at load). Throws
   * `EditCancelled` when `call.signal` aborts.
   */
  async edit(start: EditStart, partial: Partial<EditOptions> & { prompt: string }, call: EditCall = {}): Promise<EditResult> {
    const o = resolveEditOptions(partial);
    const { nLatent } = this.generator;
    checkEditFits(o, { nLatent, identity: this.identity !== undefined, start: start.kind }, 'flag');
    const useId = o.id > 0 && this.identity !== undefined;
    const text = await this.textEmbedding(o.prompt);
    const resolved = await this.start(start, o.space, call);
    // A photo's own generator (HyperStyle offsets held) gets a session of its own, released with the photo.
    const own = resolved.generator !== this.generator ? new SessionCache(this.sessionOptions) : undefined;
    try {
      return await this.run(o, resolved, text, useId, call, own);
    } finally {
      await own?.dispose();
      await releaseStart(resolved);
    }
  }

  private async run(o: EditOptions, resolved: ResolvedStart, text: HostTensor, useId: boolean, call: EditCall, own: SessionCache | undefined): Promise<EditResult> {
    const hooks = call.hooks ?? {};
    const { nLatent, wDim } = this.generator;
    const { latent0, noise, photo, generator } = resolved;
    if (call.signal?.aborted) throw new EditCancelled('edit cancelled');
    const noiseMode = noise ? 'random' : o.noise; // explicit noise maps are graph inputs, like random ones
    const graph = (): Graph => buildEditGraph(generator, this.clip, { space: o.space, preprocess: o.preprocess, noise: noiseMode, identity: useId ? this.identity : undefined });
    const session = await (own ? own.get('edit', graph) : this.sessions.get(`${o.space}:${o.preprocess}:${noiseMode}:${useId}`, graph));
    const latent = Float32Array.from(latent0.data as Float32Array);
    const shape = latentShape(o.space, this.generator);
    const feeds: Record<string, HostTensor> = {
      [EDIT_IO.latent0]: latent0,
      [EDIT_IO.text]: text,
      [EDIT_IO.l2Weight]: scalarTensor(o.l2),
    };
    const noiseMaps = noise ?? (o.noise === 'random' ? sampleNoise(o.noiseSeed, noiseShapes(this.generator.config, 1)) : undefined);
    noiseMaps?.forEach((t, i) => (feeds[noiseInputName(i)] = t));
    const runAt = (l: HostTensor): Promise<Record<string, HostTensor>> => session.run({ ...feeds, [EDIT_IO.latent]: l });
    if (useId) {
      // The reference ID(G(latent0)): a first run with the id term off (its own reference input is then unused).
      const idShape = session.inputs.find((i) => i.name === EDIT_IO.idRef)!.shape;
      feeds[EDIT_IO.idRef] = { dtype: 'float32', shape: idShape, data: new Float32Array(idShape[1]) };
      feeds[EDIT_IO.idWeight] = scalarTensor(0);
      feeds[EDIT_IO.idRef] = (await runAt(latent0))[EDIT_IO.idEmbedding];
      feeds[EDIT_IO.idWeight] = scalarTensor(o.id);
    }
    const mask = o.layers ? layerMask(o.layers, nLatent, wDim) : o.space === 's' ? convChannelMask(styleSpaceLayout(this.generator.config)) : undefined;
    const history: EditProgress[] = [];
    let before: RgbFrame | undefined;
    await optimize(latent, {
      steps: o.steps,
      lr: (i) => styleclipLr(i / o.steps, o.lr),
      // StyleSpace edits change conv channels only; ToRGB styles keep their start values (StyleCLIP's S optimisation).
      mask,
      signal: call.signal,
      cancelled: () => new EditCancelled('edit cancelled'),
      run: async (params, i) => {
        const out = await runAt({ dtype: 'float32', shape, data: params });
        if (i === 0) before = toFrame(out[EDIT_IO.image]);
        return { grad: out[EDIT_IO.grad].data as Float32Array, out };
      },
      after: (params, i, lr, { out }) => {
        hooks.onLatent?.(params, i + 1);
        const p: EditProgress = {
          step: i + 1,
          steps: o.steps,
          lr,
          loss: num(out[EDIT_IO.loss]),
          clipLoss: num(out[EDIT_IO.clipLoss]),
          l2Loss: num(out[EDIT_IO.l2Loss]),
          idLoss: useId ? num(out[EDIT_IO.idLoss]) : 0,
        };
        history.push(p);
        const preview = o.previewEvery > 0 && (i + 1) % o.previewEvery === 0 ? toFrame(out[EDIT_IO.image]) : undefined;
        hooks.onProgress?.({ ...p, preview, before: i === 0 ? before : undefined });
      },
    });
    if (call.signal?.aborted) throw new EditCancelled('edit cancelled');
    const final: HostTensor = { dtype: 'float32', shape, data: latent };
    const after = toFrame((await runAt(final))[EDIT_IO.image]);
    return {
      before: before!,
      after,
      latent: final,
      history,
      photo: photo && { aligned: photo.aligned, pasted: photo.pasteBack(after), faces: photo.faces },
    };
  }

  async dispose(): Promise<void> {
    await Promise.all([this.sessions.dispose(), this.generator.dispose(), this.clip.dispose(), this.photos?.dispose()]);
  }
}

const num = (t: HostTensor): number => Number(t.data[0]);

/** 1 for the elements of W+ layers a..b, 0 elsewhere, over a [1, L, D] latent. */
function layerMask([a, b]: readonly [number, number], nLatent: number, dim: number): Uint8Array {
  const m = new Uint8Array(nLatent * dim);
  m.fill(1, a * dim, (b + 1) * dim);
  return m;
}
