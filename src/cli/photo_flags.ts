/** The photo-start flags every edit method shares: the face models, the encoder (e4e/pSp) and its refinement. */
import { FacePhotoSource } from '../invert/photo.js';
import { Generator } from '../generator/index.js';
import type { EditStart } from '../edit/types.js';
import { DEFAULT_PROJECT_STEPS } from '../invert/photo.js';
import { FACE_MODEL_FILES, FACE_MODELS_ENV, type FaceModelKind } from '../faces/models.js';
import { flag, modelFlag, resolveSaid, str, type CliIO, type ParsedArgs } from './command.js';

/**
 * The photo source of `--image` starts: `--encoder E` inverts in one pass (e4e/pSp, refined by `--refine N` steps;
 * HyperStyle, `--iterations N` passes with its W encoder from `--w-encoder` or found beside it), else projection.
 * A CLI edit has one photo per process, so each of the source's models is released once the photo is in.
 */
export async function photoSourceOf(args: ParsedArgs, io: CliIO): Promise<FacePhotoSource> {
  // A registry name is pulled on first use, said on stderr like every model flag.
  const name = (option: string): Promise<string | undefined> => (str(args, option) === undefined ? Promise.resolve(undefined) : modelFlag(args, option, 'encoder', io.stderr));
  await pullFaceModels(args, io);
  return new FacePhotoSource({ modelsDir: str(args, 'models'), encoder: await name('encoder'), wEncoder: await name('w-encoder'), singlePhoto: true });
}

/**
 * The face models by name (src/faces/models.ts) unless `--models` or $STYLECLIP_FACE_MODELS gives a directory: pulled
 * here on first use, so the download is said on stderr like every model flag's.
 */
export async function pullFaceModels(args: ParsedArgs, io: CliIO, kinds: readonly FaceModelKind[] = ['detector', 'landmarks']): Promise<void> {
  if (str(args, 'models') !== undefined || process.env[FACE_MODELS_ENV]) return;
  for (const kind of kinds) await resolveSaid(FACE_MODEL_FILES[kind].registryName, 'face', io.stderr);
}

/** Projection steps a photo start may report: its refinement with --encoder, else the projection (1 for other starts). */
export function projectSteps(start: EditStart, args: ParsedArgs): number {
  if (start.kind !== 'image') return 1;
  return str(args, 'encoder') !== undefined ? Math.max(start.refineSteps ?? 0, 1) : (start.projectSteps ?? DEFAULT_PROJECT_STEPS);
}

/** `--domain G`: a StyleGAN-NADA generator (`nada train --out`, or a registry name) the edit renders with. */
export async function domainOf(args: ParsedArgs, io: CliIO): Promise<Generator | undefined> {
  return str(args, 'domain') === undefined ? undefined : Generator.load(await modelFlag(args, 'domain', 'generator', io.stderr));
}

/**
 * After a photo edit with several faces, the line saying which one was edited (stdout; not with --quiet or
 * --json, whose report has `faces`).
 */
export function sayFaces(io: CliIO, args: ParsedArgs, photo: { readonly faces?: number } | undefined): void {
  const n = photo?.faces ?? 1;
  if (n < 2 || flag(args, 'quiet') || flag(args, 'json')) return;
  const i = Number(str(args, 'face-index') ?? 0);
  io.stdout.write(`the photo has ${n} faces: edited face ${i}${i === 0 ? ' (the largest)' : ''}; --face-index 0..${n - 1} picks another\n`);
}

/** `faces` of a photo edit's --json report. */
export const facesJson = (photo: { readonly faces?: number } | undefined): { faces?: number } => (photo?.faces === undefined ? {} : { faces: photo.faces });
