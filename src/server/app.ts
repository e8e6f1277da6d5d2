/**
 * The HTTP API (Hono): `createApp` wires injected services (editor, generator, CLIP, job store, queue) into routes.
 * `AppType` is exported for Hono's typed client: `hc<AppType>('http://host:8787')` (see examples/api-client.ts).
 */
import { maxPixelsLimit } from '../io/images/image.js';
import type { OnePassService } from '../jobs/one_pass.js';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { errorBody, toErrorResponse } from './errors.js';
import { EditJobs } from '../jobs/jobs.js';
import { modelName } from '../jobs/names.js';
import type { JobQueue } from '../jobs/queue.js';
import { editRoutes } from './routes/edits.js';
import { toolRoutes } from './routes/tools.js';
import { directionRoutes } from './routes/directions.js';
import { DirectionsApi } from './directions.js';
import type { GlobalDirections } from '../edit/global/index.js';
import type { LatentMapperEdit } from '../edit/mapper/index.js';
import type { Generator } from '../generator/index.js';
import type { PhotoLatentSource } from '../edit/types.js';
import type { PhotoInversion } from '../invert/types.js';
import { webRoutes } from './routes/web.js';
import type { ClipService, EditService, GenerateService, PromptTokenizer } from '../jobs/services.js';
import type { JobStore } from '../jobs/store.js';
import { Tools } from './tools.js';
import { defaultDevice } from '../engine/session.js';
import { DEFAULT_MAX_BODY_BYTES } from './limits.js';

export { DEFAULT_MAX_BODY_BYTES } from './limits.js';
/** Preview frame every this many steps unless a request says otherwise: live feedback at a small cost. */
const DEFAULT_PREVIEW_EVERY = 5;

export interface AppDeps {
  readonly editor: EditService;
  readonly generator: GenerateService;
  readonly clip: ClipService;
  readonly store: JobStore;
  readonly queue: JobQueue;
  /** Checks prompt length in CLIP tokens at submission (a 422 instead of a failed job). */
  readonly tokenizer?: PromptTokenizer;
  /** StyleCLIP global directions over the editor's models (`/v1/directions`, `/v1/render`); absent: those answer 404. */
  readonly directions?: GlobalDirections;
  /** The generator renders use (the editor's). */
  readonly renderer?: Generator;
  /** Latent mappers by name over the same generator (`/v1/mappers`, `/v1/render`). */
  readonly mappers?: ReadonlyMap<string, LatentMapperEdit>;
  /** The face pipeline for photo renders, and the one-pass inversions it offers (serve --encoder, --faithful-encoder). */
  readonly photos?: PhotoLatentSource;
  readonly inversions?: readonly PhotoInversion[];
  /** StyleGAN-NADA domains by name (serve --domains) that edits and renders may ask for (`domain`). */
  readonly domains?: ReadonlyMap<string, Generator>;
  /** Jobs of the one-pass methods (`POST /v1/edits/global`, `/v1/edits/mapper`); absent: those answer 404. */
  readonly onePass?: OnePassService;
  readonly maxBodyBytes?: number;
  readonly maxPixels?: number;
  readonly previewEvery?: number;
  readonly log?: (msg: string) => void;
}

export function createApp(deps: AppDeps) {
  const log = deps.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const info = deps.editor.info();
  const maxPixels = deps.maxPixels ?? maxPixelsLimit();
  const maxSize = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const jobs = new EditJobs(deps.store, deps.queue, {
    info,
    tokenizer: deps.tokenizer,
    maxPixels,
    previewEvery: deps.previewEvery ?? DEFAULT_PREVIEW_EVERY,
    checkFace: deps.photos?.checkFace && ((img, i) => deps.photos!.checkFace!({ width: img.width, height: img.height, data: img.data }, i)),
    domains: [...(deps.domains?.keys() ?? [])],
  }, deps.onePass);
  const tools = new Tools({ generator: deps.generator, clip: deps.clip, info, maxPixels });
  const limit = bodyLimit({
    maxSize,
    onError: (c) =>
      c.json(errorBody('payload_too_large', `request body is over the limit of ${maxSize} bytes; send a smaller file`), 413),
  });
  const models = {
    generator: { name: modelName(info.generator), resolution: info.resolution, n_latent: info.nLatent, style_dim: info.wDim },
    clip: { name: modelName(info.clip) },
    directions: deps.directions ? { covered_channels: deps.directions.fs3.count } : null,
    photo_inversion: deps.inversions?.length ? 'encoder' : 'projection',
    /** The choices of a photo's `photo_inversion` field: 'fast' (e4e), 'faithful' (HyperStyle). */
    photo_inversions: deps.inversions ?? [],
    domains: [...(deps.domains?.keys() ?? [])],
    devices: [defaultDevice()],
  };

  return new Hono()
    .onError((err, c) => toErrorResponse(err, c, log))
    .notFound((c) => c.json(errorBody('not_found', `no route for ${c.req.method} ${c.req.path}`), 404))
    .get('/health', async (c) => {
      try {
        return c.json({ status: 'ok' as const, queue: await deps.queue.stats() });
      } catch (e) {
        return c.json({ status: 'degraded' as const, queue: { status: 'down' as const, error: (e as Error).message } }, 503);
      }
    })
    .get('/v1/models', async (c) => c.json({ ...models, queue: await deps.queue.stats() }))
    .route('/v1/edits', editRoutes(jobs, limit))
    .route('/v1', toolRoutes(tools, limit))
    .route('/v1', directionRoutes(new DirectionsApi({ generator: deps.renderer, directions: deps.directions, mappers: deps.mappers ?? new Map(), photos: deps.photos, inversions: deps.inversions ?? [], domains: deps.domains, info }), limit))
    .route('/', webRoutes());
}

export type AppType = ReturnType<typeof createApp>;
