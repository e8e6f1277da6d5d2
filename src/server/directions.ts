/**
 * `POST /v1/directions`, `GET /v1/mappers` and `POST /v1/render`: the one-pass edit methods at slider speed. A global
 * direction is created once per (prompt, neutral) (the CLIP text ensemble, ~79 text encodings) and named by a stable
 * id; a render takes the start's w+ (cached per start), applies a latent mapper if one is named, moves its S codes by
 * every {direction, alpha, beta} and runs one synthesis. A photo can be uploaded once (`POST /v1/photos` -> an id,
 * the first 16 hex digits of its SHA-1) and rendered by id, so slider moves carry no image. Syntheses run one at a
 * time (each uses every core), renders waiting meanwhile share the next one (render_batch.ts), and a render of a
 * `client` that a newer one of the same client superseded before its synthesis is answered 409 without being
 * rendered: the newest slider position wins.
 */
import { createHash } from 'node:crypto';
import { GLOBAL_DEFAULTS, type GlobalDirections } from '../edit/global/index.js';
import type { HostTensor } from '../engine/tensor.js';
import { broadcastW, sampleZ, truncate, type Generator } from '../generator/index.js';
import type { LatentMapperEdit } from '../edit/mapper/index.js';
import { RequestError } from '../jobs/errors.js';
import { decodeImage, decodeLatent, fileBytes } from '../jobs/decode.js';
import { maxPixelsLimit, tensorToRgb } from '../io/images/image.js';
import { RENDER_FORMATS, encodeFrame } from '../jobs/images.js';
import type { DirectionJsonBody, PhotoJsonBody, RenderJsonBody } from '../jobs/schemas.js';
import type { EditorInfo } from '../jobs/services.js';
import type { PhotoLatentSource, ProjectedPhoto } from '../edit/types.js';
import type { PhotoInversion } from '../invert/types.js';
import { RenderBatcher, type RenderTicket } from './render_batch.js';

/** Truncation of a seed start when the request gives none (StyleCLIP's sampling truncation). */
const RENDER_TRUNCATION = 0.7;
/** Start latents kept for slider moves (each w+ [1, 18, 512] float32, 36 KB for FFHQ). */
const MAX_CACHED_STARTS = 64;
/** Photos kept for renders by id (each as uploaded; a phone photo is a few MB). */
const MAX_STORED_PHOTOS = 8;
/** Channels listed as a direction's strongest. */
const TOP_CHANNELS = 10;

interface DirectionInfo {
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

interface OnePassDeps {
  /** Inverts photo starts (the editor's face pipeline); renders of photos need it and an encoder. */
  readonly photos?: PhotoLatentSource;
  /** The one-pass inversions photo starts may use (none: projection, which a render refuses: it would wait minutes). */
  readonly inversions: readonly PhotoInversion[];
  /** The generator renders use; absent (an app without models): renders answer 404. */
  readonly generator?: Generator;
  readonly info: EditorInfo;
  readonly directions?: GlobalDirections;
  /** Latent mappers by name (serve --mappers). */
  readonly mappers: ReadonlyMap<string, LatentMapperEdit>;
  /** StyleGAN-NADA domains by name (serve --domains): a render may ask for one (`domain`). */
  readonly domains?: ReadonlyMap<string, Generator>;
}

export class DirectionsApi {
  private readonly known = new Map<string, { prompt: string; neutral: string }>();
  private readonly starts = new Map<string, Promise<{ latent: HostTensor; photo?: ProjectedPhoto }>>();
  private readonly photoStore = new Map<string, Uint8Array>();
  /** S codes per cached start latent and generator (stylesOf); gone with the start. */
  private readonly startStyles = new WeakMap<HostTensor, Map<Generator, Promise<HostTensor>>>();
  /** The synthesis queue of every render: compatible renders batched, superseded ones dropped (render_batch.ts). */
  readonly batcher = new RenderBatcher();

  constructor(private readonly deps: OnePassDeps) {}

  private get gen(): Generator {
    if (!this.deps.generator) throw new RequestError('not_found', 'this server renders nothing: it was created without a generator');
    return this.deps.generator;
  }

  private get dirs(): GlobalDirections {
    if (!this.deps.directions) throw new RequestError('not_found', 'global directions are not loaded on this server: start it with serve --fs3 FS3.npy --stats S_MEAN_STD');
    return this.deps.directions;
  }

  /** The latent mappers this server has, for the form's list. */
  mappers(): { mappers: { name: string; kind: string }[] } {
    return { mappers: [...this.deps.mappers].map(([name, m]) => ({ name, kind: m.mapper.kind })) };
  }

  /** Keeps a photo for renders by id (checked to decode now, so a bad file is a 422 at upload, not at the first move). */
  async addPhoto(body: PhotoJsonBody): Promise<{ photo_id: string; width: number; height: number }> {
    const bytes = await fileBytes(body.image, 'image');
    const img = await decodeImage(bytes, maxPixelsLimit());
    const id = createHash('sha1').update(bytes).digest('hex').slice(0, 16);
    this.photoStore.delete(id);
    this.photoStore.set(id, bytes);
    if (this.photoStore.size > MAX_STORED_PHOTOS) this.photoStore.delete(this.photoStore.keys().next().value!);
    return { photo_id: id, width: img.width, height: img.height };
  }

  private photoBytes(id: string): Uint8Array {
    const bytes = this.photoStore.get(id);
    if (!bytes) throw new RequestError('not_found', `photo_id: no photo '${id}' on this server (it keeps the last ${MAX_STORED_PHOTOS}): upload it again with POST /v1/photos`);
    return bytes;
  }

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

  /**
   * PNG of the start moved by the mapper (if any) and every direction, and the channels each direction keeps; for a
   * photo with `paste_back`, the whole photo with the edited face pasted back.
   */
  async render(body: RenderJsonBody): Promise<{ bytes: Uint8Array; type: string; channels: number[] }> {
    const ticket = this.batcher.ticket(body.client);
    try {
      return await this.renderNow(body, ticket);
    } finally {
      this.batcher.done(ticket);
    }
  }

  private async renderNow(body: RenderJsonBody, ticket: RenderTicket): Promise<{ bytes: Uint8Array; type: string; channels: number[] }> {
    const edits = body.edits.map((e, i) => {
      const d = this.known.get(e.direction);
      if (!d) throw new RequestError('not_found', `edits.${i}.direction: unknown direction id '${e.direction}'; create it with POST /v1/directions`);
      return { ...d, alpha: e.alpha, beta: e.beta ?? GLOBAL_DEFAULTS.beta };
    });
    const mapper = body.mapper && this.deps.mappers.get(body.mapper.name);
    if (body.mapper && !mapper) {
      throw new RequestError('not_found', `mapper.name: no mapper '${body.mapper.name}' on this server (GET /v1/mappers lists them; serve --mappers loads them)`);
    }
    const gen = this.gen;
    const domain = this.domainOf(body.domain);
    const start = await this.startLatent(body, domain);
    // S codes from the rendering generator's affines (a domain trains them); a mapper's from the generator it edits.
    let codes = mapper ? await mapper.styleCodes(start.latent, body.mapper!.strength) : await this.stylesOf(start.latent, domain ?? gen);
    const channels: number[] = [];
    if (edits.length) {
      codes = await this.dirs.apply(codes, edits);
      for (const e of edits) channels.push((await this.dirs.boundaryOf(e)).kept);
    }
    // A HyperStyle photo renders with its own adapted generator (offsets held, on the domain if one is asked for).
    const image = await this.batcher.synthesize(ticket, start.photo?.generator ?? domain ?? gen, codes, start.photo?.noise);
    const rgb = tensorToRgb(image, 0, '[-1,1]');
    const face = { width: rgb.width, height: rgb.height, data: rgb.data };
    const format = body.format ?? 'png';
    return { bytes: await encodeFrame(body.paste_back && start.photo ? start.photo.pasteBack(face) : face, format), type: RENDER_FORMATS[format], channels };
  }

  /** S codes of a cached start under a generator's affines, computed once per (start, generator): slider moves reuse them. */
  private stylesOf(latent: HostTensor, generator: Generator): Promise<HostTensor> {
    let byGenerator = this.startStyles.get(latent);
    if (!byGenerator) this.startStyles.set(latent, (byGenerator = new Map()));
    let codes = byGenerator.get(generator);
    if (!codes) {
      codes = generator.styles(latent);
      codes.catch(() => byGenerator.delete(generator)); // a failed computation is not kept
      byGenerator.set(generator, codes);
    }
    return codes;
  }

  /** The loaded domain of that name (undefined for none). */
  private domainOf(name: string | undefined): Generator | undefined {
    if (name === undefined) return undefined;
    const d = this.deps.domains?.get(name);
    if (!d) throw new RequestError('unknown_model', `domain: no domain '${name}' on this server (GET /v1/models lists them; serve --domains loads them)`);
    return d;
  }

  /** The start's w+ (seed, w+ upload or photo), cached by the start's value (and, for photos, the domain). */
  private async startLatent(body: RenderJsonBody, domain: Generator | undefined): Promise<{ latent: HostTensor; photo?: ProjectedPhoto }> {
    const given = (['seed', 'w_plus', 'image', 'photo_id'] as const).filter((k) => body[k] !== undefined);
    if (given.length !== 1) throw new RequestError('invalid_request', `give exactly one of seed, w_plus, image, photo_id; got ${given.join(' and ') || 'none'}`);
    if (body.paste_back && body.image === undefined && body.photo_id === undefined) throw new RequestError('invalid_request', 'paste_back applies to photo starts (image or photo_id)');
    const gen = this.gen;
    let key: string;
    let load: () => Promise<{ latent: HostTensor; photo?: ProjectedPhoto }>;
    if (body.seed !== undefined) {
      const psi = body.truncation ?? RENDER_TRUNCATION;
      key = `seed:${body.seed}:${psi}`;
      load = async () => ({ latent: broadcastW(truncate(await gen.map(sampleZ(body.seed!, 1, gen.wDim)), await gen.meanLatent(), psi), gen.nLatent) });
    } else if (body.w_plus !== undefined) {
      const bytes = await fileBytes(body.w_plus, 'w_plus');
      key = `w+:${createHash('sha1').update(bytes).digest('hex')}`;
      const latent = decodeLatent(bytes, 'w+', this.deps.info, 'w_plus');
      load = async () => ({ latent });
    } else {
      const photos = this.deps.photos;
      if (!photos || this.deps.inversions.length === 0) throw new RequestError('invalid_input', 'image: renders of photos need an encoder on the server (serve --encoder e4e-ffhq); without one, use POST /v1/edits');
      const bytes = body.photo_id !== undefined ? this.photoBytes(body.photo_id) : await fileBytes(body.image!, 'image');
      const { face_index: faceIndex = 0, photo_inversion: inversion, iterations } = body;
      key = `image:${createHash('sha1').update(bytes).digest('hex')}:${faceIndex}:${inversion ?? ''}:${iterations ?? ''}:${body.domain ?? ''}`;
      load = async () => {
        const photo = await photos.project({ path: bytes, faceIndex, inversion, iterations }, { generator: gen, domain }, {});
        return { latent: photo.latent, photo };
      };
    }
    let hit = this.starts.get(key);
    if (!hit) {
      hit = load();
      hit.catch(() => this.starts.delete(key));
      if (this.starts.size >= MAX_CACHED_STARTS) {
        const oldest = this.starts.keys().next().value!;
        // An evicted photo's adapted generator (HyperStyle) is released with it.
        void this.starts.get(oldest)!.then((s) => s.photo?.generator?.dispose()).catch(() => undefined);
        this.starts.delete(oldest);
      }
      this.starts.set(key, hit);
    }
    return hit;
  }
}
