/**
 * A whole mapper training run around `MapperTrainer` (train.ts): the training latents (given w+, or seeded samples
 * at StyleCLIP's truncation), the seeded batch order, `--resume` from an official-format checkpoint, and checkpoints
 * in the official format (`{'state_dict': {mapper.*, decoder.*}, 'opts': {...}}`, mapper/training/coach.py) every
 * `saveEvery` steps, at the end and when the run is cancelled (Ctrl-C) after at least one step.
 */
import type { HostTensor } from '../../engine/tensor.js';
import { Cancelled, InputError } from '../../errors.js';
import { broadcastW, checkLatent, sampleZ, truncate, type Generator } from '../../generator/index.js';
import { readCheckpoint } from '../../io/tensors/checkpoint.js';
import { saveTorch } from '../../io/tensors/torch_write.js';
import { createRng, normals, type Rng } from '../../random.js';
import { initialParams, levelsParamNames, type MapperTrainer, type MapperTrainOptions, type MapperTrainStep } from './train.js';

/** Truncation of sampled training latents (StyleCLIP's sampling truncation). */
const SAMPLE_TRUNCATION = 0.7;

/** The training latents: `given` checked as w+ [N, L, D], else `samples` seeded samples at SAMPLE_TRUNCATION. */
export async function trainingLatents(generator: Generator, source: { readonly given?: HostTensor; readonly where?: string; readonly samples: number; readonly seed: number }): Promise<HostTensor> {
  const { nLatent, wDim } = generator;
  if (source.given) return checkLatent(source.given, 'w+', wDim, nLatent, source.where ?? 'training latents');
  const w = truncate(await generator.map(sampleZ(source.seed, source.samples, wDim)), await generator.meanLatent(), SAMPLE_TRUNCATION);
  return broadcastW(w, nLatent);
}

/** Batch b of epoch e: a seeded permutation of the latents, `batch` rows at a time (wrapping at the end). */
function latentBatches(latents: HostTensor, batch: number, rng: Rng): (step: number) => HostTensor {
  const [count, nLatent, wDim] = latents.shape;
  const per = nLatent * wDim;
  const order = Array.from({ length: count }, (_, i) => i);
  return (step) => {
    const data = new Float32Array(batch * per);
    for (let j = 0; j < batch; j++) {
      const k = (step * batch + j) % count;
      if (k === 0) for (let i = count - 1; i > 0; i--) { const r = rng.uint32() % (i + 1); [order[i], order[r]] = [order[r], order[i]]; }
      data.set((latents.data as Float32Array).subarray(order[k] * per, (order[k] + 1) * per), j * per);
    }
    return { dtype: 'float32', shape: [batch, nLatent, wDim], data };
  };
}

/** The generator's own rosinality tensors as `decoder.*`, so the checkpoint renders without --generator (else none). */
async function decoderTensors(path: string): Promise<[string, HostTensor][]> {
  const { tensors } = await readCheckpoint(path, 'generator checkpoint').catch(() => ({ tensors: new Map<string, HostTensor>() }));
  for (const prefix of ['g_ema.', 'state_dict.decoder.']) {
    const found = [...tensors].filter(([k, t]) => k.startsWith(prefix) && t.dtype === 'float32');
    if (found.length) return found.map(([k, t]) => [`decoder.${k.slice(prefix.length)}`, t]);
  }
  return [];
}

/** A checkpoint's mapper weights for `names` and the step it was saved at (a `--resume` start). */
async function resumeFrom(path: string, names: readonly string[]): Promise<{ params: Map<string, HostTensor>; step: number }> {
  const ck = await readCheckpoint(path, 'mapper checkpoint (--resume)');
  const params = new Map(names.map((k) => {
    const t = ck.tensors.get(`state_dict.${k}`);
    if (!t || t.dtype !== 'float32') throw new InputError(`--resume ${path}: '${k}' is missing; resume needs a checkpoint with the same groups`);
    return [k, t];
  }));
  return { params, step: Number(ck.values['opts.styleclip_step'] ?? 0) };
}

interface MapperRun {
  readonly trainer: MapperTrainer;
  readonly generator: Generator;
  /** The generator's checkpoint, whose tensors become the checkpoint's `decoder.*`. */
  readonly generatorPath: string;
  readonly latents: HostTensor;
  readonly groups: readonly string[];
  readonly opts: MapperTrainOptions;
  readonly out: string;
  readonly resume?: string;
}

interface MapperRunResult {
  readonly status: 'done' | 'interrupted';
  readonly from: number;
  /** The last step finished (and saved when interrupted after `from`). */
  readonly last: number;
  readonly history: readonly MapperTrainStep[];
  /** Whether the checkpoint carries the generator as `decoder.*`. */
  readonly hasDecoder: boolean;
}

/** Trains from scratch or from `resume`, writing checkpoints to `out`; a cancelled run saves what it has. */
export async function runMapperTraining(run: MapperRun, hooks: { readonly signal?: AbortSignal; readonly onStep?: (s: MapperTrainStep) => void } = {}): Promise<MapperRunResult> {
  const { opts, groups, generator } = run;
  const rng = createRng(opts.seed);
  const names = levelsParamNames(groups);
  let params = initialParams(names, generator.wDim, (n) => normals(rng, n));
  let from = 0;
  if (run.resume) ({ params, step: from } = await resumeFrom(run.resume, names));
  const decoder = await decoderTensors(run.generatorPath);
  const save = (p: ReadonlyMap<string, HostTensor>, step: number): Promise<void> =>
    saveTorch(run.out, {
      dict: [
        ['state_dict', { dict: [...p, ...decoder], ordered: true }],
        ['opts', { dict: [
          ['mapper_type', 'LevelsMapper'], ['no_coarse_mapper', !groups.includes('coarse')], ['no_medium_mapper', !groups.includes('medium')],
          ['no_fine_mapper', !groups.includes('fine')], ['description', opts.prompt], ['stylegan_size', generator.config.resolution],
          ['learning_rate', opts.lr], ['batch_size', opts.batch], ['clip_lambda', opts.clipWeight], ['latent_l2_lambda', opts.l2Weight],
          ['id_lambda', opts.idWeight], ['max_steps', opts.steps], ['optim_name', 'adam'], ['styleclip_step', step],
        ] }],
      ],
    });
  const history: MapperTrainStep[] = [];
  let last = from;
  const result = (status: MapperRunResult['status']): MapperRunResult => ({ status, from, last, history, hasDecoder: decoder.length > 0 });
  try {
    await run.trainer.train(params, latentBatches(run.latents, opts.batch, rng), opts, from, {
      signal: hooks.signal,
      onStep: (s) => {
        history.push(s);
        last = s.step;
        hooks.onStep?.(s);
      },
      onCheckpoint: save,
    });
  } catch (e) {
    if (!(e instanceof Cancelled)) throw e;
    if (last > from) await save(params, last);
    return result('interrupted');
  }
  return result('done');
}
