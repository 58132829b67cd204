import { describe, expect, it } from 'vitest';
import { PLUGINS, PLUGIN_NAMES, SUBCOMMANDS, banner, pluginInfo } from '../../../cmd/registry.ts';
import { type LazyPlugin, type PluginIO, runPlugin } from '../../../lib/cni/skel.ts';
import { selectPlugin } from '../../../lib/cni/main.ts';

function captureIO(env: Record<string, string>, stdin = ''): { io: PluginIO; out: () => string; err: () => string } {
  let stdout = '';
  let stderr = '';
  return {
    io: {
      env,
      readStdin: () => Promise.resolve(Buffer.from(stdin)),
      writeStdout: (t) => (stdout += t),
      writeStderr: (t) => (stderr += t),
    },
    out: () => stdout,
    err: () => stderr,
  };
}

/** A registry entry whose code must never load. */
function unloadable(name: string): { plugin: LazyPlugin; loads: () => number } {
  let loads = 0;
  return {
    plugin: {
      ...pluginInfo(name),
      load: () => {
        loads++;
        return Promise.reject(new Error('loaded'));
      },
    },
    loads: () => loads,
  };
}

describe('cmd/registry', () => {
  it('lists the plugins once, in the order build and install use', () => {
    expect(PLUGIN_NAMES).toEqual(['bandwidth', 'bridge', 'flannel', 'host-local', 'loopback', 'portmap']);
    expect([...PLUGINS.keys()]).toEqual(PLUGIN_NAMES);
    expect([...SUBCOMMANDS.keys()]).toContain('selftest');
    expect(banner()).toContain(`plugins: ${PLUGIN_NAMES.join(', ')}`);
  });

  it.each(PLUGIN_NAMES.map((n) => [n]))('the static VERSION/about data of %s matches the loaded plugin', async (name) => {
    const lazy = PLUGINS.get(name)!;
    const plugin = await lazy.load();
    expect(plugin.name).toBe(name);
    expect(plugin.about).toBe(lazy.about);
    expect([...plugin.supportedVersions]).toEqual([...lazy.supportedVersions]);
  });

  it('selects by argv0 basename, then by `cni <plugin>`', () => {
    expect(selectPlugin(PLUGINS, '/opt/cni/bin/bridge', ['x', 'y'])?.name).toBe('bridge');
    expect(selectPlugin(PLUGINS, '/opt/cni/bin/cni', ['x', 'y', 'host-local'])?.name).toBe('host-local');
    expect(selectPlugin(PLUGINS, '/opt/cni/bin/cni', ['x', 'y', 'selftest'])).toBeUndefined();
  });
});

describe('lazy plugins in skel', () => {
  it('VERSION answers from static data without loading the plugin', async () => {
    const { plugin, loads } = unloadable('bridge');
    const c = captureIO({ CNI_COMMAND: 'VERSION' });
    expect(await runPlugin(plugin, c.io)).toBe(0);
    expect(JSON.parse(c.out())).toEqual({ cniVersion: '1.1.0', supportedVersions: [...pluginInfo('bridge').supportedVersions] });
    expect(loads()).toBe(0);
  });

  it('the about text needs no load either', async () => {
    const { plugin, loads } = unloadable('flannel');
    const c = captureIO({});
    expect(await runPlugin(plugin, c.io)).toBe(0);
    expect(c.err()).toContain(pluginInfo('flannel').about);
    expect(loads()).toBe(0);
  });

  it('a bad config is refused before the plugin loads', async () => {
    const { plugin, loads } = unloadable('bridge');
    const c = captureIO({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c', CNI_NETNS: '/x', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' }, '{');
    expect(await runPlugin(plugin, c.io)).toBe(1);
    expect(JSON.parse(c.out())).toMatchObject({ code: 6 });
    expect(loads()).toBe(0);
  });

  it('ADD loads the plugin and runs it', async () => {
    const { plugin, loads } = unloadable('bridge');
    const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'bridge' });
    const c = captureIO({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c', CNI_NETNS: '/x', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' }, conf);
    expect(await runPlugin(plugin, c.io)).toBe(1);
    expect(loads()).toBe(1);
    expect(JSON.parse(c.out())).toMatchObject({ code: 999, msg: 'loaded' });
  });
});
