import { FaceDetector } from '/work/main/src/faces/detect.ts';
import { readImage } from '/work/main/src/io/images/image.ts';
import * as R from '/work/main/src/faces/raster.ts';
import { ffhqCrop } from '/work/main/src/faces/geometry.ts';
const det = await FaceDetector.load();
function psnr(a: Uint8Array, b: Uint8Array, w: number) {
  let s = 0, n = 0; const m = Math.floor(w * 0.1);
  for (let y = m; y < w - m; y++) for (let x = m; x < w - m; x++) for (let c = 0; c < 3; c++) { const d = a[(y * w + x) * 3 + c] - b[(y * w + x) * 3 + c]; s += d * d; n++; }
  return 10 * Math.log10(255 * 255 / (s / n));
}
for (const f of ['ffhq_1.jpg', 'ffhq_2.jpg', 'ffhq_3.jpg']) {
  const img0 = await readImage('/work/shared/data/faces/' + f);
  const faces = await det.detect(img0);
  const P = 400; const quad = ffhqCrop(faces[0].landmarks).quad.map((p) => [p[0] + P, p[1] + P]) as any;
  const img = R.toUint8(R.reflectPad(img0, P, P, P, P));
  for (const size of [1024, 256]) {
    const exact = R.quadTransformResized(img, quad, 4096, size);
    for (const T of [2 * size, 2048]) {
      const t = performance.now();
      const o = R.quadTransformResized(img, quad, T, size);
      console.log(f, size, T, (performance.now() - t).toFixed(0), 'ms psnr', psnr(o.data, exact.data, size).toFixed(2));
    }
  }
}
