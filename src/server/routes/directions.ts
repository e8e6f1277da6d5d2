/** `/v1/directions` (text -> global direction) and `/v1/render` (start + stacked directions -> PNG): validate, call one method. */
import { Hono, type MiddlewareHandler } from 'hono';
import type { DirectionsApi } from '../directions.js';
import { ApiError } from '../errors.js';
import { directionJson, renderJson } from '../validate.js';

const notLoaded = (): never => {
  throw new ApiError(404, 'not_found', 'global directions are not loaded on this server: start it with serve --fs3 FS3.npy --stats S_MEAN_STD');
};

export function directionRoutes(api: DirectionsApi | undefined, bodyLimit: MiddlewareHandler) {
  return new Hono()
    .post('/directions', bodyLimit, directionJson, async (c) => c.json(await (api ?? notLoaded()).create(c.req.valid('json'))))
    .post('/render', bodyLimit, renderJson, async (c) => {
      const { png, channels } = await (api ?? notLoaded()).render(c.req.valid('json'));
      c.header('Content-Type', 'image/png');
      c.header('X-Channels', channels.join(','));
      return c.body(new Uint8Array(png));
    });
}
