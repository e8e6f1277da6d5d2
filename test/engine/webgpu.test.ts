/**
 * STYLECLIP_DEVICE=webgpu (onnxruntime-node's bundled WebGPU EP): on a machine without an adapter (this one and CI:
 * no GPU, no Vulkan driver) a command fails in one line naming the fix; with an adapter it runs. A device name
 * outside the list is refused naming the choices.
 */
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { fixture } from '../helpers/shared.js';

const saved = process.env.STYLECLIP_DEVICE;
afterEach(() => {
  if (saved === undefined) delete process.env.STYLECLIP_DEVICE;
  else process.env.STYLECLIP_DEVICE = saved;
});

describe('STYLECLIP_DEVICE', () => {
  it('webgpu without an adapter: one line naming the driver to install or the CPU; with one, the image is written', async () => {
    process.env.STYLECLIP_DEVICE = 'webgpu';
    const r = await runCli(['generate', '--generator', fixture('stylegan2_tiny.pt'), '--seed', '1', '--out', join(tmpdir(), `webgpu-${process.pid}.png`)]);
    if (r.code === 0) return; // a machine with a WebGPU adapter
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^styleclip: STYLECLIP_DEVICE=webgpu: this machine has no WebGPU adapter \(.*lavapipe\): install the GPU's Vulkan driver .* or unset STYLECLIP_DEVICE to run on the CPU\n$/);
  }, 60_000);

  it('an unknown device is refused naming cpu, cuda and webgpu', async () => {
    process.env.STYLECLIP_DEVICE = 'tpu';
    const r = await runCli(['generate', '--generator', fixture('stylegan2_tiny.pt'), '--seed', '1', '--out', join(tmpdir(), `tpu-${process.pid}.png`)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/STYLECLIP_DEVICE must be one of cpu, cuda, webgpu, got 'tpu'/);
  }, 60_000);
});
