/**
 * The FFHQ alignment's heavy steps on the engine (onnxruntime, every core), for photo edits: the padding step's
 * Gaussian blend (./blur.ts's coarse-grid filter as four MatMuls, `L_y K_y^T X K_x L_x^T`) and the final antialiased
 * resize (Pillow's Lanczos as two strided depthwise convolutions). The geometry is ./align.ts `planAlignment`; the
 * median, its blend and the bilinear QUAD sampling (./raster.ts `quadTransform`, PIL's, exactly) stay in JavaScript:
 * onnxruntime's GridSample parallelises over channels only and took 280 ms at 2048 px where the JavaScript sampler
 * takes ~200. Float32 where the recipe's pure JavaScript path (./align.ts `alignFace`, bit-identical to PIL) is
 * float64 or fixed point; the recipe's uint8 steps are kept (`np.rint` before the transform, rounding after each
 * resize pass). test/faces/align.test.ts compares the two on real photos.
 *
 * Lanczos at an integer ratio r has one kernel of 6r taps for every output (Pillow `precompute_coeffs`); at the edges
 * Pillow clips the window and renormalises, which is the zero-padded convolution divided by the weight that fell
 * inside (a per-column constant).
 */
import { Graph, type Value } from '../engine/graph.js';
import { add, clip, matmul, mul, round, sub } from '../engine/ops_math.js';
import { conv } from '../engine/ops_nn.js';
import { transpose } from '../engine/ops_shape.js';
import { Session, type SessionOptions } from '../engine/session.js';
import { f32, tensor, type HostTensor } from '../engine/tensor.js';
import { precomputeCoeffs } from '../io/images/resample.js';
import { tensorToRgb, type RgbImage } from '../io/images/image.js';
import { BLUR_MASK_GAIN, BLUR_FRACTION, paddedQuad, paddingMask, type AlignedFace, type AlignmentPlan } from './align.js';
import { gaussianAxisOperators, medianOf } from './blur.js';
import { quadTransformPlanar, quadTransformResized, reflectPadPlanar, rint } from './raster.js';

/** A 1-D Lanczos resize by an integer ratio as a convolution: the kernel, its pads and the inside weight per output. */
interface LanczosConv {
  readonly taps: Float32Array;
  readonly ratio: number;
  readonly pads: readonly [number, number];
  readonly norm: Float32Array;
}

/** Pillow's Lanczos coefficients for `inSize -> outSize` as one shared kernel (./align_engine.ts header). */
function lanczosConv(inSize: number, outSize: number): LanczosConv {
  const ratio = inSize / outSize;
  const c = precomputeCoeffs(inSize, outSize, 'lanczos');
  const mid = outSize >> 1;
  const taps = Float32Array.from(c.weights.subarray(mid * c.ksize, mid * c.ksize + c.count[mid]));
  const before = ratio * mid - c.start[mid];
  const after = (outSize - 1) * ratio + taps.length - inSize - before;
  const norm = new Float32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    const first = ratio * o - before;
    if (Math.max(0, first) !== c.start[o]) throw new Error(`Lanczos ${inSize}->${outSize}: output ${o} does not follow the shared kernel`);
    for (let t = 0; t < taps.length; t++) if (first + t >= 0 && first + t < inSize) norm[o] += taps[t];
  }
  return { taps, ratio, pads: [before, after], norm };
}

/** Clip(Round(x), 0, 255): a uint8 step of the recipe. */
const toByte = (x: Value): Value => clip(round(x), 0, 255);

/** The padding step's blur blend: planar x [3,H,W] -> x + (blur(x) - x) * clip(mask * 3 + 1, 0, 1). */
function blurBlendGraph(h: number, w: number, sigma: number): Graph {
  const g = new Graph(`align-blur-${w}x${h}`);
  const x = g.input('image', 'float32', [3, h, w]);
  const mask = g.input('mask', 'float32', [1, h, w]);
  const ax = gaussianAxisOperators(w, sigma);
  const ay = gaussianAxisOperators(h, sigma);
  const kx = g.constant(f32([w, ax.nodes], ax.k), 'kx');
  const lx = g.constant(f32([w, ax.nodes], ax.l), 'lx');
  const ky = g.constant(f32([h, ay.nodes], ay.k), 'ky');
  const ly = g.constant(f32([h, ay.nodes], ay.l), 'ly');
  const coarse = matmul(transpose(ky, [1, 0]), matmul(x, kx)); // K_y^T X K_x: [3, ny, nx]
  const blurred = matmul(matmul(ly, coarse), transpose(lx, [1, 0])); // L_y (..) L_x^T: [3, H, W]
  const wt = clip(add(mul(mask, BLUR_MASK_GAIN), 1), 0, 1);
  g.output(add(x, mul(sub(blurred, x), wt)), 'blended');
  return g;
}

/** Lanczos along one axis of [1,3,H,W] (axis 3 or 2) as a strided depthwise conv, renormalised, rounded to a byte. */
function lanczosPass(g: Graph, x: Value, l: LanczosConv, axis: 2 | 3, name: string): Value {
  const n = l.taps.length;
  const shape = axis === 3 ? [3, 1, 1, n] : [3, 1, n, 1];
  const taps = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) taps.set(l.taps, c * n);
  const [b, e] = l.pads;
  const y = conv(x, g.constant(f32(shape, taps), `${name}_taps`), undefined, {
    strides: axis === 3 ? [1, l.ratio] : [l.ratio, 1],
    pads: axis === 3 ? [0, b, 0, e] : [b, 0, e, 0],
    group: 3,
  });
  const inv = Float32Array.from(l.norm, (v) => 1 / v);
  return toByte(mul(y, g.constant(f32(axis === 3 ? [1, 1, 1, inv.length] : [1, 1, inv.length, 1], inv), `${name}_norm`)));
}

/** The final resize: planar x [1,3,S,S] bytes (the QUAD transform's output) -> [1,3,size,size] bytes, Pillow's Lanczos. */
function resizeGraph(transformSize: number, size: number): Graph {
  const g = new Graph(`align-resize-${transformSize}-${size}`);
  const x = g.input('image', 'float32', [1, 3, transformSize, transformSize]);
  const l = lanczosConv(transformSize, size);
  g.output(lanczosPass(g, lanczosPass(g, x, l, 3, 'lanczos_h'), l, 2, 'lanczos_v'), 'aligned');
  return g;
}

/** Sessions kept per image shape: photo crops come in many sizes, so the least recently used beyond this are released. */
export const ALIGN_SESSIONS_KEPT = 4;

interface Held {
  readonly session: Promise<Session>;
  busy: number;
}

/** Runs photo-edit alignments on the engine (sessions per image shape, the latest few kept); `dispose()` releases them. */
export class AlignEngine {
  private readonly held = new Map<string, Held>();

  constructor(private readonly options: SessionOptions = {}) {}

  /** Sessions held now (at most ALIGN_SESSIONS_KEPT once idle). */
  get sessionCount(): number {
    return this.held.size;
  }

  /** Runs `feeds` through the session for `key` (built on a miss), keeping the cache to ALIGN_SESSIONS_KEPT idle entries. */
  private async run(key: string, build: () => Graph, feeds: Record<string, HostTensor>): Promise<HostTensor> {
    let h = this.held.get(key);
    if (h) this.held.delete(key);
    else {
      h = { session: Session.create(build(), { memoryArena: false, ...this.options }), busy: 0 };
      h.session.catch(() => this.held.delete(key));
    }
    this.held.set(key, h);
    for (const [k, old] of this.held) {
      if (this.held.size <= ALIGN_SESSIONS_KEPT) break;
      if (old.busy > 0 || old === h) continue;
      this.held.delete(k);
      void old.session.then((s) => s.dispose()).catch(() => undefined);
    }
    h.busy++;
    try {
      const session = await h.session;
      return Object.values(await session.run(feeds))[0];
    } finally {
      h.busy--;
    }
  }

  /** Step 4's blend (blur on the engine, median in JavaScript) -> the padded image in bytes (`np.rint`, clipped). */
  private async padAndBlend(plan: AlignmentPlan, pad: readonly [number, number, number, number]): Promise<RgbImage> {
    const padded = reflectPadPlanar(plan.image, pad[0], pad[1], pad[2], pad[3]);
    const { width: w, height: h } = padded;
    const n = w * h;
    const mask = paddingMask(w, h, pad);
    const sigma = plan.qsize * BLUR_FRACTION;
    const blended = (await this.run(`blur-${w}x${h}-${sigma}`, () => blurBlendGraph(h, w, sigma), {
      image: tensor('float32', [3, h, w], padded.data),
      mask: tensor('float32', [1, h, w], mask),
    })).data as Float32Array;
    const median = [0, 1, 2].map((c) => medianOf(blended.subarray(c * n, (c + 1) * n)));
    const data = new Uint8Array(3 * n);
    for (let c = 0; c < 3; c++) {
      const m = median[c];
      for (let i = 0, p = c * n; i < n; i++, p++) {
        const k = mask[i];
        const v = blended[p];
        const r = rint(k <= 0 ? v : Math.fround(v + (m - v) * (k < 1 ? k : 1)));
        data[i * 3 + c] = r < 0 ? 0 : r > 255 ? 255 : r;
      }
    }
    return { width: w, height: h, channels: 3, data };
  }

  /** Steps 4 and 5 of `plan` (./align.ts), as the file header says. */
  async align(plan: AlignmentPlan, landmarks: AlignedFace['landmarks']): Promise<AlignedFace> {
    const { size, transformSize } = plan;
    const img = plan.pad ? await this.padAndBlend(plan, plan.pad) : plan.image;
    const done = (image: RgbImage): AlignedFace => ({ image, quad: plan.photoQuad, landmarks, size });
    const ratio = transformSize / size;
    if (!Number.isInteger(ratio) || ratio === 1) return done(quadTransformResized(img, paddedQuad(plan), transformSize, size));
    const feed = tensor('float32', [1, 3, transformSize, transformSize], quadTransformPlanar(img, paddedQuad(plan), transformSize));
    const out = await this.run(`resize-${transformSize}-${size}`, () => resizeGraph(transformSize, size), { image: feed });
    return done(tensorToRgb(out, 0, '[0,255]'));
  }

  async dispose(): Promise<void> {
    const all = [...this.held.values()];
    this.held.clear();
    for (const h of all) await (await h.session.catch(() => undefined))?.dispose();
  }
}
