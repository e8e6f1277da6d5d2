/**
 * Reverse-mode differentiation of engine graphs: `grad(loss, wrt)` appends the backward graph to the same Graph and
 * returns d loss / d wrt as Values, so one onnxruntime call computes the forward pass, the loss terms and the
 * gradients. Each operator has one vector-Jacobian product (VJP) rule in vjp_*.ts; broadcasting is undone by summing
 * over broadcast axes (`unbroadcast`).
 *
 * Reference: Griewank & Walther, "Evaluating Derivatives" (2008), ch. 3 (reverse mode); the rules follow the usual
 * identities (e.g. JAX's and PyTorch's derivative definitions).
 */
import { Graph, Value, type Node } from './graph.js';
import { add } from './ops_math.js';
import { expand } from './ops_shape.js';
import { shapeStr } from './tensor.js';
import { VJP_RULES, type VjpRule } from './vjp.js';

/** Ops whose outputs carry no gradient (comparisons, index computations). */
const NON_DIFFERENTIABLE = new Set(['Greater', 'Less', 'Equal', 'Shape', 'Sign', 'Floor', 'Ceil', 'Round', 'ArgMax', 'ArgMin']);

const isFloat = (v: Value): boolean => v.dtype === 'float32' || v.dtype === 'float64' || v.dtype === 'float16';

export interface GradOptions {
  /** The upstream gradient of `loss` (defaults to ones, i.e. the gradient of sum(loss)). */
  readonly seed?: Value;
}

/** Values that depend (differentiably) on any of `wrt`, in the graph's node order. */
function dependents(g: Graph, wrt: readonly Value[]): Set<Value> {
  const needs = new Set<Value>(wrt);
  for (const n of g.nodes) {
    if (NON_DIFFERENTIABLE.has(n.op)) continue;
    if (n.inputs.some((i) => i && needs.has(i))) for (const o of n.outputs) if (isFloat(o)) needs.add(o);
  }
  return needs;
}

/** Nodes that `loss` depends on. */
function ancestors(g: Graph, loss: Value): Set<Node> {
  const live = new Set<Value>([loss]);
  const nodes = new Set<Node>();
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i];
    if (!n.outputs.some((o) => live.has(o))) continue;
    nodes.add(n);
    for (const inp of n.inputs) if (inp) live.add(inp);
  }
  return nodes;
}

/**
 * Appends the backward graph of `loss` and returns its gradient with respect to each of `wrt` (a zero tensor for
 * those `loss` does not depend on).
 */
export function grad(loss: Value, wrt: readonly Value[], opts: GradOptions = {}): Value[] {
  const g = loss.graph;
  if (!isFloat(loss)) throw new Error(`grad: loss ${loss} is not floating point`);
  const needs = dependents(g, wrt);
  const live = ancestors(g, loss);
  const grads = new Map<Value, Value>();
  const accumulate = (v: Value, d: Value): void => {
    if (d.shape.length !== v.shape.length || d.shape.some((s, i) => s !== v.shape[i])) {
      throw new Error(`grad: gradient ${shapeStr(d.shape)} does not match ${v}`);
    }
    const prev = grads.get(v);
    grads.set(v, prev ? add(prev, d) : d);
  };
  const seed = opts.seed ?? expand(g.scalar(1, loss.dtype), loss.shape);
  accumulate(loss, seed.shape.length === loss.shape.length ? seed : expand(seed, loss.shape));

  const forwardNodes = [...g.nodes];
  for (let i = forwardNodes.length - 1; i >= 0; i--) {
    const n = forwardNodes[i];
    if (!live.has(n) || NON_DIFFERENTIABLE.has(n.op)) continue;
    const gouts = n.outputs.map((o) => grads.get(o));
    if (gouts.every((x) => x === undefined)) continue;
    const want = n.inputs.map((inp) => inp !== undefined && needs.has(inp));
    if (!want.some(Boolean)) continue;
    const rule: VjpRule | undefined = VJP_RULES[n.op];
    if (!rule) throw new Error(`grad: no gradient rule for operator ${n.op}`);
    const gins = rule(n, gouts, want);
    n.inputs.forEach((inp, k) => {
      const d = gins[k];
      if (inp && want[k] && d) accumulate(inp, d);
    });
  }
  return wrt.map((w) => grads.get(w) ?? expand(g.scalar(0, w.dtype), w.shape));
}
