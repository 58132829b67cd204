/**
 * The undo stack of an ADD: each step that changed something pushes the
 * action that takes the change back; when a later step fails, the actions
 * run newest first. A failing action is logged and the rest still run (what
 * is left, DEL or GC removes).
 */
import type { Logger } from './cni/skel.ts';

export class UndoStack {
  private readonly steps: { label: string; fn: () => Promise<void> | void }[] = [];

  push(label: string, fn: () => Promise<void> | void): void {
    this.steps.push({ label, fn });
  }

  /** Runs every action (newest first); a failing action is logged and the rest still run. */
  async run(log: Logger): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step.fn();
      } catch (err) {
        log.warn(`rollback: ${step.label} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  /** Forget the actions (the ADD succeeded). */
  clear(): void {
    this.steps.length = 0;
  }
}
