/**
 * The reference forward for the MobileFace port: TensorFlow.js's own `loadGraphModel` + `predict` on the same
 * graph model, loaded through a file IOHandler written here from the JSON and its weight files (tfjs decodes the
 * weights itself, independently of src/faces/tfjs_model.ts).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type * as TF from '@tensorflow/tfjs';
import { loadTfjs } from '../helpers/tfjs.js';

/** A tfjs IOHandler reading `model.json` and the weight files its manifest lists. */
export function fileIOHandler(jsonPath: string): TF.io.IOHandler {
  return {
    load: async () => {
      const json = JSON.parse(readFileSync(jsonPath, 'utf8'));
      const groups = json.weightsManifest as { paths: string[]; weights: TF.io.WeightsManifestEntry[] }[];
      const buffers = groups.flatMap((g) => g.paths.map((p) => readFileSync(join(dirname(jsonPath), p))));
      const all = Buffer.concat(buffers);
      return {
        modelTopology: json.modelTopology,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        signature: json.signature,
        weightSpecs: groups.flatMap((g) => g.weights),
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
      };
    },
  };
}

export interface TfjsModel {
  /** NHWC float32 input [N, h, w, c] -> the model's single output, flattened. */
  predict(input: Float32Array, shape: [number, number, number, number]): Promise<Float32Array>;
  dispose(): void;
}

export async function loadTfjsReference(jsonPath: string): Promise<TfjsModel> {
  const { tf } = await loadTfjs();
  const model = await tf.loadGraphModel(fileIOHandler(jsonPath));
  return {
    async predict(input, shape) {
      const x = tf.tensor4d(input, shape, 'float32');
      const y = model.predict(x) as TF.Tensor;
      const out = (await y.data()) as Float32Array;
      x.dispose();
      y.dispose();
      return out;
    },
    dispose: () => model.dispose(),
  };
}
