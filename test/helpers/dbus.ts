/**
 * A private D-Bus system bus for tests (its own dbus-daemon on a socket in a
 * temporary directory; the host's bus is never used) and a pretend firewalld
 * on it that keeps the zone sources it is given.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DBusConnection, DBusError } from '../../lib/dbus/index.ts';

export class PrivateBus {
  readonly dir = mkdtempSync(join(tmpdir(), 'fw-dbus-'));
  readonly socket = join(this.dir, 'bus');
  private daemon: ChildProcess | undefined;

  get address(): string {
    return `unix:path=${this.socket}`;
  }

  async start(): Promise<void> {
    writeFileSync(
      join(this.dir, 'bus.conf'),
      `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path=${this.socket}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*"/><allow receive_sender="*"/></policy></busconfig>
`,
    );
    this.daemon = spawn('dbus-daemon', [`--config-file=${join(this.dir, 'bus.conf')}`, '--nofork', '--nosyslog'], { stdio: 'ignore' });
    const until = Date.now() + 10_000;
    while (!existsSync(this.socket)) {
      if (Date.now() > until) throw new Error('the private dbus-daemon did not create its socket within 10 s');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  stop(): void {
    this.daemon?.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A pretend firewalld: owns org.fedoraproject.FirewallD1 and keeps zone → sources, as firewalld's zone API answers. */
export class FakeFirewalld {
  readonly zones = new Map<string, Set<string>>();
  readonly calls: string[] = [];
  private conn: DBusConnection | undefined;

  async start(bus: PrivateBus): Promise<void> {
    const conn = await DBusConnection.connect(bus.socket);
    this.conn = conn;
    conn.serve((m) => {
      const [zone, source] = [String(m.body[0] ?? ''), String(m.body[1] ?? '')];
      this.calls.push(`${m.member ?? ''} ${zone} ${source}`);
      if (m.interface !== 'org.fedoraproject.FirewallD1.zone') throw new DBusError('org.freedesktop.DBus.Error.UnknownMethod', `no ${m.interface ?? ''}`);
      const set = this.zones.get(zone) ?? new Set<string>();
      this.zones.set(zone, set);
      for (const [z, s] of this.zones) if (z !== zone && s.has(source) && m.member === 'addSource') throw new DBusError('org.fedoraproject.FirewallD1.Exception', `ZONE_CONFLICT: '${source}' already bound to '${z}'`);
      switch (m.member) {
        case 'addSource':
          if (set.has(source)) throw new DBusError('org.fedoraproject.FirewallD1.Exception', `ZONE_ALREADY_SET: '${source}' already bound to '${zone}'`);
          set.add(source);
          return { signature: 's', body: [zone] };
        case 'removeSource':
          if (!set.delete(source)) throw new DBusError('org.fedoraproject.FirewallD1.Exception', `UNKNOWN_SOURCE: '${source}' is not in any zone`);
          return { signature: 's', body: [zone] };
        case 'querySource':
          return { signature: 'b', body: [set.has(source)] };
        default:
          throw new DBusError('org.freedesktop.DBus.Error.UnknownMethod', `no method ${m.member ?? ''}`);
      }
    });
    await conn.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'RequestName', signature: 'su', body: ['org.fedoraproject.FirewallD1', 4] });
  }

  stop(): void {
    this.conn?.close();
  }
}
