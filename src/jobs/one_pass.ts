/**
 * Jobs of the one-pass edit methods (StyleCLIP global directions, sec. 6; latent mappers, sec. 5) in the job store:
 * the same start, outputs (result.png, before.png, compare.png, latent.npy, photo.png) and report as an optimisation
 * job, without steps. The runner picks the method by the stored request's `method`; what the method does is the
 * library's (GlobalDirections.edit, LatentMapperEdit.edit).
 */
import { readDirectionEdit, type DirectionEdit, type GlobalDirections } from '../edit/global/index.js';
import type { Interpretation } from '../edit/instruction.js';
import { MAPPER_STRENGTH } from '../edit/mapper/network.js';
import type { LatentMapperEdit } from '../edit/mapper/index.js';
import type { HostTensor } from '../engine/tensor.js';
import { InputError } from '../errors.js';
import { tensorToRgb } from '../io/images/image.js';
import type { EditCall, EditStart, PhotoLatentSource, ProjectedPhoto } from '../edit/types.js';
import type { RgbFrame } from '../io/images/image.js';
import type { PromptTokenizer } from './services.js';

/** A one-pass method with its settings, as a job stores it. */
export type OnePassMethod =
  | { readonly kind: 'global'; readonly edits: readonly Required<DirectionEdit>[]; readonly interpreted?: readonly Interpretation[] }
  | { readonly kind: 'mapper'; readonly mapper: string; readonly strength: number };

/** What a one-pass job writes: the images before and after, the edited latent (w+ or S codes), the pasted photo. */
export interface OnePassOutcome {
  readonly before: RgbFrame;
  readonly after: RgbFrame;
  readonly latent: HostTensor;
  readonly photo?: { readonly pasted: RgbFrame };
}

export interface OnePassService {
  /** Refuses (InputError) a method this process cannot run or a prompt over CLIP's context, before a job is stored. */
  check(method: OnePassMethod): void;
  edit(method: OnePassMethod, start: EditStart, call?: EditCall): Promise<OnePassOutcome>;
}

interface OnePassModels {
  readonly directions?: GlobalDirections;
  /** Checks the prompts of global edits against CLIP's context length at submission. */
  readonly tokenizer?: PromptTokenizer;
  readonly mappers: ReadonlyMap<string, LatentMapperEdit>;
  readonly photos?: PhotoLatentSource;
}

/** A short description of a method for reports and progress lines. */
export function describeMethod(m: OnePassMethod): string {
  return m.kind === 'global' ? m.edits.map((e) => e.prompt).join(' + ') : `mapper ${m.mapper} (strength ${m.strength})`;
}

/**
 * Settings of a global-directions job: each edit's sentence read as (target, neutral, sign) (src/edit/instruction.ts;
 * an explicit neutral wins) with the paper's defaults filled in, and the readings kept for the job's status.
 */
export function globalMethod(edits: readonly DirectionEdit[]): OnePassMethod {
  const read = edits.map(readDirectionEdit);
  return { kind: 'global', edits: read.map((r) => r.edit), interpreted: read.map((r) => r.interpreted) };
}

export function mapperMethod(mapper: string, strength = MAPPER_STRENGTH): OnePassMethod {
  return { kind: 'mapper', mapper, strength };
}

const rgb = (t: HostTensor): RgbFrame => tensorToRgb(t, 0, '[-1,1]');

function outcome(before: HostTensor | undefined, after: HostTensor, latent: HostTensor, photo: ProjectedPhoto | undefined): OnePassOutcome {
  if (!before) throw new Error('a one-pass job renders its start (EditCall.before is not turned off for jobs)');
  const a = rgb(after);
  return { before: rgb(before), after: a, latent, photo: photo && { pasted: photo.pasteBack(a) } };
}

export function onePassService(models: OnePassModels): OnePassService {
  const directions = (): GlobalDirections => {
    if (!models.directions) throw new InputError('method global needs global directions: pass --fs3 FS3.npy --stats S_MEAN_STD (or the registry names)');
    return models.directions;
  };
  const mapper = (name: string): LatentMapperEdit => {
    const m = models.mappers.get(name);
    if (!m) {
      const known = [...models.mappers.keys()];
      throw new InputError(`mapper '${name}' is not loaded; ${known.length ? `loaded: ${known.join(', ')}` : 'load it with --mappers M'}`);
    }
    return m;
  };
  return {
    check(method) {
      if (method.kind === 'mapper') {
        mapper(method.mapper);
        return;
      }
      directions();
      models.tokenizer?.tokenize(method.edits.flatMap((e) => [e.prompt, e.neutral]));
    },
    async edit(method, start, call = {}) {
      const opts = { photos: models.photos, ...call };
      if (method.kind === 'global') {
        const r = await directions().edit(start, method.edits, opts);
        return outcome(r.before, r.after, r.codes, r.photo);
      }
      const r = await mapper(method.mapper).edit(start, method.strength, opts);
      return outcome(r.before, r.after, r.latent, r.photo);
    },
  };
}
