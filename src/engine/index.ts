/** The differentiable ONNX engine: build graphs, differentiate them, run them with onnxruntime-node. */
export * from './graph.js';
export * from './ops_math.js';
export * from './ops_shape.js';
export * from './ops_nn.js';
export * from './grad.js';
export * from './onnx.js';
export * from './session.js';
export * from './tensor.js';
export * from './batching.js';
export * from './bind.js';
export { lowerConvs, chooseTile, defaultWinograd, WINOGRAD_MODES, WINOGRAD_ENV, type WinogradMode, type LoweredConv, type ConvShape } from './lower.js';
