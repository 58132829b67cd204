/**
 * setns(2) moves one thread, and a thread is born in the namespace its creator
 * is in at that moment. Our code switches only the main thread, only around
 * synchronous work (lib/netns), so every namespace-sensitive call (netlink
 * sockets, /proc/sys writes, program starts) runs on the main thread; the
 * engine's threads (libuv's pool under Node, Bun's pools and JavaScriptCore's
 * helpers under Bun, some born lazily) and ours (the watchdog, the spawn
 * waiters) do no such work. This proves the consequence on the build target
 * under test: stopped right after a bridge ADD with masquerade (the pod's
 * namespace configured, iptables run, host-local in-process), every thread of
 * the process is in the host's namespace, none was left in the pod's; and
 * SIGTERM ends it by that signal on either target.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { BridgeEnv, ok } from '../helpers/bridge.ts';
import { BIN_DIR, TARGET, binPath, cniEnv } from '../helpers/exec.ts';

function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/** The pid of the plugin under `ip netns exec` once it stopped at its checkpoint (ip execs it: same pid). */
async function stoppedAt(pid: number, boundMs: number): Promise<void> {
  const until = Date.now() + boundMs;
  while (processState(pid) !== 'T') {
    if (Date.now() > until) throw new Error(`the plugin did not reach its checkpoint within ${boundMs} ms (state ${processState(pid)})`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe(`${TARGET} target: threads and namespaces`, () => {
  let env: BridgeEnv | undefined;
  afterEach(() => {
    env?.cleanup();
    env = undefined;
  });

  it('after an ADD in a pod namespace, every thread is back in the host namespace; SIGTERM ends it', async () => {
    env = new BridgeEnv();
    const pod = env.pod();
    const conf = env.conf({ extra: { ipMasq: true } });
    const hostNs = env.sh('readlink', '/proc/self/ns/net').trim();
    const podNs = execFileSync('ip', ['netns', 'exec', pod.name, 'readlink', '/proc/self/ns/net'], { encoding: 'utf8' }).trim();
    const child = spawn('ip', ['netns', 'exec', env.host.name, binPath('bridge')], {
      env: cniEnv({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'threads', CNI_NETNS: pod.path, CNI_IFNAME: 'eth0', CNI_PATH: BIN_DIR, CNI_TS_FAULT: 'bridge:masquerade:stop' }),
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    child.stdin.end(JSON.stringify(conf));
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    const pid = child.pid;
    if (pid === undefined) throw new Error('ip did not start');
    try {
      await stoppedAt(pid, 30_000);
      const threads = readdirSync(`/proc/${pid}/task`).map((tid) => ({
        tid,
        comm: readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim(),
        ns: readlinkSync(`/proc/${pid}/task/${tid}/ns/net`),
      }));
      expect(threads.length).toBeGreaterThan(1);
      expect(hostNs).toMatch(/^net:\[\d+\]$/);
      expect(podNs).not.toBe(hostNs);
      expect(threads.filter((t) => t.ns !== hostNs), JSON.stringify(threads)).toEqual([]);

      // a stop signal ends the plugin where it stands (Node catches TERM and INT only to restore the
      // terminal, then dies by the signal again; docs/build-targets.md lists both targets' dispositions)
      const ended = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
      process.kill(pid, 'SIGTERM');
      process.kill(pid, 'SIGCONT');
      expect(await ended).toBe('SIGTERM');
    } finally {
      if (processState(pid) !== undefined) process.kill(pid, 'SIGKILL');
      await exited;
    }
    // the killed ADD is cleaned by DEL, as a runtime would
    ok(await env.call({ command: 'DEL', conf, pod, containerId: 'threads' }));
  });
});
