/**
 * StyleSpace S (Wu, Lischinski and Shechtman 2021, "StyleSpace Analysis: Disentangled Controls for StyleGAN Image
 * Generation"): the style vector s = A(w) of every modulated layer, concatenated. StyleCLIP's global directions
 * (Patashnik et al. 2021, sec. 6) and its StyleSpace optimisation work in these coordinates.
 *
 * Order (StyleCLIP global_torch, and our synthesis order): conv1@4, toRGB@4, then for every resolution r = 8 .. R:
 * conv0@r (the up-sampling conv), conv1@r, toRGB@r. Each layer's width is its INPUT channel count (the modulation
 * scales input channels). For FFHQ config-f 1024: 26 layers, 9088 channels, of which 17 conv layers with 6048.
 * `wIndex` is the w+ row that styles the layer (toRGB@r and conv0@2r read the same row).
 *
 * StyleCLIP edits conv channels only: ToRGB styles are held at their start values (global directions give them zero
 * weight; the StyleSpace optimisation of StyleCLIP's optimization/run_optimization.py never updates them).
 */
import { synthesisLayers, type LayerSpec } from './layout.js';
import type { GeneratorConfig } from './config.js';

export type StyleLayerKind = 'conv' | 'torgb';

export interface StyleLayer {
  /** StyleCLIP's name, e.g. `conv0_resolution_8`, `toRGB_resolution_4`. */
  readonly name: string;
  readonly kind: StyleLayerKind;
  readonly resolution: number;
  /** Style width = the layer's input channels. */
  readonly channels: number;
  /** The w+ row that styles this layer. */
  readonly wIndex: number;
  /** First channel of this layer in the S vector. */
  readonly offset: number;
  /** The synthesis layer (our weight naming, layout.ts). */
  readonly layer: LayerSpec;
}

export interface StyleSpaceLayout {
  readonly layers: readonly StyleLayer[];
  /** Total channels of S. */
  readonly total: number;
  /** Channels of the conv layers (what edits touch). */
  readonly convChannels: number;
}

/** StyleCLIP's layer name: conv1 at 4 px, `conv0`/`conv1` per higher block, `toRGB`. */
function styleName(l: LayerSpec): string {
  if (l.kind === 'torgb') return `toRGB_resolution_${l.res}`;
  return `${l.kind === 'upconv' ? 'conv0' : 'conv1'}_resolution_${l.res}`;
}

/** The S layout of a generator config (frozen). */
export function styleSpaceLayout(c: GeneratorConfig): StyleSpaceLayout {
  let offset = 0;
  const layers = synthesisLayers(c).map((layer): StyleLayer => {
    const s: StyleLayer = Object.freeze({
      name: styleName(layer),
      kind: layer.kind === 'torgb' ? 'torgb' : 'conv',
      resolution: layer.res,
      channels: layer.inChannels,
      wIndex: layer.latentIndex,
      offset,
      layer,
    });
    offset += layer.inChannels;
    return s;
  });
  const convChannels = layers.filter((l) => l.kind === 'conv').reduce((n, l) => n + l.channels, 0);
  return Object.freeze({ layers: Object.freeze(layers), total: offset, convChannels });
}

/** 1 for the channels of S that edits may change (conv layers), 0 for ToRGB channels: [total]. */
export function convChannelMask(layout: StyleSpaceLayout): Uint8Array {
  const m = new Uint8Array(layout.total);
  for (const l of layout.layers) if (l.kind === 'conv') m.fill(1, l.offset, l.offset + l.channels);
  return m;
}
