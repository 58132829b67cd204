/** resolvConf parsing follows the reference's rules. */
import { describe, expect, it } from 'vitest';
import { parseResolvConf } from '../../../ipam/host-local/resolv.ts';

describe('parseResolvConf', () => {
  it('appends nameservers, keeps the last domain, appends search and options fields, skips comments', () => {
    const text = [
      '# generated',
      '; also a comment',
      'nameserver 10.0.0.10',
      'nameserver   fd00::10   ignored-extra',
      'domain a.example',
      'domain b.example',
      'search x.example y.example',
      'search z.example',
      'options ndots:5 timeout:2',
      'nameserver',
      '  options rotate  ',
      'sortlist 10.0.0.0/8',
    ].join('\n');
    expect(parseResolvConf(text)).toEqual({
      nameservers: ['10.0.0.10', 'fd00::10'],
      domain: 'b.example',
      search: ['x.example', 'y.example', 'z.example'],
      options: ['ndots:5', 'timeout:2', 'rotate'],
    });
  });

  it('gives an empty object for an empty file', () => {
    expect(parseResolvConf('')).toEqual({});
  });
});
