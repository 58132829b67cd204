/**
 * lib/dbus against a real dbus-daemon (a private bus, never the host's):
 * authentication, Hello, RequestName, calls with replies and errors, in both
 * directions, bounded by their timeout.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DBusConnection, DBusError } from '../../lib/dbus/index.ts';
import { FakeFirewalld, PrivateBus } from '../helpers/dbus.ts';

let bus: PrivateBus | undefined;
let fw: FakeFirewalld | undefined;
const conns: DBusConnection[] = [];
afterEach(() => {
  for (const c of conns.splice(0)) c.close();
  fw?.stop();
  bus?.stop();
});

const zone = (member: string, body: (string | number | boolean)[], signature = 'ss') => ({ destination: 'org.fedoraproject.FirewallD1', path: '/org/fedoraproject/FirewallD1', interface: 'org.fedoraproject.FirewallD1.zone', member, signature, body });

describe('lib/dbus on a private bus', () => {
  it('calls a service and gets its replies and errors', async () => {
    bus = new PrivateBus();
    await bus.start();
    fw = new FakeFirewalld();
    await fw.start(bus);
    const c = await DBusConnection.connect(bus.socket);
    conns.push(c);
    expect(c.uniqueName).toMatch(/^:\d+\.\d+$/);
    const owner = await c.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'GetNameOwner', signature: 's', body: ['org.fedoraproject.FirewallD1'] });
    expect(owner.body[0]).toMatch(/^:\d+\.\d+$/);
    expect((await c.call(zone('addSource', ['trusted', '10.0.0.1/32']))).body).toEqual(['trusted']);
    expect((await c.call(zone('querySource', ['trusted', '10.0.0.1/32']))).body).toEqual([true]);
    expect((await c.call(zone('querySource', ['trusted', '10.0.0.2/32']))).body).toEqual([false]);
    const again = await c.call(zone('addSource', ['trusted', '10.0.0.1/32'])).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(DBusError);
    expect((again as DBusError).message).toMatch(/ZONE_ALREADY_SET/);
    const none = await c.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'GetNameOwner', signature: 's', body: ['no.such.Name'] }).catch((e: unknown) => e);
    expect((none as DBusError).errorName).toBe('org.freedesktop.DBus.Error.NameHasNoOwner');
  });

  it('fails fast without a bus', async () => {
    await expect(DBusConnection.connect('/nonexistent/bus')).rejects.toThrow(/ENOENT/);
  });
});
