/** What the CLIP parity tests compare: a model's outputs on a fixture case's pixels and tokens (`<prefix>_*.npy`). */
import { Clip } from '../../src/clip/clip.js';
import { softmaxRows } from '../../src/clip/zeroshot.js';
import * as E from '../../src/engine/index.js';
import { readNpy } from '../../src/io/tensors/npy.js';
import { fixture } from '../helpers/shared.js';

export interface ClipOutputs {
  image: E.HostTensor;
  text: E.HostTensor;
  logits: E.HostTensor;
  probs: E.HostTensor;
  grad: E.HostTensor;
}

/** Embeddings, logits, probs, and the gradient of sum(encode_image(pixels) * r) w.r.t. the pixels of case `prefix`. */
export async function clipOutputs(clip: Clip, prefix: string): Promise<ClipOutputs> {
  const pixels = await readNpy(fixture(`${prefix}_pixels.npy`));
  const image = await clip.encodeImage(pixels);
  const text = await clip.encodeText(await readNpy(fixture(`${prefix}_tokens.npy`)));
  const logits = clip.logits(image, text).logitsPerImage;
  const g = new E.Graph('clip_grad');
  const px = g.input('pixels', 'float32', pixels.shape);
  const r = g.input('r', 'float32', [pixels.shape[0], clip.config.embedDim]);
  const [gx] = E.grad(E.reduceSum(E.mul(clip.imageEncoder(g, px), r)), [px]);
  g.output(gx, 'grad');
  const s = await E.Session.create(g);
  const grad = (await s.run({ pixels, r: await readNpy(fixture(`${prefix}_grad_r.npy`)) })).grad;
  await s.dispose();
  return { image, text, logits, probs: softmaxRows(logits), grad };
}
