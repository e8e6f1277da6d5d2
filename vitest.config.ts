import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    // Tests never touch the user's model cache or the network: an empty cache, downloads off (tests of downloads
    // turn them on explicitly against a loopback server).
    env: { STYLECLIP_HOME: mkdtempSync(join(tmpdir(), 'styleclip-test-cache-')), STYLECLIP_OFFLINE: '1' },
  },
});
