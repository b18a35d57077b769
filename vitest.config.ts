import { defineConfig } from 'vitest/config';

// HVEMU_TEST_JSON=FILE adds vitest's JSON report (CI counts passed and failed tests from it) without
// changing the command: .ci/run runs `npm ci && npm test` exactly as the README says.
const json = process.env.HVEMU_TEST_JSON;

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'guests/**/*.test.ts', 'bench/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    ...(json ? { reporters: ['default', 'json'], outputFile: { json } } : {}),
  },
});
