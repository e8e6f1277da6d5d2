/** Faces: detection and landmarks, FFHQ alignment and paste-back, differentiable identity embeddings. */
export * from './align.js';
export * from './arcface.js';
export * from './detect.js';
export * from './geometry.js';
export * from './identity.js';
export * from './mobileface.js';
export * from './models.js';
export * from './paste.js';
export * from './pipeline.js';
export * from './load_identity.js';
