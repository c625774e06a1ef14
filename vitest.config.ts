import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    pool: 'forks',
    // Two test files at a time, even on two cores: many wait on servers, terminals or child
    // processes for much of their run, and vitest's default (cores − 1) would run one at a time.
    poolOptions: { forks: { minForks: 1, maxForks: 2 } },
  },
})
