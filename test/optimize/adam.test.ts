import { describe, expect, it } from 'vitest';
import { Adam } from '../../src/optimize/adam.js';
import { styleclipLr } from '../../src/optimize/schedule.js';

describe('Adam', () => {
  it('first step moves each parameter by lr against the gradient sign (bias correction)', () => {
    const p = Float32Array.of(1, -2, 3);
    new Adam(3).step(p, [0.5, -4, 0], 0.1);
    expect(p[0]).toBeCloseTo(0.9, 6);
    expect(p[1]).toBeCloseTo(-1.9, 6);
    expect(p[2]).toBe(3);
  });

  it('matches a hand-computed second step', () => {
    const p = Float32Array.of(0);
    const adam = new Adam(1);
    adam.step(p, [1], 0.1);
    adam.step(p, [2], 0.1);
    const m = 0.9 * 0.1 + 0.1 * 2;
    const v = 0.999 * 0.001 + 0.001 * 4;
    const expected = -0.1 - ((0.1 / (1 - 0.81)) * m) / (Math.sqrt(v) / Math.sqrt(1 - 0.999 ** 2) + 1e-8);
    expect(p[0]).toBeCloseTo(expected, 6);
  });

  it('minimises a quadratic', () => {
    const p = Float32Array.of(5, -3);
    const adam = new Adam(2);
    for (let i = 0; i < 500; i++) adam.step(p, [2 * p[0], 2 * p[1]], 0.05);
    expect(Math.abs(p[0]) + Math.abs(p[1])).toBeLessThan(0.05);
  });

  it('a mask freezes elements', () => {
    const p = Float32Array.of(1, 1);
    new Adam(2).step(p, [1, 1], 0.1, Uint8Array.of(1, 0));
    expect(p[1]).toBe(1);
    expect(p[0]).toBeLessThan(1);
  });
});

describe('StyleCLIP lr schedule', () => {
  it('ramps up linearly, holds, then ramps down with a cosine to zero', () => {
    expect(styleclipLr(0, 0.1)).toBe(0);
    expect(styleclipLr(0.025, 0.1)).toBeCloseTo(0.05, 10);
    expect(styleclipLr(0.5, 0.1)).toBeCloseTo(0.1, 10);
    expect(styleclipLr(0.875, 0.1)).toBeCloseTo(0.05, 10);
    expect(styleclipLr(1, 0.1)).toBeCloseTo(0, 10);
  });
});
