/** The HTTP API as a library: `createApp` (Hono) over services, `loadServices` from model files, `AppType` for `hc`. */
export { createApp, type AppDeps, type AppType } from './app.js';
export { listen, type Listening } from './http.js';
export { LocalQueue } from '../jobs/queue.js';
export { JobStore } from '../jobs/store.js';
export { loadServices, type ModelPaths, type Services } from '../jobs/wiring.js';
