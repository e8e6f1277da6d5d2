/**
 * The one weight-binding idiom: a name -> tensor map becomes graph constants on first use, each name one
 * initializer however often the graph reads it.
 */
import type { Graph, Value } from './graph.js';
import type { HostTensor } from './tensor.js';

/** Named float32 weights as a loader produces them (state-dict names after its rule table). */
export type WeightMap = ReadonlyMap<string, HostTensor>;

/** Looks up a weight as a graph constant. */
export type Param = (name: string) => Value;

/** Binds `weights` to `g`; an unknown name throws with `where` (the model) in the message. */
export function bindWeights(g: Graph, weights: WeightMap, where = 'weights'): Param {
  const bound = new Map<string, Value>();
  return (name) => {
    let v = bound.get(name);
    if (!v) {
      const t = weights.get(name);
      if (!t) throw new Error(`${where}: no tensor '${name}'`);
      v = g.constant(t, name);
      bound.set(name, v);
    }
    return v;
  };
}
