/**
 * The face-api.js networks as engine graphs (src/faces/tiny_face_detector.ts, landmark68.ts) against face-api.js
 * itself (@vladmandic/face-api on TensorFlow.js, a dev dependency) with the real weights of ../shared/models, on the
 * real FFHQ photos: raw outputs, boxes per detector input size, landmarks; and the whole pipeline (boxes and refined
 * landmarks) against the TensorFlow.js pipeline's answers recorded at commit 37c2b70
 * (test/fixtures/faces/tfjs_pipeline.json, issue 22: "the same boxes and points as today within 0.5 px").
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Session } from '../../src/engine/session.js';
import { DETECTION_SCORE_THRESHOLD, DETECTOR_INPUT_SIZES, FaceDetector, type DetectedFace } from '../../src/faces/detect.js';
import { landmark68Weights, tinyDetectorWeights } from '../../src/faces/face_api_weights.js';
import { LANDMARK_INPUT_SIZE, LANDMARK_OUTPUTS, landmark68Graph } from '../../src/faces/landmark68.js';
import { decodeDetections, detectorInput, TINY_FACE_ANCHORS, tinyFaceDetectorGraph } from '../../src/faces/tiny_face_detector.js';
import { loadWeightsManifest } from '../../src/faces/tfjs_model.js';
import type { RgbImage } from '../../src/io/images/image.js';
import { loadTfjs, toNamedTensorMap, type FaceApiModule, type Tfjs } from '../helpers/tfjs.js';
import { PROJECT_ROOT } from '../helpers/shared.js';
import { FACE_MODELS, facePaths, readFace, transformFace } from './helpers.js';

/** The bound for boxes and points against today's pipeline (px). */
const PIPELINE_TOL_PX = 0.5;
/** Net-level bounds, measured: detector logits differ by <= 1.8e-4 (of |logit| <= 57), boxes by <= 2e-3 px, points by <= 4e-5 px. */
const LOGIT_TOL = 1e-3;
const BOX_TOL_PX = 0.02;
const POINT_TOL_PX = 1e-3;

interface RecordedCase {
  readonly name: string;
  readonly width: number;
  readonly height: number;
  readonly faces: DetectedFace[];
}

const manifest = (file: string): string => `${FACE_MODELS()}/face-api/${file}`;
const int32Tensor = (tf: Tfjs, img: RgbImage) => tf.tensor3d(Int32Array.from(img.data), [img.height, img.width, 3], 'int32');

describe('face-api.js nets on the engine vs face-api.js on TensorFlow.js (real weights, FFHQ photos)', () => {
  let tf: Tfjs;
  let faceapi: FaceApiModule;
  let photos: { name: string; image: RgbImage }[];
  const sessions: Session[] = [];

  beforeAll(async () => {
    ({ tf, faceapi } = await loadTfjs());
    const [a, b] = facePaths();
    const [ia, ib] = await Promise.all([readFace(a), readFace(b)]);
    photos = [
      { name: 'ffhq_0', image: ia },
      { name: 'ffhq_1 rotated 12 deg, half size, 60 px margin', image: transformFace(ib, 12, 0.5, 60).image },
    ];
  });
  afterAll(async () => {
    for (const s of sessions) await s.dispose();
  });

  it('tiny face detector: raw head outputs and boxes per input size match face-api.js locateFaces', async () => {
    const source = await loadWeightsManifest(manifest('tiny_face_detector_model-weights_manifest.json'));
    const reference = new faceapi.TinyFaceDetector();
    reference.loadFromWeightMap(toNamedTensorMap(tf, source) as never);
    const weights = tinyDetectorWeights(source, TINY_FACE_ANCHORS.length);
    let compared = 0;
    for (const inputSize of DETECTOR_INPUT_SIZES) {
      const session = await Session.create(tinyFaceDetectorGraph(weights, inputSize));
      sessions.push(session);
      for (const { image } of photos) {
        const t = int32Tensor(tf, image);
        const raw = (await session.run({ image: { dtype: 'float32', shape: [1, 3, inputSize, inputSize], data: detectorInput(image, inputSize) } })).boxes;
        const want = (await (await (reference as unknown as { forward(x: unknown, s: number): Promise<{ data(): Promise<Float32Array> }> }).forward(t, inputSize)).data());
        const [, ch, cells] = raw.shape;
        const got = raw.data as Float32Array;
        let worst = 0;
        for (let c = 0; c < ch; c++) for (let i = 0; i < cells * cells; i++) worst = Math.max(worst, Math.abs(got[c * cells * cells + i] - want[i * ch + c]));
        expect(worst).toBeLessThanOrEqual(LOGIT_TOL);
        const options = new faceapi.TinyFaceDetectorOptions({ inputSize, scoreThreshold: DETECTION_SCORE_THRESHOLD });
        const ref = (await reference.locateFaces(t as never, options)).map((d) => d.box);
        t.dispose();
        const ours = decodeDetections(got, image.width, image.height, inputSize, DETECTION_SCORE_THRESHOLD);
        const best = ours.sort((p, q) => q.score - p.score).slice(0, ref.length);
        expect(best.length).toBe(ref.length);
        best.forEach((d, i) => {
          const r = ref[i];
          const px = [d.x * image.width - r.x, d.y * image.height - r.y, d.width * image.width - r.width, d.height * image.height - r.height];
          expect(Math.max(...px.map(Math.abs))).toBeLessThanOrEqual(BOX_TOL_PX);
          compared++;
        });
      }
    }
    expect(compared).toBeGreaterThanOrEqual(4);
    reference.dispose();
  });

  it('68-point landmark net: points on 112x112 face crops match face-api.js detectLandmarks', async () => {
    const source = await loadWeightsManifest(manifest('face_landmark_68_model-weights_manifest.json'));
    const reference = new faceapi.FaceLandmark68Net();
    reference.loadFromWeightMap(toNamedTensorMap(tf, source) as never);
    const session = await Session.create(landmark68Graph(landmark68Weights(source, LANDMARK_OUTPUTS), photos.length));
    sessions.push(session);
    const n = LANDMARK_INPUT_SIZE;
    // Each photo's centre square, subsampled to 112x112 (nearest): a face crop the net has not been tuned on.
    const crops = photos.map(({ image }) => {
      const side = Math.min(image.width, image.height) * 0.8;
      const [x0, y0] = [(image.width - side) / 2, (image.height - side) / 2];
      const data = new Uint8Array(n * n * 3);
      for (let y = 0; y < n; y++)
        for (let x = 0; x < n; x++) {
          const s = (Math.floor(y0 + (y * side) / n) * image.width + Math.floor(x0 + (x * side) / n)) * 3;
          data.set(image.data.subarray(s, s + 3), (y * n + x) * 3);
        }
      return { width: n, height: n, channels: 3, data } as RgbImage;
    });
    const feed = new Float32Array(crops.length * 3 * n * n);
    crops.forEach((c, b) => {
      for (let i = 0; i < n * n; i++) for (let k = 0; k < 3; k++) feed[(b * 3 + k) * n * n + i] = c.data[i * 3 + k];
    });
    const got = (await session.run({ image: { dtype: 'float32', shape: [crops.length, 3, n, n], data: feed } })).landmarks.data as Float32Array;
    for (const [b, crop] of crops.entries()) {
      const t = int32Tensor(tf, crop);
      const res = await reference.detectLandmarks(t as never);
      t.dispose();
      const positions = (Array.isArray(res) ? res[0] : res).positions;
      expect(positions.length).toBe(LANDMARK_OUTPUTS / 2);
      positions.forEach((p, i) => {
        expect(Math.abs(got[b * LANDMARK_OUTPUTS + 2 * i] * n - p.x)).toBeLessThanOrEqual(POINT_TOL_PX);
        expect(Math.abs(got[b * LANDMARK_OUTPUTS + 2 * i + 1] * n - p.y)).toBeLessThanOrEqual(POINT_TOL_PX);
      });
    }
    reference.dispose();
  });
});

describe('face pipeline on the engine vs the TensorFlow.js pipeline of commit 37c2b70 (recorded)', () => {
  it(`every FFHQ photo and transformed copy: same faces, boxes and refined landmarks within ${PIPELINE_TOL_PX} px`, async () => {
    const recorded = JSON.parse(readFileSync(`${PROJECT_ROOT}/test/fixtures/faces/tfjs_pipeline.json`, 'utf8')) as {
      transforms: [number, number, number][];
      cases: RecordedCase[];
    };
    const detector = await FaceDetector.load(FACE_MODELS());
    try {
      let i = 0;
      let worst = 0;
      for (const path of facePaths()) {
        const img = await readFace(path);
        for (const image of [img, ...recorded.transforms.map((t) => transformFace(img, ...t).image)]) {
          const want = recorded.cases[i++];
          expect([image.width, image.height], want.name).toEqual([want.width, want.height]);
          const got = await detector.detect(image);
          expect(got.length, want.name).toBe(want.faces.length);
          got.forEach((f, k) => {
            const w = want.faces[k];
            const box = (['x', 'y', 'width', 'height'] as const).map((key) => Math.abs(f.box[key] - w.box[key]));
            const points = f.landmarks.flatMap((p, j) => [Math.abs(p[0] - w.landmarks[j][0]), Math.abs(p[1] - w.landmarks[j][1])]);
            worst = Math.max(worst, ...box, ...points);
          });
        }
      }
      expect(i).toBe(recorded.cases.length);
      expect(worst).toBeLessThanOrEqual(PIPELINE_TOL_PX);
    } finally {
      await detector.dispose();
    }
  });
});
