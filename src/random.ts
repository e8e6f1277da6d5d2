/**
 * Seeded pseudo-random numbers shared by the project, so that every `--seed N` gives the same result on every machine
 * and Node version (Math.random cannot be seeded).
 *
 * - Generator: xoshiro128** 1.1 (Blackman & Vigna, "Scrambled linear pseudorandom number generators", ACM TOMS 2021;
 *   https://prng.di.unimi.it/xoshiro128starstar.c), 128-bit state, 32-bit outputs.
 * - Seeding: the integer seed (0 .. 2^53-1) is expanded into the four state words by SplitMix64 (Steele, Lea & Flood
 *   2014; https://prng.di.unimi.it/splitmix64.c), as the xoshiro authors recommend; each 64-bit SplitMix output gives
 *   two state words (low half first).
 * - Uniforms: u = (x + 0.5) / 2^32 for a 32-bit output x, so u lies strictly inside (0, 1).
 * - Normals: Box-Muller (Box & Muller 1958): two uniforms u1, u2 give r = sqrt(-2 ln u1), then r cos(2 pi u2) followed
 *   by r sin(2 pi u2), computed in float64. Normals consume uniforms in pairs and are returned in that order; an
 *   unused sine is kept for the stream's next normal.
 */

/** 2^32, the range of one generator output. */
const TWO_32 = 4294967296;
const MASK_64 = (1n << 64n) - 1n;
/** SplitMix64 constants (golden-ratio increment and the two multipliers of its output mix). */
const SPLITMIX_GAMMA = 0x9e3779b97f4a7c15n;
const SPLITMIX_M1 = 0xbf58476d1ce4e5b9n;
const SPLITMIX_M2 = 0x94d049bb133111ebn;

export interface Rng {
  /** Next raw 32-bit output (unsigned). */
  uint32(): number;
  /** Uniform in the open interval (0, 1). */
  uniform(): number;
  /** Standard normal N(0, 1) by Box-Muller. */
  normal(): number;
}

/** The four xoshiro128** state words for `seed`, from SplitMix64. */
function seedState(seed: number): Uint32Array {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be an integer in 0..2^53-1, got ${seed}`);
  let x = BigInt(seed);
  const state = new Uint32Array(4);
  for (let i = 0; i < 4; i += 2) {
    x = (x + SPLITMIX_GAMMA) & MASK_64;
    let z = x;
    z = ((z ^ (z >> 30n)) * SPLITMIX_M1) & MASK_64;
    z = ((z ^ (z >> 27n)) * SPLITMIX_M2) & MASK_64;
    z ^= z >> 31n;
    state[i] = Number(z & 0xffffffffn);
    state[i + 1] = Number(z >> 32n);
  }
  return state;
}

const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0;

/** A seeded xoshiro128** stream. */
export function createRng(seed: number): Rng {
  const s = seedState(seed);
  let spare: number | undefined;
  const uint32 = (): number => {
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  };
  const uniform = (): number => (uint32() + 0.5) / TWO_32;
  const normal = (): number => {
    if (spare !== undefined) {
      const v = spare;
      spare = undefined;
      return v;
    }
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const theta = 2 * Math.PI * uniform();
    spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  };
  return { uint32, uniform, normal };
}

/** `n` standard normals from `rng`, rounded to float32. */
export function normals(rng: Rng, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal();
  return out;
}
