/** The conformance run's outcome: one row per check, printed as a table, JUnit XML or JSON. */
export type Status = 'pass' | 'fail' | 'skip';

export interface CheckResult {
  readonly id: string;
  readonly what: string;
  readonly section: string;
  readonly status: Status;
  readonly reason: string;
  readonly ms: number;
}

export function table(rows: readonly CheckResult[]): string {
  const head = ['check', 'what', 'spec', 'result'];
  const body = rows.map((r) => [r.id, r.what, r.section, r.status === 'pass' ? 'pass' : `${r.status}: ${r.reason}`]);
  const width = [0, 1, 2].map((i) => Math.max(head[i]!.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i < 3 ? c.padEnd(width[i]!) : c)).join('  ').trimEnd();
  const counts = (s: Status): number => rows.filter((r) => r.status === s).length;
  return `${[line(head), ...body.map(line)].join('\n')}\n\n${counts('pass')} passed, ${counts('fail')} failed, ${counts('skip')} skipped\n`;
}

function xml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');
}

export function junit(rows: readonly CheckResult[], suite: string): string {
  const fails = rows.filter((r) => r.status === 'fail').length;
  const skips = rows.filter((r) => r.status === 'skip').length;
  const total = rows.reduce((a, r) => a + r.ms, 0) / 1000;
  const cases = rows.map((r) => {
    const open = `    <testcase classname="${xml(suite)}" name="${xml(`${r.id}: ${r.what} (${r.section})`)}" time="${(r.ms / 1000).toFixed(3)}"`;
    if (r.status === 'pass') return `${open}/>`;
    const inner = r.status === 'fail' ? `<failure message="${xml(r.reason)}"/>` : `<skipped message="${xml(r.reason)}"/>`;
    return `${open}>${inner}</testcase>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n  <testsuite name="${xml(suite)}" tests="${rows.length}" failures="${fails}" errors="0" skipped="${skips}" time="${total.toFixed(3)}">\n${cases.join('\n')}\n  </testsuite>\n</testsuites>\n`;
}
