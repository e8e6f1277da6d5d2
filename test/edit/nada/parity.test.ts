/**
 * StyleGAN-NADA training against the official ZSSGAN code (fixture case `nada`, variants `default` and `auto_all`):
 * losses per step, the text direction, every trained tensor after 3 steps and the untouched ones bit-equal.
 */
import { describe, expect, it } from 'vitest';
import { Clip } from '../../../src/clip/clip.js';
import { ClipTokenizer } from '../../../src/clip/tokenizer.js';
import { readStartGenerator } from '../../../src/edit/nada/checkpoint.js';
import { NadaTrainer } from '../../../src/edit/nada/trainer.js';
import { readCheckpoint } from '../../../src/io/tensors/checkpoint.js';
import { readNpy } from '../../../src/io/tensors/npy.js';
import { fixtureSources } from '../../helpers/models.js';
import { fixture, maxAbsDiff } from '../../helpers/shared.js';
import { readFileSync } from 'node:fs';
import type { HostTensor } from '../../../src/engine/tensor.js';

const manifest = JSON.parse(readFileSync(fixture('manifest.json'), 'utf8')) as { cases: Record<string, unknown>[] };
const nadaCase = (variant: string) => manifest.cases.find((c) => c.kind === 'nada' && c.variant === variant)! as { losses: number[]; trained_parameters: string[]; auto_layer_k: number; templates: string[] };

describe.each(['default', 'auto_all'])('StyleGAN-NADA parity with rinongal/StyleGAN-nada (case nada, variant %s)', (variant) => {
  it('losses per step within 1e-4 abs, the text direction and every trained tensor within 1e-3 x max|expected|, the rest bit-equal', async () => {
    const c = nadaCase(variant);
    const src = fixtureSources();
    const [frozen, start, clip, tokenizer] = await Promise.all([readStartGenerator(src.generator), readStartGenerator(fixture('nada_train_start.pt')), Clip.load(src.clip), ClipTokenizer.load(src.vocab)]);
    const z = await readNpy(fixture(`nada_${variant}_z.npy`));
    const [steps, batch, d] = z.shape;
    const layers = c.auto_layer_k > 0 ? { kind: 'auto' as const, k: c.auto_layer_k } : { kind: 'default' as const };
    const trainer = await NadaTrainer.create(frozen, start, [{ name: 'ViT-B/32', clip, weight: 1 }], tokenizer, { source: 'photo', target: 'sketch', steps, batch, layers, lr: 0.002, seed: 0, noise: 'const' });
    const losses: number[] = [];
    await trainer.train({ onStep: (s) => void losses.push(s.loss) }, (s) => ({ dtype: 'float32', shape: [batch, d], data: (z.data as Float32Array).slice(s * batch * d, (s + 1) * batch * d) }));
    const dir = await readNpy(fixture(`nada_${variant}_text_direction.npy`));
    const dd = maxAbsDiff(trainer.textDirection(0).data as Float32Array, dir.data as Float32Array);
    console.log(`text direction: max abs err ${dd.maxAbs.toExponential(3)}`);
    console.log(`losses ours ${losses.map((l) => l.toFixed(7)).join(', ')} vs official ${c.losses.map((l) => l.toFixed(7)).join(', ')}`);
    const out = `/tmp/nada_${variant}.pt`;
    await trainer.save(out);
    await trainer.dispose();
    await clip.dispose();
    const after = (await readCheckpoint(fixture(`nada_${variant}_after.pt`), 'x')).tensors;
    const ours = (await readCheckpoint(out, 'x')).tensors;
    const trained = new Set(c.trained_parameters);
    let worst = 0;
    for (const [k, t] of after) {
      if (!k.startsWith('g_ema.')) continue;
      const o = ours.get(k) as HostTensor;
      const key = k.slice('g_ema.'.length);
      const { maxAbs, maxRef } = maxAbsDiff(o.data as Float32Array, t.data as Float32Array);
      if (trained.has(key)) {
        worst = Math.max(worst, maxAbs / maxRef);
        expect(maxAbs, key).toBeLessThanOrEqual(1e-3 * maxRef);
      } else expect(maxAbs, key).toBe(0);
    }
    console.log(`trained tensors: worst max abs err / max|expected| ${worst.toExponential(3)}`);
    expect(dd.maxAbs).toBeLessThanOrEqual(1e-3);
    losses.forEach((l, i) => expect(Math.abs(l - c.losses[i])).toBeLessThanOrEqual(1e-4));
  }, 120_000);
});

describe('StyleGAN-NADA adaptive layer selection with K below the W+ rows (the probe runs)', () => {
  it('auto:3 with random noise trains exactly 3 modules at a step, and only their tensors change', async () => {
    const src = fixtureSources();
    const [frozen, clip, tokenizer] = await Promise.all([readStartGenerator(src.generator), Clip.load(src.clip), ClipTokenizer.load(src.vocab)]);
    const trainer = await NadaTrainer.create(frozen, frozen, [{ name: 'ViT-B/32', clip, weight: 1 }], tokenizer, { source: 'photo', target: 'sketch', steps: 1, batch: 2, layers: { kind: 'auto', k: 3 }, lr: 0.002, seed: 3, noise: 'random' });
    const steps: { modules: readonly string[]; loss: number }[] = [];
    await trainer.train({ onStep: (s) => void steps.push(s) });
    expect(steps).toHaveLength(1);
    expect(new Set(steps[0].modules).size).toBe(3);
    expect(Number.isFinite(steps[0].loss)).toBe(true);
    const out = '/tmp/nada_auto3.pt';
    await trainer.save(out);
    await trainer.dispose();
    await clip.dispose();
    const after = (await readCheckpoint(out, 'x')).tensors;
    for (const [k, t] of frozen.stateDict) {
      const changed = maxAbsDiff(after.get(`g_ema.${k}`)!.data as Float32Array, t.data as Float32Array).maxAbs > 0;
      const inChosen = steps[0].modules.some((m) => k.startsWith(`${m}.`)) && !k.endsWith('.kernel');
      if (!inChosen) expect(changed, k).toBe(false);
    }
  }, 120_000);
});
