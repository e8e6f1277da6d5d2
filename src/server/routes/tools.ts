/**
 * `/v1/generate` (PNG), `/v1/classify` (CLIP probabilities), `/v1/embed` (CLIP embeddings): validate, call one
 * `Tools` method, return its result.
 */
import { Hono, type MiddlewareHandler } from 'hono';
import type { Tools } from '../tools.js';
import { classifyForm, classifyJson, embedForm, embedJson, generateForm, generateJson, oneBody } from '../validate.js';
import { ClassifyJson, EmbedJson, GenerateJson } from '../../jobs/schemas.js';

export function toolRoutes(tools: Tools, bodyLimit: MiddlewareHandler) {
  return new Hono()
    .post('/generate', bodyLimit, generateJson, generateForm, async (c) => {
      const png = await tools.generate(oneBody(c.req.valid('json'), c.req.valid('form'), c.req.header('content-type'), GenerateJson));
      c.header('Content-Type', 'image/png');
      return c.body(new Uint8Array(png));
    })
    .post('/classify', bodyLimit, classifyJson, classifyForm, async (c) =>
      c.json(await tools.classify(oneBody(c.req.valid('json'), c.req.valid('form'), c.req.header('content-type'), ClassifyJson))),
    )
    .post('/embed', bodyLimit, embedJson, embedForm, async (c) =>
      c.json(await tools.embed(oneBody(c.req.valid('json'), c.req.valid('form'), c.req.header('content-type'), EmbedJson))),
    );
}
