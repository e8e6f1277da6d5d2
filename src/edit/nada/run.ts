/**
 * A whole StyleGAN-NADA run around `NadaTrainer` (trainer.ts): the frozen generator and the trainable copy's start
 * (`start`, default the generator itself), `--resume` from a checkpoint of this module (the settings then come from
 * its record; flags that contradict it are refused), given training z ([steps, batch, D]), and whole checkpoints
 * (atomic writes) every `saveEvery` steps, at the end and when the run is cancelled (Ctrl-C) after a finished step.
 */
import type { ClipTokenizer } from '../../clip/tokenizer.js';
import type { SessionOptions } from '../../engine/session.js';
import type { HostTensor } from '../../engine/tensor.js';
import { Cancelled, InputError } from '../../errors.js';
import { synthesisShape } from '../../generator/index.js';
import { readResume, readStartGenerator } from './checkpoint.js';
import { parseLayerChoice } from './layers.js';
import type { NadaClip } from './loss.js';
import type { NadaNoise } from './graph.js';
import { NadaTrainer, layerText, type NadaStep } from './trainer.js';

/** What a run is asked for; unset fields take the defaults (or, resuming, the checkpoint's record). */
export interface NadaRunSpec {
  readonly generator: string;
  readonly start?: string;
  readonly resume?: string;
  readonly clips: readonly NadaClip[];
  readonly tokenizer: ClipTokenizer;
  readonly source?: string;
  readonly target?: string;
  readonly steps: number;
  readonly batch?: number;
  readonly layers?: string;
  readonly lr: number;
  readonly seed?: number;
  readonly noise: NadaNoise;
  readonly saveEvery: number;
  /** Training z [steps, batch, D] instead of the seeded ones. */
  readonly z?: HostTensor;
  readonly out: string;
  readonly sessionOptions?: SessionOptions;
}

export interface NadaRunResult {
  readonly status: 'done' | 'interrupted';
  readonly from: number;
  /** The last step finished (and saved). */
  readonly last: number;
  readonly history: readonly NadaStep[];
  readonly layers: string;
}

/** Default values of the fields a record can also give. */
const RECORDED_DEFAULTS = { batch: 2, layers: 'default', seed: 0 } as const;

function fromRecord<T extends string | number>(flag: string, given: T | undefined, recorded: T | undefined, fallback: T | undefined): T {
  if (given !== undefined && recorded !== undefined && given !== recorded) throw new InputError(`--${flag} ${given} differs from the resumed run's ${recorded}: drop --${flag} or start a new run`);
  const v = given ?? recorded ?? fallback;
  if (v === undefined) throw new InputError(`--${flag} is required`);
  return v;
}

function zRows(z: HostTensor, steps: number, batch: number, dim: number): (step: number) => HostTensor {
  const [s, b, d] = z.shape;
  if (z.shape.length !== 3 || s < steps || b !== batch || d !== dim) throw new InputError(`--z must be [steps >= ${steps}, ${batch}, ${dim}] (step, sample, z), got [${z.shape.join(',')}]`);
  const per = batch * dim;
  return (step) => ({ dtype: 'float32', shape: [batch, dim], data: (z.data as Float32Array).slice(step * per, (step + 1) * per) });
}

/** Trains from scratch or from `resume`, writing checkpoints to `out`; a cancelled run saves what it has. */
export async function runNadaTraining(spec: NadaRunSpec, hooks: { readonly signal?: AbortSignal; readonly onStep?: (s: NadaStep) => void } = {}): Promise<NadaRunResult> {
  const frozen = await readStartGenerator(spec.generator, '--generator');
  const resume = spec.resume ? await readResume(spec.resume) : undefined;
  const start = spec.start ? await readStartGenerator(spec.start, '--start') : frozen;
  const r = resume?.record;
  const { nLatent } = synthesisShape(frozen.config);
  const layersText = fromRecord('layers', spec.layers, r?.layers, RECORDED_DEFAULTS.layers);
  const settings = {
    source: fromRecord('source', spec.source, r?.source, undefined),
    target: fromRecord('target', spec.target, r?.target, undefined),
    batch: fromRecord('batch', spec.batch, r?.batch, RECORDED_DEFAULTS.batch),
    seed: fromRecord('seed', spec.seed, r?.seed, RECORDED_DEFAULTS.seed),
    layers: parseLayerChoice(layersText, nLatent),
    steps: spec.steps,
    lr: spec.lr,
    noise: spec.noise,
  };
  const from = r?.step ?? 0;
  if (from >= spec.steps) throw new InputError(`--resume ${spec.resume} has already run ${from} steps: give --steps above ${from} to train further`);
  const zAt = spec.z ? zRows(spec.z, spec.steps, settings.batch, frozen.config.wDim) : undefined;
  const trainer = await NadaTrainer.create(frozen, start, spec.clips, spec.tokenizer, settings, resume, spec.sessionOptions);
  const history: NadaStep[] = [];
  let last = from;
  const result = (status: NadaRunResult['status']): NadaRunResult => ({ status, from, last, history, layers: layerText(settings.layers) });
  try {
    await trainer.train({
      signal: hooks.signal,
      onStep: async (s) => {
        history.push(s);
        last = s.step;
        hooks.onStep?.(s);
        if (s.step % spec.saveEvery === 0 || s.step === spec.steps) await trainer.save(spec.out);
      },
    }, zAt);
    return result('done');
  } catch (e) {
    if (!(e instanceof Cancelled)) throw e;
    if (last > from) await trainer.save(spec.out);
    return result('interrupted');
  } finally {
    await trainer.dispose();
  }
}
