/**
 * `/v1/directions` (text -> global direction), `/v1/mappers` (the loaded latent mappers), `/v1/photos` (a photo
 * uploaded once, rendered by id) and `/v1/render` (start + mapper + stacked directions -> PNG): validate, call one method.
 */
import { Hono, type MiddlewareHandler } from 'hono';
import type { DirectionsApi } from '../directions.js';
import { directionJson, photoJson, renderJson } from '../validate.js';

export function directionRoutes(api: DirectionsApi, bodyLimit: MiddlewareHandler) {
  return new Hono()
    .post('/directions', bodyLimit, directionJson, async (c) => c.json(await api.create(c.req.valid('json'))))
    .get('/mappers', (c) => c.json(api.mappers()))
    .post('/photos', bodyLimit, photoJson, async (c) => c.json(await api.addPhoto(c.req.valid('json')), 201))
    .post('/render', bodyLimit, renderJson, async (c) => {
      const { bytes, type, channels } = await api.render(c.req.valid('json'));
      c.header('Content-Type', type);
      c.header('X-Channels', channels.join(','));
      return c.body(new Uint8Array(bytes));
    });
}
