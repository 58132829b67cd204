/**
 * The firewalld backend's client: firewalld's zone API on the system bus
 * (org.fedoraproject.FirewallD1, interface …FirewallD1.zone: addSource,
 * removeSource, querySource), as the reference calls it, through our
 * TypeScript D-Bus client (lib/dbus). One connection per plugin run.
 */
import { DBusConnection, systemBusPath } from '../../lib/dbus/index.ts';

export const FIREWALLD_NAME = 'org.fedoraproject.FirewallD1';
const FIREWALLD_PATH = '/org/fedoraproject/FirewallD1';
const ZONE_INTERFACE = 'org.fedoraproject.FirewallD1.zone';
/** Every D-Bus call is answered within this, or the run fails (firewalld answers in milliseconds). */
const CALL_TIMEOUT_MS = 10_000;

export interface Firewalld {
  /** Binds `source` ("10.88.0.5/32") to `zone`; rejects with a DBusError (ZONE_ALREADY_SET, …). */
  addSource(zone: string, source: string): Promise<void>;
  removeSource(zone: string, source: string): Promise<void>;
  querySource(zone: string, source: string): Promise<boolean>;
  close(): void;
}

/**
 * Connects to the system bus (DBUS_SYSTEM_BUS_ADDRESS or
 * /run/dbus/system_bus_socket) and checks that firewalld owns its name, as
 * the reference's isFirewalldRunning does; rejects saying which of the two
 * is missing.
 */
export async function connectFirewalld(): Promise<Firewalld> {
  const path = systemBusPath();
  let conn: DBusConnection;
  try {
    conn = await DBusConnection.connect(path, CALL_TIMEOUT_MS);
  } catch (err) {
    throw new Error(`cannot reach the D-Bus system bus at ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    await conn.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'GetNameOwner', signature: 's', body: [FIREWALLD_NAME] });
  } catch (err) {
    conn.close();
    throw new Error(`firewalld is not running: no owner of ${FIREWALLD_NAME} on the system bus (${(err as Error).message})`, { cause: err });
  }
  const zoneCall = (member: string, zone: string, source: string) => conn.call({ destination: FIREWALLD_NAME, path: FIREWALLD_PATH, interface: ZONE_INTERFACE, member, signature: 'ss', body: [zone, source] });
  return {
    addSource: async (zone, source) => {
      await zoneCall('addSource', zone, source);
    },
    removeSource: async (zone, source) => {
      await zoneCall('removeSource', zone, source);
    },
    querySource: async (zone, source) => (await zoneCall('querySource', zone, source)).body[0] === true,
    close: () => conn.close(),
  };
}
