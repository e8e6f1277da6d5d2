/**
 * Photo edits' alignment on the engine (src/faces/align_engine.ts: the padding blur as MatMuls, the Lanczos resize as
 * strided convolutions, float32) against the JavaScript path at the same 2x supersampling (bit-identical to PIL and
 * scipy) and the recipe's 4096, on real FFHQ photos with the real detector's landmarks.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { alignFace, planAlignment, FFHQ_SIZE } from '../../src/faces/align.js';
import { AlignEngine, ALIGN_SESSIONS_KEPT } from '../../src/faces/align_engine.js';
import { gaussianAxisOperators, gaussianFilter } from '../../src/faces/blur.js';
import { FaceDetector } from '../../src/faces/detect.js';
import { ALIGN_SUPERSAMPLING } from '../../src/invert/photo.js';
import { rng } from '../engine/gradcheck.js';
import { centralPsnr, FACE_MODELS, facePaths, readFace, transformFace } from './helpers.js';

/** Engine vs JavaScript at the same supersampling: measured 69.0-76.4 dB (padded and unpadded crops). */
const SAME_PATH_MIN_DB = 65;
/** The issue's bound for photo edits' crops against the recipe (today's 54.8-55.7 dB). */
const RECIPE_MIN_DB = 50;

describe('alignment on the engine', () => {
  const engine = new AlignEngine();
  afterAll(() => engine.dispose());

  it(`vs the JavaScript 2x path (> ${SAME_PATH_MIN_DB} dB) and the recipe's 4096 (> ${RECIPE_MIN_DB} dB), padded and unpadded, real photos`, async () => {
    const detector = await FaceDetector.load(FACE_MODELS());
    try {
      const opts = { size: FFHQ_SIZE, transformSize: FFHQ_SIZE * ALIGN_SUPERSAMPLING };
      for (const path of facePaths().slice(2, 4)) {
        const img = await readFace(path);
        const [face] = await detector.detect(img);
        const recipe = alignFace(img, face.landmarks).image;
        for (const padding of [true, false]) {
          const plan = planAlignment(img, face.landmarks, { ...opts, padding });
          expect(plan.pad !== undefined).toBe(padding);
          const ours = (await engine.align(plan, face.landmarks)).image;
          const js = alignFace(img, face.landmarks, { ...opts, padding }).image;
          const same = centralPsnr(ours, js, 1);
          const vsRecipe = centralPsnr(ours, recipe, 0.8);
          console.log(`${path} padding=${padding}: engine vs JavaScript ${same.toFixed(2)} dB, vs recipe ${vsRecipe.toFixed(2)} dB`);
          expect(same).toBeGreaterThan(SAME_PATH_MIN_DB);
          if (padding) expect(vsRecipe).toBeGreaterThan(RECIPE_MIN_DB);
        }
      }
    } finally {
      await detector.dispose();
    }
  }, 120_000);

  it(`keeps at most ${ALIGN_SESSIONS_KEPT} sessions over photos of many sizes`, async () => {
    const detector = await FaceDetector.load(FACE_MODELS());
    try {
      const img = await readFace(facePaths()[0]);
      for (const scale of [0.5, 0.55, 0.6, 0.65, 0.7, 0.75]) {
        const photo = transformFace(img, 5, scale, 40).image;
        const [face] = await detector.detect(photo);
        await engine.align(planAlignment(photo, face.landmarks, { size: 256, transformSize: 512 }), face.landmarks);
      }
      expect(engine.sessionCount).toBeLessThanOrEqual(ALIGN_SESSIONS_KEPT);
    } finally {
      await detector.dispose();
    }
  }, 120_000);
});

describe('gaussianAxisOperators', () => {
  it('L_y K_y^T X K_x L_x^T equals gaussianFilter (coarse grid) on a random image within 1e-4 grey levels', () => {
    const [w, h, sigma] = [37, 29, 6.3];
    const r = rng(7);
    const x = Float32Array.from({ length: w * h * 3 }, () => r() * 255);
    const want = gaussianFilter({ width: w, height: h, data: x }, sigma).data;
    const ax = gaussianAxisOperators(w, sigma);
    const ay = gaussianAxisOperators(h, sigma);
    let worst = 0;
    for (let c = 0; c < 3; c++) {
      // coarse[m][j] = sum_y,x K_y[y,m] X[y,x] K_x[x,j]
      const coarse = new Float64Array(ay.nodes * ax.nodes);
      for (let m = 0; m < ay.nodes; m++)
        for (let j = 0; j < ax.nodes; j++) {
          let s = 0;
          for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) s += ay.k[y * ay.nodes + m] * x[(y * w + xx) * 3 + c] * ax.k[xx * ax.nodes + j];
          coarse[m * ax.nodes + j] = s;
        }
      for (let y = 0; y < h; y++)
        for (let xx = 0; xx < w; xx++) {
          let s = 0;
          for (let m = 0; m < ay.nodes; m++) for (let j = 0; j < ax.nodes; j++) s += ay.l[y * ay.nodes + m] * coarse[m * ax.nodes + j] * ax.l[xx * ax.nodes + j];
          worst = Math.max(worst, Math.abs(s - want[(y * w + xx) * 3 + c]));
        }
    }
    expect(worst).toBeLessThan(1e-4);
  });
});
