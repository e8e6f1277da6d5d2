/**
 * Identity embeddings inside engine graphs. An `IdentityNet` adds its face-recognition network to a caller's graph,
 * so a loss such as `1 - cos(ID(G(w)), ID(G(w0)))` (StyleCLIP's ID loss, `criteria/id_loss.py`) is differentiated by
 * the engine together with the generator and CLIP.
 *
 * Input: FFHQ-aligned images [N,3,S,S] in [-1,1] (the generator's output range), any S. The face is cut out the way
 * StyleCLIP's IDLoss does it (`ID_CROP`): adaptive average pooling to 256x256 (skipped at S = 256), the crop
 * rows 35:223, columns 32:220, adaptive average pooling to the net's 112x112 input. The whole chain is linear and
 * separable, so it is one constant matrix per axis: `Ah · X · Aw^T` (two MatMuls).
 */
import { Graph, Value } from '../engine/graph.js';
import { matmul } from '../engine/ops_math.js';
import { transpose2d, type HostTensor } from '../engine/tensor.js';

export interface IdentityNet {
  readonly name: string;
  /** Side of the square input the network itself takes (after `ID_CROP`). */
  readonly inputSize: number;
  /** Embedding dimension. */
  readonly dim: number;
  /** Unit-length embeddings [N, dim] of aligned images [N,3,S,S] in [-1,1]. */
  buildEmbedding(g: Graph, alignedImage: Value): Value;
  dispose(): void;
}

/**
 * StyleCLIP `criteria/id_loss.py` `extract_feats`: `AdaptiveAvgPool2d((256, 256))` unless already 256, then
 * `x[:, :, 35:223, 32:220]`, then `AdaptiveAvgPool2d((112, 112))`. The crop is the inner face of the FFHQ frame, close
 * to the ArcFace / InsightFace 112x112 alignment both ID networks here were trained on.
 */
export const ID_CROP = { frame: 256, top: 35, bottom: 223, left: 32, right: 220 } as const;

/** torch AdaptiveAvgPool1d as a matrix [outSize, inSize]: bin i averages [floor(i in / out), ceil((i+1) in / out)). */
export function adaptivePoolMatrix(inSize: number, outSize: number): Float64Array {
  const m = new Float64Array(outSize * inSize);
  for (let i = 0; i < outSize; i++) {
    const start = Math.floor((i * inSize) / outSize);
    const end = Math.ceil(((i + 1) * inSize) / outSize);
    for (let j = start; j < end; j++) m[i * inSize + j] = 1 / (end - start);
  }
  return m;
}

function matmulHost(a: Float64Array, b: Float64Array, n: number, k: number, m: number): Float64Array {
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < k; t++) {
      const av = a[i * k + t];
      if (av === 0) continue;
      for (let j = 0; j < m; j++) out[i * m + j] += av * b[t * m + j];
    }
  }
  return out;
}

/** The [outSize, size] matrix of pool-to-256, crop rows/cols [lo, hi), pool-to-outSize along one axis. */
export function idCropMatrix(size: number, lo: number, hi: number, outSize: number): HostTensor {
  const toFrame = size === ID_CROP.frame ? undefined : adaptivePoolMatrix(size, ID_CROP.frame);
  const crop = new Float64Array((hi - lo) * ID_CROP.frame);
  for (let i = 0; i < hi - lo; i++) crop[i * ID_CROP.frame + lo + i] = 1;
  const pooled = matmulHost(adaptivePoolMatrix(hi - lo, outSize), crop, outSize, hi - lo, ID_CROP.frame);
  const m = toFrame ? matmulHost(pooled, toFrame, outSize, ID_CROP.frame, size) : pooled;
  return { dtype: 'float32', shape: [outSize, size], data: Float32Array.from(m) };
}

/** `ID_CROP` applied in the graph: [N,3,S,S] -> [N,3,outSize,outSize]. */
export function buildIdCrop(x: Value, outSize: number): Value {
  if (x.rank !== 4 || x.shape[1] !== 3 || x.shape[2] !== x.shape[3]) {
    throw new Error(`identity: expected aligned images [N,3,S,S], got ${x}`);
  }
  const g = x.graph;
  const s = x.shape[2];
  const rows = g.constant(idCropMatrix(s, ID_CROP.top, ID_CROP.bottom, outSize), 'id_crop_rows');
  const colsT = idCropMatrix(s, ID_CROP.left, ID_CROP.right, outSize);
  const cols = g.constant(transpose2d(colsT), 'id_crop_cols_t');
  return matmul(rows, matmul(x, cols));
}

