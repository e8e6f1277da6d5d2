/** CLIP: tokenizer, preprocessing, the ViT image and text encoders as engine graphs, checkpoints, zero-shot tools. */
export * from './config.js';
export * from './classifier.js';
export * from './clip.js';
export * from './model.js';
export * from './resnet.js';
export * from './preprocess.js';
export * from './preprocess_graph.js';
export * from './tokenizer.js';
export * from './weights.js';
export * from './weights_hf.js';
export * from './zeroshot.js';
export * from './templates.js';
