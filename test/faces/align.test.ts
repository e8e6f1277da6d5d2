/**
 * FFHQ alignment without the detector: the recipe's geometry on landmarks chosen so the crop is known exactly, PIL
 * semantics of the pixel operations, the blur's accuracy, and paste-back.
 */
import { describe, expect, it } from 'vitest';
import { resizeLikePil } from '../../src/clip/preprocess.js';
import { FFHQ_SIZE, alignFace } from '../../src/faces/align.js';
import { FaceDetector } from '../../src/faces/detect.js';
import { ALIGN_SUPERSAMPLING } from '../../src/invert/photo.js';
import { channelMedian, gaussianFilter, gaussianKernel, symmetricIndex } from '../../src/faces/blur.js';
import { alignedToImage, applyAffine, ffhqCrop, identityQuad, invertAffine, quadDistance, type Point } from '../../src/faces/geometry.js';
import { pasteBack } from '../../src/faces/paste.js';
import { quadTransform, quadTransformResized, reflectIndex, rint, type FloatImage } from '../../src/faces/raster.js';
import type { RgbImage } from '../../src/io/images/image.js';
import { rng } from '../engine/gradcheck.js';
import { centralPsnr, FACE_MODELS, facePaths, readFace, resized } from './helpers.js';

/**
 * 68 landmarks whose FFHQ crop is the square of side 2*half centred at (cx, cy), rotated by `deg`: eyes at
 * centre -/+ (half/4, 0.1*d) ... chosen so |x| = 4 * half_eye_distance = half and c = eye_avg + 0.1 * eye_to_mouth.
 */
function syntheticLandmarks(cx: number, cy: number, half: number, deg = 0): Point[] {
  const a = half / 4; // eye_to_eye = 2a, x = max(2 * 2a, 1.8 * d) = half
  const d = (half / 1.8) * 0.9; // eye_to_mouth, below the eye term
  const local = (px: number, py: number): Point => {
    const r = (deg * Math.PI) / 180;
    return [cx + px * Math.cos(r) - py * Math.sin(r), cy + px * Math.sin(r) + py * Math.cos(r)];
  };
  const eyeY = -0.1 * d;
  const pts: Point[] = Array.from({ length: 68 }, () => local(0, 0));
  for (let i = 36; i < 42; i++) pts[i] = local(-a, eyeY);
  for (let i = 42; i < 48; i++) pts[i] = local(a, eyeY);
  pts[48] = local(-a, eyeY + d);
  pts[54] = local(a, eyeY + d);
  return pts;
}

describe('FFHQ crop geometry (download_ffhq.py)', () => {
  it('follows the recipe: x from eye_to_eye and eye_to_mouth, centre 0.1 eye_to_mouth below the eyes', () => {
    const lm = syntheticLandmarks(511.5, 511.5, 512);
    const crop = ffhqCrop(lm);
    expect(quadDistance(crop.quad, identityQuad(1024))).toBeLessThan(1e-9);
    expect(crop.qsize).toBeCloseTo(1024, 9);
    const rotated = ffhqCrop(syntheticLandmarks(300, 200, 100, 30));
    expect(rotated.qsize).toBeCloseTo(200, 9);
    const [nw, , , ne] = rotated.quad;
    expect((Math.atan2(ne[1] - nw[1], ne[0] - nw[0]) * 180) / Math.PI).toBeCloseTo(30, 9);
  });

  it('alignedToImage maps aligned pixel centres onto the quad', () => {
    const quad = ffhqCrop(syntheticLandmarks(300, 200, 100, 30)).quad;
    const m = alignedToImage(quad, 64);
    const corner = applyAffine(m, [-0.5, -0.5]);
    expect(Math.hypot(corner[0] - quad[0][0], corner[1] - quad[0][1])).toBeLessThan(1e-9);
    const far = applyAffine(m, [63.5, 63.5]);
    expect(Math.hypot(far[0] - quad[2][0], far[1] - quad[2][1])).toBeLessThan(1e-9);
    const back = applyAffine(invertAffine(m), applyAffine(m, [10, 20]));
    expect(back[0]).toBeCloseTo(10, 9);
    expect(back[1]).toBeCloseTo(20, 9);
  });
});

describe('pixel operations with numpy / scipy / PIL semantics', () => {
  it('np.rint, np.pad reflect and scipy reflect indices', () => {
    expect([0.5, 1.5, 2.5, -0.5, 2.4].map(rint)).toEqual([0, 2, 2, -0, 2]);
    expect([-3, -2, -1, 0, 3, 4, 5, 6].map((i) => reflectIndex(i, 4))).toEqual([3, 2, 1, 0, 3, 2, 1, 0]);
    expect([-2, -1, 0, 3, 4, 5].map((i) => symmetricIndex(i, 4))).toEqual([1, 0, 0, 3, 3, 2]);
  });

  it('PIL QUAD + BILINEAR: identity reproduces the image; 2x upsampling interpolates and truncates', () => {
    const img: RgbImage = { width: 2, height: 2, channels: 3, data: Uint8Array.of(0, 0, 0, 100, 100, 100, 0, 0, 0, 100, 100, 100) };
    expect(Array.from(quadTransform(img, identityQuad(2), 2).data)).toEqual(Array.from(img.data));
    const up = quadTransform(img, identityQuad(2), 4);
    // output x = 0..3 samples x_in = 0.25, 0.75, 1.25, 1.75 (edge coordinates): edge-clamped 0, 25, 75, 100
    expect([0, 1, 2, 3].map((u) => up.data[u * 3])).toEqual([0, 25, 75, 100]);
  });

  it('the fused QUAD transform + Lanczos resize is bit-identical to PIL transform then resize', async () => {
    const img = resized(await readFace(facePaths()[4]), 300);
    const quad = ffhqCrop(syntheticLandmarks(140, 160, 120, 17)).quad;
    for (const [t, s] of [
      [512, 100],
      [1024, 256],
    ]) {
      const fused = quadTransformResized(img, quad, t, s);
      const twoStep = resizeLikePil(quadTransform(img, quad, t), s, s, 'lanczos');
      expect(Buffer.from(fused.data).equals(Buffer.from(twoStep.data))).toBe(true);
    }
  });

  it('the coarse-grid Gaussian stays within 0.3 grey levels of the dense scipy-style filter, which is exact', () => {
    const r = rng(5);
    const w = 97;
    const h = 83;
    const data = new Float32Array(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = (x > 40 !== y > 30 ? 230 : 20) + 20 * r();
    const img: FloatImage = { width: w, height: h, data };
    const k = gaussianKernel(3);
    // Direct 2-D reference on one pixel near a corner (reflect boundary).
    let ref = 0;
    for (let i = 0; i < k.length; i++) {
      for (let j = 0; j < k.length; j++) {
        const yy = symmetricIndex(2 + i - 12, h);
        const xx = symmetricIndex(1 + j - 12, w);
        ref += k[i] * k[j] * data[(yy * w + xx) * 3];
      }
    }
    expect(gaussianFilter(img, 3, 1).data[(2 * w + 1) * 3]).toBeCloseTo(ref, 3);
    for (const sigma of [6, 20]) {
      const dense = gaussianFilter(img, sigma, 1).data;
      const coarse = gaussianFilter(img, sigma).data;
      let err = 0;
      for (let i = 0; i < dense.length; i++) err = Math.max(err, Math.abs(dense[i] - coarse[i]));
      console.log(`gaussian sigma ${sigma}: coarse grid max deviation ${err.toFixed(4)} grey levels`);
      expect(err).toBeLessThan(0.3);
    }
  });

  it('np.median per channel of float values across and beyond 0..255 (histogram buckets + quickselect) vs a sort', () => {
    const r = rng(11);
    for (const [w, h] of [
      [41, 31],
      [40, 31],
    ]) {
      const data = Float32Array.from({ length: w * h * 3 }, () => Math.fround(r() * 320 - 20));
      const med = channelMedian({ width: w, height: h, data });
      for (let c = 0; c < 3; c++) {
        const vals = Array.from({ length: w * h }, (_, i) => data[i * 3 + c]).sort((a, b) => a - b);
        const n = vals.length;
        expect(med[c]).toBe(n % 2 ? vals[n >> 1] : Math.fround((vals[n / 2 - 1] + vals[n / 2]) / 2));
      }
    }
  });

  it('np.median per channel, odd and even counts', () => {
    const r = rng(9);
    for (const [w, h] of [
      [7, 5],
      [8, 5],
    ]) {
      const data = Float32Array.from({ length: w * h * 3 }, () => Math.round(r() * 50));
      const med = channelMedian({ width: w, height: h, data });
      for (let c = 0; c < 3; c++) {
        const vals = Array.from({ length: w * h }, (_, i) => data[i * 3 + c]).sort((a, b) => a - b);
        const n = vals.length;
        expect(med[c]).toBe(n % 2 ? vals[n >> 1] : (vals[n / 2 - 1] + vals[n / 2]) / 2);
      }
    }
  });
});

describe('alignFace on an FFHQ image with known landmarks', () => {
  it('recovers the aligned image itself (padding path, 4096 transform, 1024 output)', async () => {
    const img = await readFace(facePaths()[0]);
    const a = alignFace(img, syntheticLandmarks(511.5, 511.5, 512));
    expect(a.size).toBe(1024);
    const psnr = centralPsnr(a.image, img);
    console.log(`alignFace identity crop at 1024: central PSNR ${psnr.toFixed(2)} dB`);
    expect(psnr).toBeGreaterThan(35);
  }, 60_000);

  it("photo edits' 2x supersampled transform vs the recipe's 4096 on real FFHQ photos and landmarks (> 50 dB; measured 54.8-55.7)", async () => {
    const detector = await FaceDetector.load(FACE_MODELS());
    for (const path of facePaths().slice(1, 3)) {
      const img = await readFace(path);
      const [face] = await detector.detect(img);
      const recipe = alignFace(img, face.landmarks);
      const fast = alignFace(img, face.landmarks, { transformSize: FFHQ_SIZE * ALIGN_SUPERSAMPLING });
      const psnr = centralPsnr(fast.image, recipe.image, 0.8);
      console.log(`${path}: 2x vs 4096 transform, PSNR ${psnr.toFixed(2)} dB`);
      expect(psnr).toBeGreaterThan(50);
    }
  }, 120_000);

  it('pads a crop that leaves the image with reflection, blur and median instead of black', async () => {
    const img = resized(await readFace(facePaths()[1]), 256);
    const a = alignFace(img, syntheticLandmarks(127.5, 127.5, 192), { size: 96, transformSize: 384 });
    const ring: number[] = [];
    for (let y = 0; y < 96; y++) for (let x = 0; x < 8; x++) ring.push(a.image.data[(y * 96 + x) * 3]);
    expect(Math.min(...ring)).toBeGreaterThan(0);
    const plain = alignFace(img, syntheticLandmarks(127.5, 127.5, 192), { size: 96, transformSize: 384, padding: false });
    expect(plain.image.data[(48 * 96 + 2) * 3]).toBe(0);
    expect(centralPsnr(a.image, plain.image, 1 / 3)).toBeGreaterThan(40);
  });

  it('pasteBack puts an unchanged aligned face back (inside the crop ≈ the photo, outside exactly)', async () => {
    const photo = resized(await readFace(facePaths()[2]), 512);
    const lm = syntheticLandmarks(260, 250, 150, 20);
    const a = alignFace(photo, lm, { size: 256, transformSize: 1024 });
    const back = pasteBack(photo, a.image, a.quad, 0.1);
    expect(back.data[0]).toBe(photo.data[0]);
    const inner: RgbImage[] = [back, photo].map((im) => {
      const out = new Uint8Array(100 * 100 * 3);
      for (let y = 0; y < 100; y++) out.set(im.data.subarray(((200 + y) * 512 + 210) * 3, ((200 + y) * 512 + 310) * 3), y * 300);
      return { width: 100, height: 100, channels: 3, data: out };
    });
    const psnr = centralPsnr(inner[0], inner[1], 1);
    console.log(`pasteBack round trip: PSNR ${psnr.toFixed(2)} dB inside the crop`);
    expect(psnr).toBeGreaterThan(30);
  });
});
