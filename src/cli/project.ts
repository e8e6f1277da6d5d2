/**
 * `styleclip project`: GAN inversion of an FFHQ-aligned face into the generator's W+ (src/invert/project.ts, the
 * StyleGAN2 projector recipe). Writes the latent and/or the reconstruction only when the run completes; Ctrl-C (or
 * any error) leaves no file behind. Faces that are not at the generator's resolution are resized (Lanczos).
 */
import { Clip } from '../clip/clip.js';
import { FACE_MODELS_ENV } from '../faces/models.js';
import { MOBILEFACE_MODEL_NAME, loadIdentityNet } from '../faces/load_identity.js';
import { DEFAULT_PROJECT_STEPS } from '../invert/photo.js';
import { MAX_PROJECT_STEPS, PROJECTOR_DEFAULTS, PROJECTION_WEIGHTS, ProjectionCancelled, Projector } from '../invert/project.js';
import type { IdentityNet } from '../faces/identity.js';
import { Generator } from '../generator/index.js';
import { readImage, writeImage } from '../io/images/image.js';
import { writeNpy } from '../io/tensors/npy.js';
import { resolveModelPath } from '../io/models/registry.js';
import { UsageError, flag, modelFlag, num, requireStr, str, type Command } from './command.js';
import { EXIT_INTERRUPTED, checkOutputs } from './edit.js';
import { ProgressBar } from './progress.js';

export const projectCommand: Command = {
  path: ['project'],
  summary: 'project an aligned face into the generator\'s W+ (GAN inversion)',
  usage: [
    '  styleclip project --generator G --image ALIGNED.png [--steps 500] [--save-latent W.npy] [--out RECON.png]',
    '                    [--clip C] [--identity-model mobileface|PATH] [--models DIR] [--seed 0] [--json] [--quiet]',
    '',
    "  --image PATH        a square FFHQ-aligned face ('styleclip align'); resized to the generator's resolution",
    `  --steps N           Adam steps (1..${MAX_PROJECT_STEPS}, default ${DEFAULT_PROJECT_STEPS}; the StyleGAN2 projector uses ${PROJECTOR_DEFAULTS.steps})`,
    '  --save-latent F     the w+ latent [1,L,D] (.npy; edit it with styleclip edit --w-plus F)',
    '  --out F             the reconstruction G(w+) with the optimised noise maps (png/jpg/webp)',
    `  --clip C            add the CLIP image-embedding distance (weight ${PROJECTION_WEIGHTS.clip}) to the pixel MSE`,
    `  --identity-model M  add the identity distance (weight ${PROJECTION_WEIGHTS.id}): '${MOBILEFACE_MODEL_NAME}', a MobileFace .json, or an ArcFace IR-SE50 .pth`,
    `  --models DIR        face models directory for mobileface (default $${FACE_MODELS_ENV}, else the model cache)`,
    '  --seed N            seed of the initial noise maps and the latent noise (runs are deterministic)',
    '  --json              print the loss history as JSON; --quiet prints nothing but errors',
    '',
    '  LPIPS (the projector\'s perceptual distance) needs VGG16 weights and is not used.',
  ].join('\n'),
  options: {
    generator: { type: 'string' },
    image: { type: 'string' },
    steps: { type: 'string' },
    'save-latent': { type: 'string' },
    out: { type: 'string' },
    clip: { type: 'string' },
    'identity-model': { type: 'string' },
    models: { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean' },
  },
  async run(args, io) {
    const generatorPath = await modelFlag(args, 'generator', 'generator', io.stderr);
    const image = requireStr(args, 'image');
    const steps = num(args, 'steps', DEFAULT_PROJECT_STEPS, { min: 1, max: MAX_PROJECT_STEPS, integer: true });
    const seed = num(args, 'seed', 0, { min: 0, max: 2 ** 32 - 1, integer: true });
    const paths = { out: str(args, 'out'), 'save-latent': str(args, 'save-latent') };
    if (!paths.out && !paths['save-latent']) throw new UsageError('nothing to write: give --save-latent W.npy and/or --out RECON.png');
    await checkOutputs(paths);
    const aligned = await readImage(image);
    const clipArg = str(args, 'clip');
    const idArg = str(args, 'identity-model');
    const quiet = flag(args, 'quiet');
    const generator = await Generator.load(generatorPath);
    let clip: Clip | undefined;
    let identity: IdentityNet | undefined;
    let projector: Projector | undefined;
    const bar = new ProgressBar(io.stderr, steps, !quiet && io.stderr.isTTY === true);
    try {
      if (clipArg) clip = await Clip.load(await resolveModelPath(clipArg, 'clip'));
      if (idArg) identity = await loadIdentityNet(idArg, str(args, 'models'));
      projector = new Projector(generator, { clip, identity });
      const res = await projector.project(aligned, { steps, seed }, {
        signal: io.signal,
        onProgress: (p) => bar.update(p.step, `loss ${p.loss.toFixed(4)} (mse ${p.mse.toFixed(4)})`),
      });
      bar.finish();
      const written: string[] = [];
      if (paths['save-latent']) {
        await writeNpy(paths['save-latent'], res.latent);
        written.push(paths['save-latent']);
      }
      if (paths.out) {
        await writeImage(paths.out, res.reconstruction.data, res.reconstruction.width, res.reconstruction.height);
        written.push(paths.out);
      }
      const first = res.history[0];
      const last = res.history[res.history.length - 1];
      if (flag(args, 'json')) io.stdout.write(JSON.stringify({ written, history: res.history }) + '\n');
      else if (!quiet) io.stdout.write(`projected in ${steps} steps: mse ${first.mse.toFixed(4)} -> ${last.mse.toFixed(4)}; wrote ${written.join(', ')}\n`);
      return 0;
    } catch (e) {
      bar.finish();
      if (e instanceof ProjectionCancelled) {
        io.stderr.write('styleclip: projection interrupted; nothing was written\n');
        return EXIT_INTERRUPTED;
      }
      throw e;
    } finally {
      await projector?.dispose();
      identity?.dispose();
      await clip?.dispose();
      await generator.dispose();
    }
  },
};
