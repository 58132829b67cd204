/**
 * The cleanup every integration file of the "namespaces plus a temp dir per
 * test" shape registers: after each test its namespaces (`env.cleanup()`) and
 * its temp dir are removed, even when the test failed; after the file, no
 * namespace this process created is left.
 */
import { rmSync } from 'node:fs';
import { afterAll, afterEach, expect } from 'vitest';
import { leftoverTestNetns } from './netns.ts';

export function removeAfterEach(current: () => { env: { cleanup(): void } | undefined; dir: string | undefined }): void {
  afterEach(() => {
    const { env, dir } = current();
    try {
      env?.cleanup();
    } finally {
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    }
  });
  afterAll(() => {
    expect(leftoverTestNetns()).toEqual([]);
  });
}
