import { readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// the build target the integration tests run (test/helpers/exec.ts): node (dist/bin) or bun (dist/bun);
// each target has a file of its own for what only it has (the Node code cache; Bun's environment)
const target = process.env['CNI_TS_TARGET'] ?? 'node';
const otherTargets = ['node', 'bun'].filter((t) => t !== target);

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string };

export default defineConfig({
  define: { __CNI_TS_VERSION__: JSON.stringify(pkg.version), __CNI_TS_SPLIT_TOOLS__: 'false' },
  test: {
    // two cores: keep it modest; integration tests share the kernel
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 20_000 },
      },
      {
        extends: true,
        test: {
          name: target === 'node' ? 'integration' : `integration-${target}`,
          include: ['test/integration/**/*.test.ts'],
          exclude: otherTargets.map((t) => `test/integration/**/*.${t}-only.test.ts`),
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // namespaces, bridges and lock files are shared kernel/disk state: one file at a time
          fileParallelism: false,
        },
      },
    ],
  },
});
