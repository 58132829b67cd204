/**
 * The steps of a call, for the operators' log at `logLevel: debug`
 * (lib/cni/oplog.ts). Code that does something worth seeing (a program run,
 * ...) calls `noteStep`; it costs one comparison unless a debug log is open.
 * No imports: anything may import this without pulling in the log.
 */
export type Step = { step: string } & Record<string, unknown>;
type Sink = (step: Step) => void;

let sink: Sink | undefined;

/** Whether a debug log wants steps (build the step only then). */
export function stepsWanted(): boolean {
  return sink !== undefined;
}

export function noteStep(step: Step): void {
  sink?.(step);
}

/** Sets where steps go; returns the previous sink, to restore when the call ends. */
export function setStepSink(s: Sink | undefined): Sink | undefined {
  const prev = sink;
  sink = s;
  return prev;
}
