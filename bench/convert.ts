/**
 * Load time of checkpoints before and after `styleclip models convert` (src/cli/models_convert.ts):
 * - the reference fixtures in their official formats (../shared/fixtures/reference: rosinality zip and legacy .pt,
 *   OpenAI TorchScript and state-dict CLIP) with the generator / CLIP loaders, against `loadConverted` of the result;
 * - full-size random weights written with our safetensors writer: StyleGAN2 config-f 1024 (generator layout.ts
 *   `randomWeights`; only the converted file, as we have no torch.save writer for an original-format copy) and
 *   CLIP ViT-B/32 (bench/clip.ts `randomClipWeights`) stored fp16 under openai/CLIP names as open_clip ships
 *   safetensors (loaded with `loadClipCheckpoint`), against its converted float32 file.
 * Flags: --reps N (default 3), --no-full (fixtures only).
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { convertCheckpoint, loadConverted } from '../src/cli/models_convert.js';
import { VIT_B_32 } from '../src/clip/config.js';
import { loadClipCheckpoint } from '../src/clip/weights.js';
import { floatToHalf, type HostTensor } from '../src/engine/tensor.js';
import { CONFIG_F_FFHQ } from '../src/generator/config.js';
import { randomWeights } from '../src/generator/layout.js';
import { loadGeneratorWeights } from '../src/generator/load.js';
import { writeConverted } from '../src/io/tensors/converted.js';
import { writeSafetensors } from '../src/io/tensors/safetensors.js';
import { fixture } from '../test/helpers/shared.js';
import { randomClipWeights } from './clip.js';
import { machine, peakRssMiB, timeMs } from './util.js';

const FIXTURES = [
  ['stylegan2_tiny.pt', 'generator'],
  ['stylegan2_tiny.legacy.pt', 'generator'],
  ['clip_vit_tiny.torchscript.pt', 'clip'],
  ['clip_vit_tiny.state_dict.pt', 'clip'],
] as const;
const RANDOM_SEED = 1;

const MiB = async (path: string): Promise<number> => Number(((await stat(path)).size / 2 ** 20).toFixed(1));
const round = (ms: number): number => Number(ms.toFixed(1));

function toHalf(weights: ReadonlyMap<string, HostTensor>): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [k, t] of weights) out.set(k, { dtype: 'float16', shape: t.shape, data: Uint16Array.from(t.data as Float32Array, floatToHalf) });
  return out;
}

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({ args: argv, options: { reps: { type: 'string' }, 'no-full': { type: 'boolean' } } });
  const reps = Number(values.reps ?? 3);
  const dir = await mkdtemp(join(tmpdir(), 'styleclip-bench-convert-'));
  const rows: Record<string, unknown>[] = [];
  try {
    for (const [name, kind] of FIXTURES) {
      const out = join(dir, `${name}.safetensors`);
      await convertCheckpoint(fixture(name), out);
      const load = kind === 'generator' ? () => loadGeneratorWeights(fixture(name)) : () => loadClipCheckpoint(fixture(name));
      const before = await timeMs(load, reps);
      const after = await timeMs(() => loadConverted(out), reps);
      rows.push({ file: name, mib: await MiB(fixture(name)), convertedMiB: await MiB(out), beforeMs: round(before.median), afterMs: round(after.median), speedup: round(before.median / after.median) });
    }
    if (!values['no-full']) {
      const gen = join(dir, 'config-f.safetensors');
      const provenance = { source: 'random', sourceFormat: 'random', sourceSha256: '' };
      await writeConverted(gen, 'generator', CONFIG_F_FFHQ, randomWeights(CONFIG_F_FFHQ, RANDOM_SEED), provenance);
      const genAfter = await timeMs(() => loadConverted(gen), reps);
      rows.push({ file: 'random config-f 1024 (converted only)', convertedMiB: await MiB(gen), afterMs: round(genAfter.median) });

      const vitHalf = join(dir, 'vit-b32.fp16.safetensors');
      await writeSafetensors(vitHalf, toHalf(randomClipWeights(VIT_B_32)));
      const vit = join(dir, 'vit-b32.converted.safetensors');
      await convertCheckpoint(vitHalf, vit, { activation: 'quick_gelu' });
      const before = await timeMs(() => loadClipCheckpoint(vitHalf, { activation: 'quick_gelu' }), reps);
      const after = await timeMs(() => loadConverted(vit), reps);
      rows.push({ file: 'random ViT-B/32 fp16 safetensors', mib: await MiB(vitHalf), convertedMiB: await MiB(vit), beforeMs: round(before.median), afterMs: round(after.median), speedup: round(before.median / after.median) });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return { machine: machine(), reps, loads: rows, peakRssMiB: Math.round(peakRssMiB()) };
}
