/**
 * `resolvConf`: a resolv.conf read into the result's `dns`, as the reference
 * does (plugins/ipam/host-local/dns.go): `nameserver` appends one address,
 * `domain` keeps the last, `search` and `options` append every field; lines
 * starting with '#' or ';' and lines with fewer than two fields are skipped.
 */
import { readFileSync } from 'node:fs';
import { CniCode, CniError, fromFsError } from '../../lib/cni/errors.ts';
import type { DNS } from '../../lib/cni/types/current.ts';

export function parseResolvConf(text: string): DNS {
  const nameservers: string[] = [];
  const search: string[] = [];
  const options: string[] = [];
  let domain = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const fields = line.split(/\s+/);
    if (fields.length < 2) continue;
    const [key, first, ...rest] = fields as [string, string, ...string[]];
    switch (key) {
      case 'nameserver':
        nameservers.push(first);
        break;
      case 'domain':
        domain = first;
        break;
      case 'search':
        search.push(first, ...rest);
        break;
      case 'options':
        options.push(first, ...rest);
        break;
    }
  }
  const dns: DNS = {};
  if (nameservers.length > 0) dns.nameservers = nameservers;
  if (domain !== '') dns.domain = domain;
  if (search.length > 0) dns.search = search;
  if (options.length > 0) dns.options = options;
  return dns;
}

export function readResolvConf(path: string): DNS {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CniError(CniCode.IOFailure, `failed to read resolvConf: ${fromFsError(err)?.msg ?? (err as Error).message}`, 'check ipam.resolvConf in the network config', { cause: err });
  }
  return parseResolvConf(text);
}
