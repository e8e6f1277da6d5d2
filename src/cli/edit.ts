/**
 * `styleclip edit`: text-guided editing by latent optimisation (StyleCLIP). Starts from a seed, a w / w+ latent or a
 * photo (detect -> FFHQ-align -> project, src/invert/photo.ts), optimises toward the prompt, and writes the requested
 * outputs only when the run completes — Ctrl-C (or any error) leaves no file behind. `--paste-back` puts the edited
 * face back into the photo.
 */
import type { PhotoInversion } from '../invert/types.js';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { dirname, extname } from 'node:path';
import { InputError } from '../errors.js';
import { FACE_MODELS_ENV } from '../faces/models.js';
import { MOBILEFACE_MODEL_NAME, loadIdentityNet } from '../faces/load_identity.js';
import { DEFAULT_PROJECT_STEPS, DEFAULT_REFINE_STEPS } from '../invert/photo.js';
import { domainOf, facesJson, photoSourceOf, sayFaces } from './photo_flags.js';
import { runDomainEdit } from './edit_domain.js';
import type { IdentityNet } from '../faces/identity.js';
import { sideBySide, writeGif, type Frame } from '../io/images/frames.js';
import { writeImage } from '../io/images/image.js';
import { readNpy, writeNpy } from '../io/tensors/npy.js';
import { EditCancelled, Editor } from '../edit/optimize/editor.js';
import { DEFAULT_TRUNCATION, EDIT_DEFAULTS, EDIT_OPTION_SPECS, RECOMMENDED_FACE_ID, resolveEditOptions } from '../edit/optimize/options.js';
import { START_OPTION_SPECS } from '../edit/options.js';
import { describeInterpretation, interpretInstruction, interpretationJson } from '../edit/instruction.js';
import { EDIT_METHODS, misplacedFlag, type EditMethodName } from '../edit/methods.js';
import { flagHelp, flagOptions, flagValue, flagValues, givenFlags } from './option_flags.js';
import type { EditOptions, EditResult } from '../edit/optimize/types.js';
import type { EditStart, ProjectionProgress } from '../edit/types.js';
import { UsageError, distinctOutputs, flag, modelFlag, str, strs, type Command, type ParsedArgs } from './command.js';
import { runGlobalEdit } from './edit_global.js';
import { photoOutputPaths, withEditDefaults } from './edit_defaults.js';
import { runMapperEdit } from './edit_mapper.js';
import { ALPHA_RANGE, GLOBAL_DEFAULTS } from '../edit/global/index.js';
import { MAPPER_STRENGTH } from '../edit/mapper/index.js';
import { ProgressBar, statusLine } from './progress.js';
import { writeAllOrNothing } from '../io/atomic.js';

/** Exit code of a command stopped by SIGINT (128 + 2, the shell convention). */
export const EXIT_INTERRUPTED = 130;
const START = START_OPTION_SPECS;
/** Flags that only make sense with a photo start. */
const PHOTO_FLAGS = [START.faceIndex.flag, START.projectSteps.flag, START.refineSteps.flag, START.iterations.flag, START.inversion.flag, 'paste-back', 'crop', 'encoder', 'w-encoder'];
const METHODS = Object.keys(EDIT_METHODS) as EditMethodName[];
/** Frames in `--gif` when the user does not choose a preview interval (about this many, evenly spaced). */
const GIF_FRAMES = 30;
const IMAGE_EXTS = ['.png', '.jpg', '.jpeg', '.webp'];

function oneOf<T extends string>(args: ParsedArgs, name: string, allowed: readonly T[], def: T): T {
  const v = (str(args, name) ?? def) as T;
  if (!allowed.includes(v)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got '${v}'`);
  return v;
}

async function startOf(args: ParsedArgs): Promise<EditStart> {
  const given = ['seed', 'w', 'w-plus', 'image'].filter((s) => str(args, s) !== undefined);
  if (given.length !== 1) throw new UsageError('give exactly one starting point: --seed N, --w W.npy, --w-plus WP.npy or --image PHOTO');
  const misplaced = PHOTO_FLAGS.find((f) => given[0] !== 'image' && str(args, f) !== undefined);
  if (misplaced) throw new UsageError(`--${misplaced} applies to photo edits only; start from --image PHOTO`);
  if (given[0] === 'image') {
    const path = str(args, 'image')!;
    try {
      await access(path, constants.R_OK);
    } catch (e) {
      throw new InputError(`cannot read image ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return {
      kind: 'image',
      path,
      faceIndex: (flagValue(args, START.faceIndex) as number | undefined) ?? 0,
      projectSteps: (flagValue(args, START.projectSteps) as number | undefined) ?? DEFAULT_PROJECT_STEPS,
      refineSteps: (flagValue(args, START.refineSteps) as number | undefined) ?? DEFAULT_REFINE_STEPS,
      iterations: flagValue(args, START.iterations) as number | undefined,
      inversion: flagValue(args, START.inversion) as PhotoInversion | undefined,
    };
  }
  if (given[0] === 'seed') {
    return { kind: 'seed', seed: flagValue(args, START.seed) as number, truncation: (flagValue(args, START.truncation) as number | undefined) ?? DEFAULT_TRUNCATION };
  }
  const file = str(args, given[0])!;
  return { kind: given[0] === 'w' ? 'w' : 'w+', latent: await readNpy(file) };
}

/** The options of the command line, read by their descriptors (EDIT_OPTION_SPECS); previews follow --gif. */
function optionsOf(args: ParsedArgs, steps: number): Partial<EditOptions> & { prompt: string } {
  return {
    ...(flagValues(args, EDIT_OPTION_SPECS) as Partial<EditOptions>),
    prompt: str(args, 'prompt') ?? '',
    steps,
    previewEvery: str(args, 'gif') ? Math.max(1, Math.round(steps / GIF_FRAMES)) : 0,
  };
}

/** `[--flag default]` of every option with a flag: the synopsis line of the usage. */
function synopsis(): string {
  return (Object.entries(EDIT_OPTION_SPECS) as [keyof typeof EDIT_DEFAULTS, (typeof EDIT_OPTION_SPECS)[keyof typeof EDIT_OPTION_SPECS]][])
    .filter(([, s]) => 'flag' in s)
    .map(([name, s]) => `[--${(s as { flag: string }).flag} ${EDIT_DEFAULTS[name] ?? (s.kind === 'range' ? 'A-B' : s.kind.toUpperCase())}]`)
    .join(' ');
}

/** parseArgs entries of the methods' texts (repeatable: one per stacked edit), model files and outputs. */
function methodInputFlags(): Record<string, { type: 'string'; multiple?: true }> {
  return Object.fromEntries(METHODS.flatMap((name) => {
    const m = EDIT_METHODS[name];
    const texts = [...(m.prompts === 'none' ? [] : ['prompt']), ...m.texts].map((f) => [f, { type: 'string', multiple: true }] as const);
    return [...texts, ...[...m.models, ...m.outputs].map((f) => [f, { type: 'string' }] as const)];
  }));
}

/** Refuses a flag of another method, naming the method(s) it belongs to. */
function checkMethodFlags(method: EditMethodName, args: ParsedArgs): void {
  const wrong = misplacedFlag(method, givenFlags(args));
  if (!wrong) return;
  const owners = wrong.belongsTo.map((m) => `--method ${m}`).join(' and ');
  if (wrong.belongsTo.length === 1) throw new UsageError(`--${wrong.flag} belongs to ${owners}`);
  throw new UsageError(`--${wrong.flag} does not apply to --method ${method} (it belongs to ${owners})`);
}

export async function checkOutputs(paths: Record<string, string | undefined>): Promise<void> {
  distinctOutputs(paths);
  for (const [name, p] of Object.entries(paths)) {
    if (!p) continue;
    const ext = extname(p).toLowerCase();
    const want = name === 'gif' ? ['.gif'] : ['save-latent', 'trajectory', 'raw'].includes(name) ? ['.npy'] : IMAGE_EXTS;
    if (!want.includes(ext)) throw new UsageError(`--${name} ${p}: use a ${want.join(' / ')} file`);
    try {
      await access(dirname(p), constants.W_OK);
    } catch {
      throw new InputError(`--${name} ${p}: directory ${dirname(p)} does not exist or is not writable`);
    }
  }
}

/** What the CLI keeps during an edit for its outputs: preview frames for --gif, the latent after each step for --trajectory. */
interface Kept {
  readonly frames: Frame[];
  readonly trajectory?: Float32Array;
}

async function writeOutputs(res: EditResult, kept: Kept, paths: Record<string, string | undefined>): Promise<string[]> {
  const pasted = res.photo?.pasted;
  return writeAllOrNothing([
    [paths.out, (p) => writeImage(p, res.after.data, res.after.width, res.after.height)],
    [paths.compare, (p) => {
      const c = sideBySide([res.before, res.after]);
      return writeImage(p, c.data, c.width, c.height);
    }],
    [paths.gif, (p) => writeGif(p, [res.before, ...kept.frames, res.after])],
    [paths['save-latent'], (p) => writeNpy(p, res.latent)],
    [paths.trajectory, (p) => writeNpy(p, { dtype: 'float32', shape: [res.history.length, ...res.latent.shape], data: kept.trajectory! })],
    [pasted ? paths['paste-back'] : undefined, (p) => writeImage(p, pasted!.data, pasted!.width, pasted!.height)],
  ]);
}

export const editCommand: Command = {
  path: ['edit'],
  summary: 'edit a photo or a generated image toward a text prompt (StyleCLIP global directions, optimisation, mappers)',
  usage: [
    '  styleclip edit --image selfie.jpg --prompt "make the hair red" --out edited.jpg',
    '                 (the fast path: FFHQ models by name, global directions, e4e inversion, pasted back into the photo)',
    '  styleclip edit [--method optimize] --generator G --clip C --vocab BPE.txt.gz',
    '                 (--seed N | --w W.npy | --w-plus WP.npy | --image PHOTO)',
    '                 --prompt "make the hair red"',
    `                 ${synopsis()} [--truncation ${DEFAULT_TRUNCATION}]`,
    '                 [--out result.png] [--compare before_after.png] [--gif progress.gif] [--save-latent final.npy]',
    '                 [--trajectory traj.npy] [--quiet] [--json]',
    '                 [--face-index 0] [--project-steps ' + DEFAULT_PROJECT_STEPS + '] [--crop [--paste-back photo_edited.png]]',
    '                 [--identity-model mobileface|PATH] [--models DIR]',
    '  styleclip edit --method global --generator G --clip C --vocab V --fs3 FS3.npy --stats S_MEAN_STD',
    '                 (--seed N | --w-plus WP.npy | --image PHOTO) --prompt "face with red hair" [--neutral "face"]',
    `                 [--alpha ${GLOBAL_DEFAULTS.alpha}] [--beta ${GLOBAL_DEFAULTS.beta}] [--out OUT.png] [--compare C.png] [--raw OUT.npy] [--save-latent S.npy]`,
    '  styleclip edit --method mapper --mapper M.pt [--generator G] (--seed N | --w-plus WP.npy | --image PHOTO)',
    `                 [--strength ${MAPPER_STRENGTH}] [--out OUT.png] [--compare C.png] [--raw OUT.npy] [--save-latent W.npy]`,
    '',
    '  --method            global (sec. 6: one generator pass per edit; the default when the generator has registered',
    "                      directions for the CLIP in use: FFHQ's fs3-ffhq-vit-b32 and stylespace-stats-ffhq, pulled on",
    "                      first use), optimize (sec. 4: any generator and prompt, ~300 steps; the default otherwise) or",
    '                      mapper (sec. 5: one mapper pass per edit, a network trained for one text, e.g. hairstyles);',
    '                      a flag only one method takes (--steps, --fs3, --mapper, ...) picks it; a terminal shows the choice',
    '  --generator G       the StyleGAN2 generator: a model name (stylegan2-ffhq-config-f, the default) or a checkpoint',
    '  --clip C / --vocab V  CLIP (default ViT-B/32; any name of \'styleclip models list\' or a checkpoint) and its BPE merges',
    '  --prompt P          the edit: an instruction ("make the hair red", "remove the glasses") or a description',
    '  --out F             the edited image (.png, .jpg, .webp); for a photo: the whole photo with the edited face',
    '                      pasted back (--crop: the aligned face); --compare F: before | after side by side (the face)',
    '  --gif F             optimize: the run as an animated GIF; --save-latent F: the edited latent as .npy',
    '  --fs3 F / --stats F global: the per-channel CLIP directions (fs3.npy) and StyleSpace statistics (S_mean_std)',
    '  --neutral T         global: the text the target is measured against (default from the prompt\'s reading)',
    `  --alpha A / --beta B  global: strength (${ALPHA_RANGE[0]}..${ALPHA_RANGE[1]}, default ${GLOBAL_DEFAULTS.alpha}) and channel threshold (0..1, default ${GLOBAL_DEFAULTS.beta})`,
    `  --strength S        mapper: w_hat = w + S * M(w) (default ${MAPPER_STRENGTH})`,
    '  --prompt/--alpha    global: repeat --prompt (with its --alpha, --beta, --neutral, or one value for all) to stack',
    `                      edits; alpha ${ALPHA_RANGE[0]}..${ALPHA_RANGE[1]} is the strength, beta keeps channels whose relevance >= beta`,
    '  --mapper M          mapper: a StyleCLIP mapper checkpoint or a registry name (mapper-afro, mapper-bobcut, ...);',
    '                      w_hat = w + strength * M(w); without --generator the checkpoint\'s own decoder renders',
    '  --raw F.npy         global/mapper: the unclamped NCHW float32 image; --save-latent writes the edited S [1,',
    '                      channels] (global) or w_hat [1, L, D] (mapper)',
    '  --seed N            start from G(truncated w of z ~ N(0,I) from seed N); --truncation sets psi (default 0.7,',
    "                      StyleCLIP's; 'styleclip generate' defaults to 1: the same seed there shows a less average face)",
    '  --w / --w-plus      start from a w [D] / w+ [L,D] latent (.npy; the first row of a batch)',
    '  --image PHOTO       start from a photo: its face is detected, FFHQ-aligned at the generator\'s resolution and',
    '                      inverted into W+: in one pass by --encoder (default: the generator\'s registered encoder,',
    '                      e4e-ffhq for FFHQ\'s), else projected (--project-steps N asks for it; default ' + DEFAULT_PROJECT_STEPS + ' steps);',
    '                      the edit keeps the inversion\'s noise. Works with every --method',
    '  --encoder E         invert photos in one pass instead of projection: e4e/pSp (e4e-ffhq), or HyperStyle',
    '                      (hyperstyle-ffhq: a few passes that also adapt the generator to the photo; the edit',
    '                      renders with the adapted generator, so the person stays recognisable)',
    '  --refine N          with an e4e/pSp --encoder: N projection steps from its code (~1-3 s each; default 0)',
    '  --iterations N      with a HyperStyle --encoder: its passes (1..20, default 5)',
    "  --w-encoder F       HyperStyle's W encoder (default: named by the checkpoint, beside it, else the registry's)",
    '  --face-index I      which face of the photo, 0 = the largest (default)',
    '  --domain G          render in a StyleGAN-NADA domain (a `nada train --out` generator or a registry name such as',
    '                      nada-ffhq-sketch): the start is found with --generator, the edit rendered with G; without',
    '                      --prompt the start is only rendered in the domain (photo -> sketch, pasted back)',
    '  --crop              photo edits: --out is the aligned face; --paste-back F then writes the whole photo',
    `  --identity-model M  identity net for --id (and the projection): '${MOBILEFACE_MODEL_NAME}', a MobileFace .json, or`,
    '                      ArcFace IR-SE50 (StyleCLIP\'s model_ir_se50.pth)',
    `  --models DIR        face models directory (default $${FACE_MODELS_ENV}, else the model cache)`,
    ...flagHelp(EDIT_OPTION_SPECS, EDIT_DEFAULTS),
    `                      (--id needs --identity-model; StyleCLIP's default is 0; for faces we recommend ${RECOMMENDED_FACE_ID})`,
    '                      (--space s: every layer\'s style vector; as StyleCLIP, only conv-layer channels change and',
    '                      ToRGB styles keep their start values; --save-latent writes the full S vector [1, channels])',
    '  --trajectory F.npy  the latent after each step, [steps,1,L,D]',
    '  --json              print the loss history as JSON; --quiet prints nothing but errors',
  ].join('\n'),
  options: {
    generator: { type: 'string' },
    method: { type: 'string' },
    w: { type: 'string' },
    'w-plus': { type: 'string' },
    image: { type: 'string' },
    encoder: { type: 'string' },
    'w-encoder': { type: 'string' },
    domain: { type: 'string' },
    'paste-back': { type: 'string' },
    crop: { type: 'boolean' },
    models: { type: 'string' },
    out: { type: 'string' },
    compare: { type: 'string' },
    'save-latent': { type: 'string' },
    quiet: { type: 'boolean' },
    json: { type: 'boolean' },
    // Options of the start and of every method, from their descriptors; texts (repeatable per stacked edit), models
    // and outputs of the methods (src/edit/methods.ts).
    ...flagOptions(START_OPTION_SPECS, ...METHODS.map((m) => EDIT_METHODS[m].options)),
    ...methodInputFlags(),
  },
  async run(cliArgs, io) {
    // --domain without a prompt or method: the start rendered in the domain, written like a one-pass edit.
    const domainOnly = str(cliArgs, 'domain') !== undefined && strs(cliArgs, 'prompt').length === 0 && str(cliArgs, 'method') === undefined;
    const { args, said, chosen } = await withEditDefaults(cliArgs);
    const sayChoice = (): void => statusLine(io.stderr, flag(args, 'quiet'), said ?? '');
    const method = oneOf(args, 'method', METHODS, 'optimize');
    if (!domainOnly) checkMethodFlags(method, args);
    if (domainOnly || method !== 'optimize') {
      const paths = photoOutputPaths({ out: str(args, 'out'), compare: str(args, 'compare'), raw: str(args, 'raw'), 'save-latent': str(args, 'save-latent'), 'paste-back': str(args, 'paste-back') }, args);
      if (!Object.values(paths).some(Boolean)) throw new UsageError('nothing to write: give --out, --compare, --raw, --save-latent and/or --paste-back');
      await checkOutputs(paths);
      const run = domainOnly ? runDomainEdit : method === 'global' ? runGlobalEdit : runMapperEdit;
      const start = await startOf(args);
      if (said) sayChoice();
      return run(args, io, start, paths, chosen);
    }
    if (strs(args, 'prompt').length > 1) throw new UsageError('--method optimize takes one --prompt; stacked prompts need --method global');
    const steps = (flagValue(args, EDIT_OPTION_SPECS.steps) as number | undefined) ?? EDIT_DEFAULTS.steps;
    const given = optionsOf(args, steps);
    const interpreted = interpretInstruction(given.prompt);
    const options = resolveEditOptions({ ...given, prompt: interpreted.optimizeText });
    const paths = photoOutputPaths({
      out: str(args, 'out'),
      compare: str(args, 'compare'),
      gif: str(args, 'gif'),
      'save-latent': str(args, 'save-latent'),
      trajectory: str(args, 'trajectory'),
      'paste-back': str(args, 'paste-back'),
    }, args);
    if (!Object.values(paths).some(Boolean)) {
      throw new UsageError('nothing to write: give --out, --compare, --gif, --save-latent, --trajectory and/or --paste-back');
    }
    await checkOutputs(paths);
    const start = await startOf(args);
    if (str(args, 'refine') !== undefined && str(args, 'encoder') === undefined) throw new UsageError('--refine refines an encoder\'s code: give --encoder too (without one, --project-steps sets the projection)');
    const sources = {
      generator: await modelFlag(args, 'generator', 'generator', io.stderr),
      clip: await modelFlag(args, 'clip', 'clip', io.stderr),
      vocab: await modelFlag(args, 'vocab', 'vocab', io.stderr),
    };
    const quiet = flag(args, 'quiet');
    if (said) sayChoice();
    statusLine(io.stderr, quiet, `loading the generator, CLIP${start.kind === 'image' ? ' and the face models' : ''}...`);
    const models = str(args, 'models');
    const idArg = str(args, 'identity-model');
    const identity: IdentityNet | undefined = idArg ? await loadIdentityNet(idArg, models) : undefined;
    const photos = start.kind === 'image' ? await photoSourceOf(args, io) : undefined;
    const editor = await Editor.load({ ...sources, identity, photos }).catch((e: unknown) => {
      identity?.dispose();
      throw e;
    });
    const domain = await domainOf(args, io);
    const showBars = !quiet && io.stderr.isTTY === true;
    const projectBar = new ProgressBar(io.stderr, start.kind === 'image' ? (start.projectSteps ?? DEFAULT_PROJECT_STEPS) : 1, showBars);
    const bar = new ProgressBar(io.stderr, steps, showBars);
    const projection: ProjectionProgress[] = [];
    const kept: { frames: Frame[]; trajectory?: Float32Array } = { frames: [] };
    try {
      const res = await editor.edit(start, options, {
        signal: io.signal,
        domain,
        hooks: {
          onLatent: paths.trajectory
            ? (latent, step) => {
                kept.trajectory ??= new Float32Array(steps * latent.length);
                kept.trajectory.set(latent, (step - 1) * latent.length);
              }
            : undefined,
          onProjectProgress: (p) => {
            projection.push(p);
            projectBar.update(p.step, `projecting: mse ${p.mse.toFixed(4)}`);
          },
          onProgress: (p) => {
            if (p.preview && paths.gif) kept.frames.push(p.preview);
            if (p.step === 1) projectBar.finish();
            bar.update(p.step, `loss ${p.loss.toFixed(4)} (clip ${p.clipLoss.toFixed(4)}, l2 ${p.l2Loss.toFixed(4)})`);
          },
        },
      });
      bar.finish();
      const written = await writeOutputs(res, kept, paths);
      if (flag(args, 'json')) {
        const history = res.history;
        const reading = interpretationJson(interpreted);
        io.stdout.write(JSON.stringify({ written, ...(chosen ? { defaults: chosen } : {}), ...facesJson(res.photo), interpreted: reading, history, ...(start.kind === 'image' ? { projection } : {}) }) + '\n');
      } else if (!quiet) {
        const last = res.history[res.history.length - 1];
        io.stdout.write(`${describeInterpretation(given.prompt, interpreted)}\n`);
        io.stdout.write(`edited in ${steps} steps: loss ${res.history[0].loss.toFixed(4)} -> ${last.loss.toFixed(4)}; wrote ${written.join(', ')}\n`);
      }
      sayFaces(io, args, res.photo);
      return 0;
    } catch (e) {
      projectBar.finish();
      bar.finish();
      if (e instanceof EditCancelled) {
        io.stderr.write('styleclip: edit interrupted; nothing was written\n');
        return EXIT_INTERRUPTED;
      }
      throw e;
    } finally {
      await Promise.all([editor.dispose(), domain?.dispose()]);
      identity?.dispose();
    }
  },
};
