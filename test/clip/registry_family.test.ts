/**
 * The OpenAI CLIP family and LAION's open_clip models in the registry: all nine `clip.available_models()` names
 * (as aliases), their published sha256 (the URL component openai/CLIP's _download checks), sizes for `models list`,
 * and an open_clip entry loading with exact GELU although its file carries OpenAI's names.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Clip, OPEN_CLIP_FORMAT } from '../../src/clip/clip.js';
import { approxModelSize, cacheHome, cachedFilePath, findModel, loadManifest } from '../../src/io/models/registry.js';
import { runCli } from '../helpers/cli.js';
import { fixture } from '../helpers/shared.js';

/** openai/CLIP clip/clip.py `_MODELS` keys, in its order. */
const OPENAI_NAMES = ['RN50', 'RN101', 'RN50x4', 'RN50x16', 'RN50x64', 'ViT-B/32', 'ViT-B/16', 'ViT-L/14', 'ViT-L/14@336px'];

describe('the CLIP family in the model registry', () => {
  it('every OpenAI model by its available_models() name, sha256 = the URL component before the file name', async () => {
    const manifest = await loadManifest();
    for (const name of OPENAI_NAMES) {
      const e = findModel(manifest, name);
      expect(e?.kind, name).toBe('clip');
      expect(e!.format).toBe('openai-torchscript');
      const [file] = e!.files;
      expect(file.url.split('/').at(-2)).toBe(file.sha256);
      expect(approxModelSize(e!)?.bytes, name).toBeGreaterThan(100 * 2 ** 20);
    }
    for (const name of ['clip-vit-b32-laion2b', 'clip-vit-l14-laion2b']) expect(findModel(manifest, name)?.format).toBe(OPEN_CLIP_FORMAT);
  });

  it('models list shows approximate sizes with a ~', async () => {
    const r = await runCli(['models', 'list']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/clip-rn50x4\s+clip\s+~\d/);
  });

  it('an open_clip registry entry loads with exact GELU, an OpenAI one with QuickGELU', async () => {
    const manifest = await loadManifest();
    for (const name of ['clip-vit-b32-laion2b', 'clip-rn50']) {
      const e = findModel(manifest, name)!;
      const path = cachedFilePath(cacheHome(), e, e.files[0]);
      await mkdir(dirname(path), { recursive: true });
      await copyFile(fixture(name === 'clip-rn50' ? 'clip_rn_tiny.torchscript.pt' : 'clip_vit_tiny.state_dict.pt'), path);
    }
    const laion = await Clip.load('clip-vit-b32-laion2b');
    expect(laion.config.activation).toBe('gelu');
    const rn = await Clip.load('RN50');
    expect(rn.config).toMatchObject({ activation: 'quick_gelu', visionKind: 'resnet' });
    await Promise.all([laion.dispose(), rn.dispose()]);
  });
});
