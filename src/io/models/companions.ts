/**
 * A generator's companions in the registry: the models made for it that the fast path uses by default. A generator
 * entry of models/manifest.json may carry
 *
 *   "companions": { "encoder": "e4e-ffhq",
 *                   "directions": { "clip": "clip-vit-b32", "fs3": "fs3-ffhq-vit-b32", "stats": "stylespace-stats-ffhq" } }
 *
 * `encoder`: the one-pass photo encoder trained against this generator (e4e's FFHQ encoder inverts into the FFHQ
 * generator's W+). `directions`: StyleCLIP global-direction files computed for this generator, valid only with the
 * CLIP model they were computed with (fs3 holds that CLIP's image-embedding directions). Every name must be a model of
 * the right kind in the same manifest.
 */
import { InputError } from '../../errors.js';

export interface GlobalDirectionFiles {
  /** The CLIP model fs3 was computed with (a registry name). */
  readonly clip: string;
  readonly fs3: string;
  readonly stats: string;
}

export interface Companions {
  readonly encoder?: string;
  readonly directions?: GlobalDirectionFiles;
}

type Kind = 'clip' | 'directions' | 'encoder';
interface Named {
  readonly name: string;
  readonly kind: string;
  readonly companions?: Companions;
}

const fail = (where: string, what: string): never => {
  throw new InputError(`${where}: companions: ${what}`);
};

const isName = (v: unknown): v is string => typeof v === 'string' && v !== '';

/** Validates the `companions` field of one entry (shape only; names are checked by `checkCompanionNames`). */
export function parseCompanions(v: unknown, kind: string, where: string): Companions | undefined {
  if (v === undefined) return undefined;
  if (kind !== 'generator') fail(where, 'only generators have companions');
  const c = v as Record<string, unknown>;
  if (typeof c !== 'object' || c === null) fail(where, 'must be an object');
  const unknownKey = Object.keys(c).find((k) => k !== 'encoder' && k !== 'directions');
  if (unknownKey) fail(where, `unknown key '${unknownKey}' (encoder, directions)`);
  if (c.encoder !== undefined && !isName(c.encoder)) fail(where, 'encoder must be a model name');
  let directions: GlobalDirectionFiles | undefined;
  if (c.directions !== undefined) {
    const d = c.directions as Record<string, unknown>;
    if (typeof d !== 'object' || d === null || !isName(d.clip) || !isName(d.fs3) || !isName(d.stats)) fail(where, 'directions must be {clip, fs3, stats} model names');
    directions = Object.freeze({ clip: d.clip as string, fs3: d.fs3 as string, stats: d.stats as string });
  }
  return Object.freeze({ ...(c.encoder === undefined ? {} : { encoder: c.encoder as string }), ...(directions ? { directions } : {}) });
}

/** Every companion name is a model of the right kind in the manifest (`find`: the registry's lookup by name or alias). */
export function checkCompanionNames(models: readonly Named[], find: (name: string) => Named | undefined, where: string): void {
  const expect = (owner: string, name: string, kind: Kind): void => {
    const m = find(name);
    if (!m) fail(`${where} model "${owner}"`, `'${name}' is not in the manifest`);
    else if (m.kind !== kind) fail(`${where} model "${owner}"`, `'${name}' is a ${m.kind} model, not ${kind === 'encoder' ? 'an' : 'a'} ${kind}`);
  };
  for (const m of models) {
    const c = m.companions;
    if (!c) continue;
    if (c.encoder) expect(m.name, c.encoder, 'encoder');
    if (c.directions) {
      expect(m.name, c.directions.clip, 'clip');
      expect(m.name, c.directions.fs3, 'directions');
      expect(m.name, c.directions.stats, 'directions');
    }
  }
}
