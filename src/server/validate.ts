/**
 * Request validation through Hono's validator (@hono/zod-validator): a body may be JSON or multipart, so each
 * endpoint registers one validator per transport; the one whose content type does not match yields `undefined`
 * and the route takes whichever body is present (`oneBody`). Failures are 400s in the API's error format.
 */
import { zValidator } from '@hono/zod-validator';
import type { z } from 'zod';
import { RequestError } from '../jobs/errors.js';
import {
  ClassifyForm,
  ClassifyJson,
  EditForm,
  EditJson,
  EmbedForm,
  EmbedJson,
  GenerateForm,
  GenerateJson,
  DirectionJson,
  RenderJson,
  PhotoJson,
  GlobalEditJson,
  MapperEditJson,
  describeIssues,
} from '../jobs/schemas.js';

const isEmptyObject = (v: unknown): boolean =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0;

/** Hono's validator hands an empty object to a target whose content type did not match: treat it as absent. */
const absentWhenEmpty = {
  validationFunction: (schema: z.ZodType, value: unknown) =>
    isEmptyObject(value) ? { success: true as const, data: undefined } : schema.safeParse(value),
};

/** A JSON text read as a form field name: the body was JSON sent without its content type. */
const jsonAsFormKey = (e: z.ZodError): boolean =>
  e.issues.some((i) => i.code === 'unrecognized_keys' && i.keys.some((k) => /^\s*[[{]/.test(k)));

function hook(result: { success: boolean; error?: unknown }): void {
  if (result.success) return;
  const error = result.error as z.ZodError;
  if (jsonAsFormKey(error)) throw new RequestError('invalid_request', "the body is JSON but has no 'Content-Type: application/json' header; send it with that header");
  throw new RequestError('invalid_request', describeIssues(error));
}

/** One validator per endpoint and transport (`application/json`, `multipart/form-data`). */
export const editJson = zValidator('json', EditJson.optional(), hook, absentWhenEmpty);
export const editForm = zValidator('form', EditForm.optional(), hook, absentWhenEmpty);
export const generateJson = zValidator('json', GenerateJson.optional(), hook, absentWhenEmpty);
export const generateForm = zValidator('form', GenerateForm.optional(), hook, absentWhenEmpty);
export const classifyJson = zValidator('json', ClassifyJson.optional(), hook, absentWhenEmpty);
export const classifyForm = zValidator('form', ClassifyForm.optional(), hook, absentWhenEmpty);
export const embedJson = zValidator('json', EmbedJson.optional(), hook, absentWhenEmpty);
export const directionJson = zValidator('json', DirectionJson, hook);
export const renderJson = zValidator('json', RenderJson, hook);
export const photoJson = zValidator('json', PhotoJson, hook);
export const globalEditJson = zValidator('json', GlobalEditJson, hook);
export const mapperEditJson = zValidator('json', MapperEditJson, hook);
export const embedForm = zValidator('form', EmbedForm.optional(), hook, absentWhenEmpty);

/**
 * The body that was sent, from whichever transport; a 400 when there is none. An empty JSON object or form (which
 * the validators see as "absent") is checked against `schema` so the 400 names the missing fields.
 */
export function oneBody<J, F>(json: J | undefined, form: F | undefined, contentType: string | undefined, schema: z.ZodType): J | F {
  const body = json ?? form;
  if (body !== undefined) return body;
  if (/^(application\/json|multipart\/form-data)\b/i.test(contentType ?? '')) {
    const r = schema.safeParse({});
    if (!r.success) throw new RequestError('invalid_request', `missing fields: ${describeIssues(r.error)}`);
    // An empty body of a schema whose fields are all optional: the handler says which of them it needs.
    return r.data as J;
  }
  throw new RequestError('invalid_request', 'send a JSON object (application/json) or a multipart/form-data body');
}
