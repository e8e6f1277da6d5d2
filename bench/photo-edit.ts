/**
 * A 1024 px photo edited end to end with the full-size models: real face detection and 68 landmarks (face-api's nets
 * on the engine, ../shared/models), the FFHQ alignment at 1024 as photo edits do it (2x supersampled transform, blur
 * and resize on the engine), e4e (random
 * weights, full size), a StyleCLIP global-direction edit (FFHQ config-f generator and CLIP ViT-B/32 with random
 * weights, the real FFHQ S_mean_std, random unit fs3 over 5376 channels) and the paste-back into the photo.
 * Figures: ms per stage for a photo seen for the first time with a prompt already typed (the slider case), and a new
 * prompt's cost on top.
 * With --inversion hyperstyle the photo is inverted by HyperStyle (full size, random weights, 5 iterations) instead of
 * e4e and rendered by its adapted generator (whose sessions are built per photo: `adapt_ms`).
 * Flags: --photo PATH (default ../shared/data/faces/ffhq_0.jpg), --inversion e4e|hyperstyle (default e4e).
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { VIT_B_32 } from '../src/clip/config.js';
import { Clip } from '../src/clip/clip.js';
import { ClipTokenizer } from '../src/clip/tokenizer.js';
import { GlobalDirections, channelDirections, parseStyleStats } from '../src/edit/global/index.js';
import * as E from '../src/engine/index.js';
import { photoAlignOptions } from '../src/invert/photo.js';
import { FaceDetector } from '../src/faces/detect.js';
import { pasteBack, DEFAULT_FEATHER } from '../src/faces/paste.js';
import { AlignEngine } from '../src/faces/align_engine.js';
import { alignPhoto } from '../src/faces/pipeline.js';
import { Generator, randomWeights, resolveGeneratorConfig, styleSpaceLayout } from '../src/generator/index.js';
import { readImage, tensorToRgb } from '../src/io/images/image.js';
import { PhotoEncoder } from '../src/invert/encoder.js';
import { randomClipWeights } from './clip.js';
import { randomE4e } from './invert.js';
import { randomHyperStyle } from './hyperstyle.js';
import { machine, peakRssMiB, randomUnitRows, timeMs } from './util.js';

const FS3_ROWS = 5376;

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({ args: argv, options: { photo: { type: 'string' }, inversion: { type: 'string' } } });
  const inversion = values.inversion ?? 'e4e';
  if (!['e4e', 'hyperstyle'].includes(inversion)) throw new Error(`--inversion must be e4e or hyperstyle, got ${inversion}`);
  const photoPath = values.photo ?? '../shared/data/faces/ffhq_0.jpg';
  const config = resolveGeneratorConfig({ resolution: 1024, wDim: 512, mappingLayers: 8, channelMultiplier: 2 });
  const generator = Generator.fromWeights(randomWeights(config, 2024), config);
  const clip = new Clip(randomClipWeights(VIT_B_32), VIT_B_32);
  const tokenizer = await ClipTokenizer.load('../shared/data/clip/bpe_simple_vocab_16e6.txt.gz');
  const layout = styleSpaceLayout(config);
  const stats = parseStyleStats(await readFile('../shared/data/stylespace/ffhq_S_mean_std'), layout);
  const dirs = new GlobalDirections(generator, clip, tokenizer, stats, channelDirections(randomUnitRows(FS3_ROWS, 512), layout, 512));
  const encoder = inversion === 'e4e' ? new PhotoEncoder(randomE4e(), generator, 'random e4e') : undefined;
  const hyperstyle = inversion === 'hyperstyle' ? randomHyperStyle(generator) : undefined;
  /** The photo's codes and the generator that renders it (HyperStyle: adapted by its offsets). */
  const invert = async (img: Parameters<PhotoEncoder['encodeImages']>[0][number]): Promise<{ codes: E.HostTensor; renderer: Generator }> => {
    if (encoder) return { codes: await encoder.encodeImages([img]), renderer: generator };
    const [r] = await hyperstyle!.invertImages([img]);
    return { codes: r.codes, renderer: generator.withOffsets(r.offsets) };
  };
  const detector = await FaceDetector.load('../shared/models');
  const edit = { prompt: 'face with purple hair', alpha: 4.1, beta: 0.1 };

  // Warm-up on the same photo: sessions built, the direction cached (a typed prompt), as in a running server.
  const photo0 = await readImage(photoPath);
  const aligner = new AlignEngine();
  const alignOpts = photoAlignOptions(1024, aligner); // as photo edits align (src/invert/photo.ts)
  const warm = await alignPhoto(detector, photo0, alignOpts);
  const w0 = await invert(warm.image);
  await w0.renderer.synthesizeFromStyles(await dirs.apply(await generator.styles(w0.codes), [edit]));
  if (w0.renderer !== generator) await w0.renderer.dispose();

  const ms: Record<string, number> = {};
  const stage = async <T>(name: string, f: () => Promise<T> | T): Promise<T> => {
    const t = performance.now();
    const r = await f();
    ms[name] = performance.now() - t;
    return r;
  };
  const photo = await stage('decode_ms', () => readImage(photoPath));
  const aligned = await stage('detect_align_ms', () => alignPhoto(detector, photo, alignOpts));
  const { codes, renderer } = await stage('encode_ms', () => invert(aligned.image));
  const moved = await stage('direction_ms', async () => dirs.apply(await generator.styles(codes), [edit]));
  const image = await stage('render_ms', () => renderer.synthesizeFromStyles(moved));
  if (renderer !== generator) {
    // The adapted generator's session is built on its first render: time a second render apart.
    const second = (await timeMs(() => renderer.synthesizeFromStyles(moved), 1, 0)).median;
    ms.adapt_ms = ms.render_ms - second;
    ms.render_ms = second;
    await renderer.dispose();
  }
  await stage('paste_back_ms', () => pasteBack(photo, tensorToRgb(image, 0, '[-1,1]'), aligned.quad, DEFAULT_FEATHER));
  const total = Object.values(ms).reduce((a, b) => a + b, 0);
  const t = performance.now();
  await dirs.direction('a new prompt typed now');
  const newPrompt = performance.now() - t;
  // Of detect + align, detection alone (face-api's nets on the engine): timed again on the same photo.
  const detectOnly = (await timeMs(() => detector.detectOne(photo), 3, 0)).median;
  await detector.dispose();
  await aligner.dispose();
  await encoder?.dispose();
  await hyperstyle?.dispose();
  await generator.dispose();
  await clip.dispose();
  return { machine: machine(), threads: E.defaultThreads(), photo: photoPath, inversion, ...ms, detect_of_detect_align_ms: detectOnly, total_ms: total, new_prompt_extra_ms: newPrompt, peak_rss_mib: peakRssMiB() };
}
