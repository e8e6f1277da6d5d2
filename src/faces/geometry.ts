/**
 * Face geometry as pure functions: the FFHQ oriented crop quad from 68 landmarks, 2-D affine maps, and the map
 * between an aligned image's pixels and the photo it was cut from.
 *
 * The crop follows `recreate_aligned_images` in NVlabs/ffhq-dataset `download_ffhq.py` (Karras et al., "A Style-Based
 * Generator Architecture for Generative Adversarial Networks", CVPR 2019, appendix A): eye centres are the means of
 * landmarks 36-41 and 42-47, the mouth corners are landmarks 48 and 54 (dlib / iBUG 300-W 68-point order); the
 * crop's half-side vector is `x = eye_to_eye - flipud(eye_to_mouth) * [-1, 1]`, normalised and scaled to
 * `max(2.0 |eye_to_eye|, 1.8 |eye_to_mouth|)`, `y` is `x` turned by 90 degrees, and the centre is
 * `eye_avg + 0.1 eye_to_mouth`.
 *
 * Coordinates are pixel-index coordinates (pixel i's centre at i), as dlib reports landmarks and the recipe uses them.
 */

export type Point = readonly [number, number];

/** Corners as the FFHQ recipe and PIL's QUAD transform order them: top-left, bottom-left, bottom-right, top-right. */
export type Quad = readonly [Point, Point, Point, Point];

/** Landmark index ranges [start, end) in the 68-point scheme (dlib shape_predictor_68 / iBUG 300-W). */
export const LANDMARKS_68 = {
  eyeLeft: [36, 42],
  eyeRight: [42, 48],
  mouthOuter: [48, 60],
} as const;
export const LANDMARK_COUNT = 68;
/** `lm_mouth_outer[0]` and `lm_mouth_outer[6]`: the mouth corners. */
export const MOUTH_LEFT = 48;
export const MOUTH_RIGHT = 54;

/** The crop half-side is the larger of these multiples of |eye_to_eye| and |eye_to_mouth| (download_ffhq.py). */
export const EYE_TO_EYE_SCALE = 2.0;
export const EYE_TO_MOUTH_SCALE = 1.8;
/** The crop centre sits this fraction of eye_to_mouth below the eye midpoint (download_ffhq.py). */
export const CENTER_MOUTH_SHIFT = 0.1;

export interface FfhqCrop {
  /** Oriented square crop in photo coordinates. */
  readonly quad: Quad;
  /** Side length `2 |x|` (the recipe's `qsize`). */
  readonly qsize: number;
  readonly center: Point;
}

const sub = (a: Point, b: Point): Point => [a[0] - b[0], a[1] - b[1]];
const add = (a: Point, b: Point): Point => [a[0] + b[0], a[1] + b[1]];
const scale = (a: Point, s: number): Point => [a[0] * s, a[1] * s];
const norm = (a: Point): number => Math.hypot(a[0], a[1]);

function mean(points: readonly Point[], [start, end]: readonly [number, number]): Point {
  let sx = 0;
  let sy = 0;
  for (let i = start; i < end; i++) {
    sx += points[i][0];
    sy += points[i][1];
  }
  return [sx / (end - start), sy / (end - start)];
}

/** The FFHQ crop quad of a face from its 68 landmarks (download_ffhq.py, `rotate_level=True`). */
export function ffhqCrop(landmarks: readonly Point[]): FfhqCrop {
  if (landmarks.length !== LANDMARK_COUNT) throw new Error(`expected ${LANDMARK_COUNT} landmarks, got ${landmarks.length}`);
  const eyeLeft = mean(landmarks, LANDMARKS_68.eyeLeft);
  const eyeRight = mean(landmarks, LANDMARKS_68.eyeRight);
  const eyeAvg = scale(add(eyeLeft, eyeRight), 0.5);
  const eyeToEye = sub(eyeRight, eyeLeft);
  const mouthAvg = scale(add(landmarks[MOUTH_LEFT], landmarks[MOUTH_RIGHT]), 0.5);
  const eyeToMouth = sub(mouthAvg, eyeAvg);
  // x = eye_to_eye - flipud(eye_to_mouth) * [-1, 1]
  let x: Point = [eyeToEye[0] + eyeToMouth[1], eyeToEye[1] - eyeToMouth[0]];
  const len = norm(x);
  if (!(len > 0)) throw new Error('degenerate landmarks: the eyes and mouth do not span a face');
  x = scale(x, Math.max(norm(eyeToEye) * EYE_TO_EYE_SCALE, norm(eyeToMouth) * EYE_TO_MOUTH_SCALE) / len);
  // y = flipud(x) * [-1, 1]
  const y: Point = [-x[1], x[0]];
  const c = add(eyeAvg, scale(eyeToMouth, CENTER_MOUTH_SHIFT));
  const quad: Quad = [sub(sub(c, x), y), add(sub(c, x), y), add(add(c, x), y), sub(add(c, x), y)];
  return { quad, qsize: norm(x) * 2, center: c };
}

/** Row-major 2x3 affine map: (x, y) -> (a x + b y + c, d x + e y + f). */
export type Affine = readonly [number, number, number, number, number, number];

export function applyAffine(m: Affine, p: Point): Point {
  return [m[0] * p[0] + m[1] * p[1] + m[2], m[3] * p[0] + m[4] * p[1] + m[5]];
}

export function invertAffine(m: Affine): Affine {
  const det = m[0] * m[4] - m[1] * m[3];
  if (!(Math.abs(det) > 0)) throw new Error('affine map is singular');
  const a = m[4] / det;
  const b = -m[1] / det;
  const d = -m[3] / det;
  const e = m[0] / det;
  return [a, b, -(a * m[2] + b * m[5]), d, e, -(d * m[2] + e * m[5])];
}

/** `outer ∘ inner`: first `inner`, then `outer`. */
export function composeAffine(outer: Affine, inner: Affine): Affine {
  return [
    outer[0] * inner[0] + outer[1] * inner[3],
    outer[0] * inner[1] + outer[1] * inner[4],
    outer[0] * inner[2] + outer[1] * inner[5] + outer[2],
    outer[3] * inner[0] + outer[4] * inner[3],
    outer[3] * inner[1] + outer[4] * inner[4],
    outer[3] * inner[2] + outer[4] * inner[5] + outer[5],
  ];
}

/** Rotation by `degrees` (counter-clockwise on screen, y down), uniform `scale`, then translation by `t`. */
export function similarity(degrees: number, scaleBy: number, t: Point = [0, 0]): Affine {
  const r = (degrees * Math.PI) / 180;
  const c = Math.cos(r) * scaleBy;
  const s = Math.sin(r) * scaleBy;
  return [c, s, t[0], -s, c, t[1]];
}

/**
 * The map from an aligned `size`x`size` image's pixel indices to photo coordinates. PIL's QUAD transform samples
 * output pixel (u, v) at `nw + (ne - nw) (u + 0.5) / size + (sw - nw) (v + 0.5) / size` (Pillow Geometry.c
 * `quad_transform` evaluates at pixel centres; the recipe passes `quad + 0.5` and the bilinear filter subtracts 0.5);
 * the final antialiased resize keeps pixel centres proportional, so the same holds at any output size.
 */
export function alignedToImage(quad: Quad, size: number): Affine {
  const [nw, sw, , ne] = quad;
  const ax = (ne[0] - nw[0]) / size;
  const ay = (ne[1] - nw[1]) / size;
  const bx = (sw[0] - nw[0]) / size;
  const by = (sw[1] - nw[1]) / size;
  return [ax, bx, nw[0] + 0.5 * (ax + bx), ay, by, nw[1] + 0.5 * (ay + by)];
}

export function mapQuad(m: Affine, q: Quad): Quad {
  return [applyAffine(m, q[0]), applyAffine(m, q[1]), applyAffine(m, q[2]), applyAffine(m, q[3])];
}

/** Largest corner distance between two quads. */
export function quadDistance(a: Quad, b: Quad): number {
  return Math.max(...a.map((p, i) => norm(sub(p, b[i]))));
}

/** The quad of an already aligned `size`x`size` image in its own pixel coordinates (what the recipe would cut). */
export function identityQuad(size: number): Quad {
  const lo = -0.5;
  const hi = size - 0.5;
  return [
    [lo, lo],
    [lo, hi],
    [hi, hi],
    [hi, lo],
  ];
}
