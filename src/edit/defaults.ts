/**
 * The fast path by default (issue 21 part 1): what an edit runs when the caller names no method and no inversion.
 *
 * - Method: global directions (StyleCLIP sec. 6: one generator pass, ~1 s) when the generator's registry entry lists
 *   global-direction files for the CLIP in use (`companions.directions`, src/io/models/companions.ts; FFHQ's fs3 and
 *   S statistics), StyleCLIP optimisation (sec. 4: any generator and prompt, ~300 steps) otherwise. Flags that only
 *   one method takes (--steps, --mapper, --fs3, ...) pick that method.
 * - Photos: the generator's registered one-pass encoder (e4e-ffhq for FFHQ) unless an encoder is named or projection
 *   is asked for (a projection step count); projection when the generator has none.
 *
 * Names are pulled on first use by the loaders like every default model. The result says what it chose in one line.
 */
import { existsSync } from 'node:fs';
import { DEFAULT_MODEL_NAMES, findModel, loadManifest, type Manifest } from '../io/models/registry.js';
import type { GlobalDirectionFiles } from '../io/models/companions.js';
import { compatibleMethods, type EditMethodName } from './methods.js';

export interface DefaultsRequest {
  /** The method the caller named, if any. */
  readonly method?: EditMethodName;
  /** Flags (or fields) the caller gave: method-only ones decide the method when none is named. */
  readonly given: readonly string[];
  /** Generator and CLIP as given (registry names or paths); undefined = the default models. */
  readonly generator?: string;
  readonly clip?: string;
  /** The start is a photo. */
  readonly photo: boolean;
  /** An encoder was named. */
  readonly encoder?: string;
  /** Projection was asked for (a projection step count given). */
  readonly projection: boolean;
}

export interface EditDefaults {
  readonly method: EditMethodName;
  /** Global-direction files to use when none are given (registry names). */
  readonly directions?: Omit<GlobalDirectionFiles, 'clip'>;
  /** The photo encoder to use when none is named (a registry name). */
  readonly encoder?: string;
  /** What was chosen for the caller and how to choose otherwise; undefined when the caller chose everything. */
  readonly said?: string;
}

const METHOD_WORDS: Readonly<Record<EditMethodName, string>> = Object.freeze({
  optimize: 'StyleCLIP optimisation',
  global: 'global directions',
  mapper: 'the latent mapper',
});

/** The registry entry a model flag names, or undefined for files (an existing path wins over a name, as when loading). */
function entryOf(manifest: Manifest, nameOrPath: string) {
  return existsSync(nameOrPath) ? undefined : findModel(manifest, nameOrPath);
}

/** The global directions registered for this generator and this CLIP, if any. */
export function registeredDirections(manifest: Manifest, generator: string | undefined, clip: string | undefined): GlobalDirectionFiles | undefined {
  const dirs = entryOf(manifest, generator ?? DEFAULT_MODEL_NAMES.generator)?.companions?.directions;
  if (!dirs) return undefined;
  const clipEntry = entryOf(manifest, clip ?? DEFAULT_MODEL_NAMES.clip);
  return clipEntry !== undefined && clipEntry.name === findModel(manifest, dirs.clip)?.name ? dirs : undefined;
}

/** The registered one-pass encoder of this generator, if any. */
export function registeredEncoder(manifest: Manifest, generator: string | undefined): string | undefined {
  return entryOf(manifest, generator ?? DEFAULT_MODEL_NAMES.generator)?.companions?.encoder;
}

export async function editDefaults(req: DefaultsRequest, manifest?: Manifest): Promise<EditDefaults> {
  const m = manifest ?? (await loadManifest());
  const dirs = registeredDirections(m, req.generator, req.clip);
  let method = req.method;
  const words: string[] = [];
  if (method === undefined) {
    const preferred: EditMethodName = dirs ? 'global' : 'optimize';
    const fits = compatibleMethods(req.given);
    method = fits.includes(preferred) ? preferred : (fits[0] ?? preferred);
    const why =
      method !== preferred ? 'the flags given' : dirs ? `the generator's registered ${dirs.fs3} and ${dirs.stats}` : 'no global directions are registered for this generator and CLIP';
    words.push(`method: ${METHOD_WORDS[method]} (${why}; --method ${method === 'optimize' ? 'global' : 'optimize'} for ${method === 'optimize' ? 'the fast path, with --fs3/--stats' : 'StyleCLIP optimisation'})`);
  }
  const inversionOpen = req.photo && req.encoder === undefined && !req.projection;
  const encoder = inversionOpen ? registeredEncoder(m, req.generator) : undefined;
  if (inversionOpen) {
    words.push(encoder ? `photo inverted by ${encoder} in one pass (--project-steps N projects instead)` : 'photo projected (no encoder is registered for this generator; --encoder E inverts in one pass)');
  }
  return Object.freeze({
    method,
    ...(method === 'global' && dirs ? { directions: { fs3: dirs.fs3, stats: dirs.stats } } : {}),
    ...(encoder ? { encoder } : {}),
    ...(words.length ? { said: words.join('; ') } : {}),
  });
}
