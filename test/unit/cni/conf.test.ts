import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { type CompiledValidator, type JsonObject, type SchemaNode, canonicalizeKeys, isObject, validateConf } from '../../../lib/cni/conf.ts';
import netconfSchema from '../../../lib/cni/schemas/netconf.schema.json' with { type: 'json' };
import { cniErrorOf } from '../../helpers/errors.ts';

/** Compiled the way scripts/gen-validators.mjs does it. */
function compile(schema: SchemaNode): CompiledValidator {
  const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true });
  return ajv.compile(schema);
}

const NETCONF: SchemaNode = netconfSchema;
const validateNetconf = compile(NETCONF);

/** A plugin-like schema with nesting, arrays, maps and a key containing '/'. */
const PLUGIN: SchemaNode = {
  $id: 'test-plugin',
  type: 'object',
  properties: {
    name: { type: 'string' },
    mtu: { type: 'integer', minimum: 68 },
    MTU: { type: 'string' },
    ipam: {
      type: 'object',
      properties: { type: { type: 'string' }, rangeStart: { type: 'string' } },
      required: ['type'],
      additionalProperties: false,
    },
    runtimeConfig: {
      type: 'object',
      properties: {
        portMappings: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              hostPort: { type: 'integer' },
              containerPort: { type: 'integer' },
              protocol: { type: 'string' },
              hostIP: { type: 'string' },
            },
            required: ['hostPort', 'containerPort'],
          },
        },
      },
    },
    backends: { type: 'object', additionalProperties: { type: 'object', properties: { vni: { type: 'integer' } } } },
    'cni.dev/valid-attachments': {
      type: 'array',
      items: { type: 'object', properties: { containerID: { type: 'string' }, ifname: { type: 'string' } } },
    },
  },
  required: ['name'],
};
const validatePlugin = compile(PLUGIN);

describe('isObject', () => {
  it.each([
    [{}, true],
    [{ a: 1 }, true],
    [[], false],
    [null, false],
    ['x', false],
    [1, false],
    [undefined, false],
  ])('%j → %s', (v, want) => {
    expect(isObject(v)).toBe(want);
  });
});

describe('canonicalizeKeys', () => {
  it('renames keys to the schema spelling, case-insensitively, in place; unknown keys stay', () => {
    const conf: JsonObject = {
      CNIVERSION: '1.0.0',
      Name: 'net',
      TYPE: 'bridge',
      IpMasq: true,
      IPAM: { Type: 'host-local', Subnet: '10.1.0.0/16' },
      DNS: { NameServers: ['1.1.1.1'], DOMAIN: 'cluster.local' },
      someUnknownKey: { Type: 'kept as is' },
    };
    const given = structuredClone(conf);
    const out = canonicalizeKeys(conf, NETCONF);
    expect(conf).toEqual(given); // a copy: the config as given is never changed
    expect(out).toEqual({
      cniVersion: '1.0.0',
      name: 'net',
      type: 'bridge',
      ipMasq: true,
      ipam: { type: 'host-local', Subnet: '10.1.0.0/16' },
      dns: { nameservers: ['1.1.1.1'], domain: 'cluster.local' },
      someUnknownKey: { Type: 'kept as is' },
    });
  });

  it('an exact match wins over a case-insensitive one', () => {
    const conf = canonicalizeKeys<JsonObject>({ NAME: 'upper', name: 'exact', Mtu: 1 }, PLUGIN);
    // "Mtu" matches both "mtu" and "MTU" case-insensitively; neither is present, so it takes one of them
    expect(conf['name']).toBe('exact');
    expect(conf['NAME']).toBe('upper');
    const both = canonicalizeKeys<JsonObject>({ mtu: 1500, MTU: 'x', mTu: 9000 }, PLUGIN);
    expect(both).toEqual({ mtu: 1500, MTU: 'x', mTu: 9000 });
  });

  it('walks arrays of objects: containerd capitalised portMappings', () => {
    const conf = canonicalizeKeys<JsonObject>({
      name: 'net',
      RuntimeConfig: {
        PortMappings: [
          { HostPort: 8080, ContainerPort: 80, Protocol: 'tcp', HostIP: '' },
          { hostPort: 8443, containerPort: 443, protocol: 'tcp' },
        ],
      },
    }, PLUGIN);
    expect(conf).toEqual({
      name: 'net',
      runtimeConfig: {
        portMappings: [
          { hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '' },
          { hostPort: 8443, containerPort: 443, protocol: 'tcp' },
        ],
      },
    });
  });

  it('walks map values through additionalProperties, leaving the map keys alone', () => {
    const conf = canonicalizeKeys<JsonObject>({ name: 'n', backends: { VXLAN: { VNI: 1 }, Other: { vni: 2 } } }, PLUGIN);
    expect(conf['backends']).toEqual({ VXLAN: { vni: 1 }, Other: { vni: 2 } });
  });

  it('leaves values alone where the schema says nothing', () => {
    expect(canonicalizeKeys(5, PLUGIN)).toBe(5);
    expect(canonicalizeKeys('x', PLUGIN)).toBe('x');
    const arr = [{ NAME: 'x' }];
    expect(canonicalizeKeys(arr, PLUGIN)).toEqual([{ NAME: 'x' }]);
    const obj = { NAME: 'x' };
    expect(canonicalizeKeys(obj, undefined)).toEqual({ NAME: 'x' });
    const wrongType = canonicalizeKeys<JsonObject>({ name: 'n', runtimeConfig: { portMappings: 'not an array' } }, PLUGIN);
    expect(wrongType).toEqual({ name: 'n', runtimeConfig: { portMappings: 'not an array' } });
  });
});

describe('validateConf', () => {
  it('returns the canonicalised config when valid', () => {
    const conf: JsonObject = { CNIVersion: '1.0.0', name: 'net', type: 'bridge', IPMASQ: true, capabilities: { portMappings: true } };
    const out = validateConf(conf, NETCONF, validateNetconf);
    expect(out).toEqual({ cniVersion: '1.0.0', name: 'net', type: 'bridge', ipMasq: true, capabilities: { portMappings: true } });
  });

  it.each([
    ['a missing required key', { type: 'bridge' }, 'invalid network config: "name" is required'],
    ['a wrong type', { name: 'n', ipMasq: 'yes' }, 'invalid network config: "ipMasq" must be boolean, got "yes"'],
    ['a wrong type after renaming', { name: 'n', IPMASQ: 1 }, 'invalid network config: "ipMasq" must be boolean, got 1'],
    ['a nested wrong type', { name: 'n', ipam: { type: 5 } }, 'invalid network config: "ipam.type" must be string, got 5'],
    ['an array element', { name: 'n', dns: { nameservers: ['1.1.1.1', 5] } }, 'invalid network config: "dns.nameservers.1" must be string, got 5'],
    ['a map value', { name: 'n', capabilities: { portMappings: 'yes' } }, 'invalid network config: "capabilities.portMappings" must be boolean, got "yes"'],
    ['an object expected', { name: 'n', runtimeConfig: [] }, 'invalid network config: "runtimeConfig" must be object, got []'],
  ])('netconf: %s', (_what, conf, msg) => {
    const e = cniErrorOf(() => validateConf(conf, NETCONF, validateNetconf));
    expect([e.code, e.msg]).toEqual([7, msg]);
  });

  it.each([
    ['a nested required key', { name: 'n', ipam: {} }, 'invalid network config: "ipam.type" is required'],
    ['a required key in an array element', { name: 'n', runtimeConfig: { portMappings: [{ hostPort: 1 }] } }, 'invalid network config: "runtimeConfig.portMappings.0.containerPort" is required'],
    ['an additional property', { name: 'n', ipam: { type: 'host-local', subnet: '10.0.0.0/8' } }, 'invalid network config: "ipam.subnet" must NOT have additional properties, got "10.0.0.0/8"'],
    ['a minimum', { name: 'n', mtu: 10 }, 'invalid network config: "mtu" must be >= 68, got 10'],
    ['a long value is shortened', { name: 'n', mtu: 'x'.repeat(200) }, `invalid network config: "mtu" must be integer, got "${'x'.repeat(76)}...`],
    ['a key containing "/"', { name: 'n', 'cni.dev/valid-attachments': [5] }, 'invalid network config: "cni.dev/valid-attachments.0" must be object, got 5'],
    ['capitalised keys from containerd', { name: 'n', RuntimeConfig: { PortMappings: [{ HostPort: '8080', ContainerPort: 80 }] } }, 'invalid network config: "runtimeConfig.portMappings.0.hostPort" must be integer, got "8080"'],
  ])('plugin schema: %s', (_what, conf, msg) => {
    const e = cniErrorOf(() => validateConf(conf, PLUGIN, validatePlugin));
    expect([e.code, e.msg]).toEqual([7, msg]);
  });

  it('a validator failing without errors is still code 7', () => {
    const alwaysFalse: CompiledValidator = () => false;
    const e = cniErrorOf(() => validateConf({ name: 'n' }, PLUGIN, alwaysFalse));
    expect([e.code, e.msg]).toEqual([7, 'invalid network config']);
  });
});
