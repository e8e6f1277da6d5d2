/**
 * The MobileFace engine port against TensorFlow.js's own forward of the same graph model on the real faces, its
 * gradient against finite differences, and the tfjs weight formats it reads.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resizeLikePil } from '../../src/clip/preprocess.js';
import { Graph, Session, grad, mul, reduceSum, type HostTensor } from '../../src/engine/index.js';
import { ID_CROP, idCropMatrix } from '../../src/faces/identity.js';
import { identityLoss } from '../../src/optimize/losses.js';
import { embedAligned } from '../../src/faces/pipeline.js';
import { MobileFace } from '../../src/faces/mobileface.js';
import { cropRgb } from '../../src/faces/raster.js';
import { TfjsGraphTranslator } from '../../src/faces/tfjs_graph.js';
import { decodeWeights, type WeightSpec } from '../../src/faces/tfjs_model.js';
import { loadTfjs } from '../helpers/tfjs.js';
import { rgbToTensor, type RgbImage } from '../../src/io/images/image.js';
import { rng } from '../engine/gradcheck.js';
import { sharedPath } from '../helpers/shared.js';
import { cosine, facePaths, readFace, resized } from './helpers.js';
import { loadTfjsReference, type TfjsModel } from './tfjs_reference.js';

const S = 112;

/** NHWC float32 [0,255] of 112x112 RGB images. */
function nhwc(images: readonly RgbImage[]): Float32Array {
  const out = new Float32Array(images.length * S * S * 3);
  images.forEach((im, n) => out.set(im.data, n * S * S * 3));
  return out;
}

/** The same as NCHW. */
function nchw(images: readonly RgbImage[]): HostTensor {
  const out = new Float32Array(images.length * 3 * S * S);
  images.forEach((im, n) => {
    for (let i = 0; i < S * S; i++) for (let c = 0; c < 3; c++) out[(n * 3 + c) * S * S + i] = im.data[i * 3 + c];
  });
  return { dtype: 'float32', shape: [images.length, 3, S, S], data: out };
}

describe('MobileFace port (../shared/models/human/mobileface.json)', () => {
  let net: MobileFace;
  let ref: TfjsModel;
  let faces: RgbImage[];
  let photos: RgbImage[];

  beforeAll(async () => {
    const path = sharedPath('models', 'human', 'mobileface.json');
    net = await MobileFace.load(path);
    ref = await loadTfjsReference(path);
    photos = await Promise.all(facePaths().map(readFace));
    // The ID crop of each 1024 face, resized to 112 on the host (any real-face input serves for parity).
    faces = photos.map((p) => resizeLikePil(cropRgb(resized(p, 256), ID_CROP.left, ID_CROP.top, ID_CROP.right, ID_CROP.bottom), S, S, 'lanczos') as RgbImage);
  });
  afterAll(() => {
    net.dispose();
    ref.dispose();
  });

  it('matches tfjs loadGraphModel + predict on the eight real faces (cosine >= 0.999 per face)', async () => {
    const g = new Graph();
    g.output(net.buildNetwork(g, g.input('x', 'float32', [faces.length, 3, S, S])), 'y');
    const s = await Session.create(g);
    const ours = (await s.run({ x: nchw(faces) })).y.data as Float32Array;
    await s.dispose();
    const theirs = await ref.predict(nhwc(faces), [faces.length, S, S, 3]);
    const cos: number[] = [];
    let maxRel = 0;
    for (let n = 0; n < faces.length; n++) {
      const a = ours.subarray(n * 256, (n + 1) * 256);
      const b = theirs.subarray(n * 256, (n + 1) * 256);
      cos.push(cosine(a, b));
      const scale = Math.max(...Array.from(b, Math.abs));
      for (let i = 0; i < 256; i++) maxRel = Math.max(maxRel, Math.abs(a[i] - b[i]) / scale);
    }
    console.log(`MobileFace port vs tfjs: cosine per face ${cos.map((c) => c.toFixed(7)).join(' ')}; max |diff| / max |ref| ${maxRel.toExponential(2)}`);
    for (const c of cos) expect(c).toBeGreaterThanOrEqual(0.999);
    expect(maxRel).toBeLessThan(1e-4);
  });

  it('buildEmbedding on a 1024 aligned image = tfjs on the ID crop computed on the host', async () => {
    const rows = idCropMatrix(1024, ID_CROP.top, ID_CROP.bottom, S).data as Float32Array;
    const cols = idCropMatrix(1024, ID_CROP.left, ID_CROP.right, S).data as Float32Array;
    const photo = photos[0];
    const crop = new Float32Array(S * S * 3);
    const tmp = new Float64Array(1024 * S * 3);
    for (let y = 0; y < 1024; y++) {
      for (let j = 0; j < S; j++) {
        for (let x = 0; x < 1024; x++) {
          const w = cols[j * 1024 + x];
          if (w === 0) continue;
          for (let c = 0; c < 3; c++) tmp[(y * S + j) * 3 + c] += w * photo.data[(y * 1024 + x) * 3 + c];
        }
      }
    }
    for (let i = 0; i < S; i++) for (let y = 0; y < 1024; y++) {
      const w = rows[i * 1024 + y];
      if (w === 0) continue;
      for (let k = 0; k < S * 3; k++) crop[i * S * 3 + k] += w * tmp[y * S * 3 + k];
    }
    const theirs = await ref.predict(crop, [1, S, S, 3]);
    const g = new Graph();
    g.output(net.buildEmbedding(g, g.input('x', 'float32', [1, 3, 1024, 1024])), 'e');
    const s = await Session.create(g);
    const ours = (await s.run({ x: rgbToTensor(photo, '[-1,1]') })).e.data as Float32Array;
    await s.dispose();
    const c = cosine(ours, theirs);
    console.log(`MobileFace buildEmbedding(1024 image) vs tfjs on the host ID crop: cosine ${c.toFixed(7)}`);
    expect(c).toBeGreaterThanOrEqual(0.999);
    expect(Math.hypot(...ours)).toBeCloseTo(1, 5);
  });

  it('gradients through the engine match finite differences on pixels of a real face', async () => {
    const size = 256;
    const r = rng(11);
    const g = new Graph();
    const x = g.input('x', 'float32', [1, 3, size, size]);
    const weights = g.constant({ dtype: 'float32', shape: [1, 256], data: Float32Array.from({ length: 256 }, () => r() * 2 - 1) }, 'r');
    const loss = reduceSum(mul(net.buildEmbedding(g, x), weights));
    const [dx] = grad(loss, [x]);
    g.output(loss, 'loss');
    g.output(dx, 'dx');
    const s = await Session.create(g);
    const feed = rgbToTensor(resized(photos[3], size), '[-1,1]');
    const data = feed.data as Float32Array;
    const res = await s.run({ x: feed });
    const analytic = res.dx.data as Float32Array;
    // PReLU makes the net piecewise linear: eps small enough to cross few kinks, large enough for float32 losses.
    const eps = 0.01;
    const errs: string[] = [];
    let maxErr = 0;
    let maxRef = 0;
    for (const [c, yy, xx] of [[0, 120, 128], [1, 100, 90], [2, 170, 128], [0, 140, 160], [1, 80, 140], [2, 110, 110]]) {
      const i = (c * size + yy) * size + xx;
      const orig = data[i];
      data[i] = orig + eps;
      const lp = Number((await s.run({ x: feed }, ['loss'])).loss.data[0]);
      data[i] = orig - eps;
      const lm = Number((await s.run({ x: feed }, ['loss'])).loss.data[0]);
      data[i] = orig;
      const numeric = (lp - lm) / (2 * eps);
      errs.push(`${numeric.toExponential(3)}/${analytic[i].toExponential(3)}`);
      maxErr = Math.max(maxErr, Math.abs(numeric - analytic[i]));
      maxRef = Math.max(maxRef, Math.abs(numeric));
    }
    await s.dispose();
    console.log(`MobileFace gradient check (numeric/analytic): ${errs.join(' ')}`);
    expect(maxRef).toBeGreaterThan(0);
    expect(maxErr).toBeLessThanOrEqual(0.03 * maxRef);
  });
});

describe('identityLoss (StyleCLIP criteria/id_loss.py) with MobileFace', () => {
  it('is 1 - cos to a precomputed reference embedding and differentiates w.r.t. the image', async () => {
    const net = await MobileFace.load(sharedPath('models', 'human', 'mobileface.json'));
    const faces = await Promise.all(facePaths().slice(0, 2).map(async (p) => resized(await readFace(p), 256)));
    const [e0] = await embedAligned(net, [faces[0]]);
    const g = new Graph();
    const x = g.input('x', 'float32', [1, 3, 256, 256]);
    const ref = g.input('ref', 'float32', [1, net.dim]);
    const loss = identityLoss(net.buildEmbedding(g, x), ref);
    g.output(loss, 'loss');
    g.output(grad(loss, [x])[0], 'dx');
    const s = await Session.create(g);
    const feed = { ref: { dtype: 'float32' as const, shape: [1, net.dim], data: e0 } };
    const same = await s.run({ ...feed, x: rgbToTensor(faces[0], '[-1,1]') });
    const other = await s.run({ ...feed, x: rgbToTensor(faces[1], '[-1,1]') });
    await s.dispose();
    net.dispose();
    console.log(`identity loss: same face ${Number(same.loss.data[0]).toExponential(2)}, another face ${Number(other.loss.data[0]).toFixed(4)}`);
    expect(Number(same.loss.data[0])).toBeLessThan(1e-5);
    expect(Number(other.loss.data[0])).toBeGreaterThan(0.5);
    expect((other.dx.data as Float32Array).reduce((m, v) => Math.max(m, Math.abs(v)), 0)).toBeGreaterThan(0);
  });
});

describe('tfjs weight formats and the graph translator', () => {
  it('decodes float32, int32 and uint8 / uint16 / float16-quantised weights as tfjs-core does', async () => {
    const { tf } = await loadTfjs();
    const specs: WeightSpec[] = [
      { name: 'f', shape: [3], dtype: 'float32' },
      { name: 'i', shape: [2], dtype: 'int32' },
      { name: 'q8', shape: [4], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.5, min: -1 } },
      { name: 'q16', shape: [2], dtype: 'float32', quantization: { dtype: 'uint16', scale: 0.25, min: 3 } },
      { name: 'h', shape: [2], dtype: 'float32', quantization: { dtype: 'float16' } },
    ];
    const bytes = new Uint8Array([
      ...new Uint8Array(Float32Array.of(1.5, -2, 3.25).buffer),
      ...new Uint8Array(Int32Array.of(7, -9).buffer),
      0, 1, 2, 255,
      ...new Uint8Array(Uint16Array.of(0, 1000).buffer),
      ...new Uint8Array(Uint16Array.of(0x3c00, 0xc000).buffer),
    ]);
    const ours = decodeWeights(specs, bytes, 'test');
    const theirs = tf.io.decodeWeights(bytes.slice().buffer, specs as never);
    for (const s of specs) {
      expect(Array.from(ours.get(s.name)!.data as Float32Array)).toEqual(Array.from(await theirs[s.name].data()));
    }
    expect(() => decodeWeights(specs, bytes.subarray(0, 10), 'test')).toThrow(/ends inside/);
  });

  it('names an operator it cannot translate', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [1, 3, 4, 4]);
    const nodes = [
      { name: 'data', op: 'Placeholder' },
      { name: 'y', op: 'Relu6', input: ['data'] },
    ];
    expect(() => new TfjsGraphTranslator(g, nodes, { inputs: { data: x }, output: 'y', weights: new Map() }).run()).toThrow(/Relu6 'y' is not supported/);
  });
});
