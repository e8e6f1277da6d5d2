/**
 * `POST /v1/directions` and `POST /v1/render`: StyleCLIP global directions at slider speed. A direction is created
 * once per (prompt, neutral) (the CLIP text ensemble, ~79 text encodings) and named by a stable id; a render moves the
 * start's S codes (cached per start) by every {direction, alpha, beta} and runs one synthesis.
 */
import { createHash } from 'node:crypto';
import { GLOBAL_DEFAULTS, type GlobalDirections } from '../edit/global/index.js';
import type { HostTensor } from '../engine/tensor.js';
import { broadcastW, sampleZ, truncate } from '../generator/index.js';
import { tensorToRgb } from '../io/image.js';
import { ApiError } from './errors.js';
import { decodeLatent, fileBytes } from './decode.js';
import { encodePng } from './images.js';
import type { DirectionJsonBody, RenderJsonBody } from './schemas.js';
import type { EditorInfo } from './services.js';

/** Truncation of a seed start when the request gives none (StyleCLIP's sampling truncation). */
export const RENDER_TRUNCATION = 0.7;
/** Start codes kept for slider moves (each [1, S] float32, 36 KB for FFHQ). */
const MAX_CACHED_STARTS = 64;
/** Channels listed as a direction's strongest. */
const TOP_CHANNELS = 10;

export interface DirectionInfo {
  readonly id: string;
  readonly prompt: string;
  readonly neutral: string;
  readonly beta: number;
  /** Channels with relevance >= beta, of `covered`. */
  readonly channels: number;
  readonly covered: number;
  readonly max_relevance: number;
  readonly top_channels: readonly { readonly layer: string; readonly channel: number; readonly relevance: number }[];
}

export class DirectionsApi {
  private readonly known = new Map<string, { prompt: string; neutral: string }>();
  private readonly starts = new Map<string, Promise<HostTensor>>();

  constructor(
    private readonly dirs: GlobalDirections,
    private readonly info: EditorInfo,
  ) {}

  async create(body: DirectionJsonBody): Promise<DirectionInfo> {
    const neutral = body.neutral ?? GLOBAL_DEFAULTS.neutral;
    const beta = body.beta ?? GLOBAL_DEFAULTS.beta;
    const { r } = await this.dirs.direction(body.prompt, neutral);
    const id = createHash('sha1').update(JSON.stringify([body.prompt, neutral])).digest('hex').slice(0, 16);
    this.known.set(id, { prompt: body.prompt, neutral });
    const order = Array.from(r.keys()).sort((a, b) => Math.abs(r[b]) - Math.abs(r[a]));
    const channelOf = (k: number): { layer: string; channel: number } => {
      for (const l of this.dirs.fs3.layers) {
        if (k < l.channels) return { layer: l.name, channel: k };
        k -= l.channels;
      }
      throw new Error('channel index outside fs3');
    };
    const maxRel = Math.abs(r[order[0]]);
    return {
      id,
      prompt: body.prompt,
      neutral,
      beta,
      channels: order.filter((k) => Math.abs(r[k]) >= beta).length,
      covered: r.length,
      max_relevance: maxRel,
      top_channels: order.slice(0, TOP_CHANNELS).map((k) => ({ ...channelOf(k), relevance: r[k] })),
    };
  }

  /** PNG of the start moved by every edit, and the channels each edit keeps. */
  async render(body: RenderJsonBody): Promise<{ png: Uint8Array; channels: number[] }> {
    const edits = body.edits.map((e, i) => {
      const d = this.known.get(e.direction);
      if (!d) throw new ApiError(404, 'not_found', `edits.${i}.direction: unknown direction id '${e.direction}'; create it with POST /v1/directions`);
      return { ...d, alpha: e.alpha, beta: e.beta ?? GLOBAL_DEFAULTS.beta };
    });
    const codes = await this.startCodes(body);
    const moved = edits.length ? await this.dirs.apply(codes, edits) : codes;
    const channels = await Promise.all(edits.map(async (e) => (await this.dirs.boundaryOf(e)).kept));
    const rgb = tensorToRgb(await this.dirs.generator.synthesizeFromStyles(moved), 0, '[-1,1]');
    return { png: await encodePng({ width: rgb.width, height: rgb.height, data: rgb.data }), channels };
  }

  /** S codes of the start (seed or w+), cached by the start's value. */
  private async startCodes(body: RenderJsonBody): Promise<HostTensor> {
    const given = (['seed', 'w_plus'] as const).filter((k) => body[k] !== undefined);
    if (given.length !== 1) throw new ApiError(400, 'invalid_request', `give exactly one of seed, w_plus; got ${given.join(' and ') || 'none'}`);
    const gen = this.dirs.generator;
    let key: string;
    let wPlus: () => Promise<HostTensor>;
    if (body.seed !== undefined) {
      const psi = body.truncation ?? RENDER_TRUNCATION;
      key = `seed:${body.seed}:${psi}`;
      wPlus = async () => broadcastW(truncate(await gen.map(sampleZ(body.seed!, 1, gen.wDim)), await gen.meanLatent(), psi), gen.nLatent);
    } else {
      const bytes = await fileBytes(body.w_plus!, 'w_plus');
      key = `w+:${createHash('sha1').update(bytes).digest('hex')}`;
      const latent = decodeLatent(bytes, 'w+', this.info, 'w_plus');
      wPlus = async () => latent;
    }
    let hit = this.starts.get(key);
    if (!hit) {
      hit = wPlus().then((w) => gen.styles(w));
      hit.catch(() => this.starts.delete(key));
      if (this.starts.size >= MAX_CACHED_STARTS) this.starts.delete(this.starts.keys().next().value!);
      this.starts.set(key, hit);
    }
    return hit;
  }
}
