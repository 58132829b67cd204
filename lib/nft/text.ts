/**
 * The nft syntax of the values in types.ts: what `nft list` prints and what
 * `nft -f` reads. Used for messages, tests, and wherever a script is still
 * fed to `nft`. Every string is checked before it is printed (names are
 * words, comments hold no quote or line break), so a rendered value is one
 * statement, never several.
 */
import { bits, formatIp, networkAddress } from '../ip.ts';
import { COMMENT_MAX, NAME_MAX, type Chain, type Op, type Stmt, type Table } from './types.ts';

/** Table and chain names: nft identifiers. */
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_./-]*$/;
/** Interface names in matches: what a netdevice name can hold here, and a trailing `*` for a prefix. */
export const IFNAME_RE = /^[A-Za-z0-9_.@+-]{1,15}\*?$/;

export function checkName(what: string, name: string): string {
  if (name.length > NAME_MAX || !NAME_RE.test(name)) throw new Error(`invalid nftables ${what} name ${JSON.stringify(name)}`);
  return name;
}

/** A comment as nft prints it; refused when it holds a quote, a backslash or a control character, or is too long. */
export function checkComment(comment: string): string {
   
  if (Buffer.byteLength(comment) > COMMENT_MAX || /["\\\x00-\x1f\x7f]/.test(comment)) throw new Error(`invalid nftables comment ${JSON.stringify(comment)}`);
  return comment;
}

export function checkIfname(name: string): string {
  if (!IFNAME_RE.test(name)) throw new Error(`invalid interface name ${JSON.stringify(name)}`);
  return name;
}

const opText = (op: '==' | '!='): string => (op === '!=' ? '!= ' : '');

export function stmtText(s: Stmt): string {
  switch (s.kind) {
    case 'addr': {
      const full = s.net.prefix === bits(s.net.ip.family);
      const v = full ? formatIp(s.net.ip) : `${formatIp(networkAddress(s.net))}/${s.net.prefix}`;
      return `${s.proto} ${s.field} ${opText(s.op)}${v}`;
    }
    case 'port':
      return `${s.proto} ${s.field} ${opText(s.op)}${s.port}`;
    case 'ifname':
      return `${s.key} ${opText(s.op)}"${checkIfname(s.name)}"`;
    case 'mark':
      return `meta mark ${opText(s.op)}0x${s.value.toString(16).padStart(8, '0')}`;
    case 'fibDaddrLocal':
      return 'fib daddr type local';
    case 'jump':
    case 'goto':
      return `${s.kind} ${checkName('chain', s.chain)}`;
    case 'return':
    case 'accept':
    case 'drop':
      return s.kind;
    case 'dnat':
      return s.addr.family === 6 ? `dnat to [${formatIp(s.addr)}]:${s.port}` : `dnat to ${formatIp(s.addr)}:${s.port}`;
    case 'masquerade':
      return 'masquerade';
  }
}

export function rulesText(stmts: readonly Stmt[], comment?: string): string {
  const body = stmts.map(stmtText).join(' ');
  return comment === undefined ? body : `${body} comment "${checkComment(comment)}"`;
}

function chainSpec(c: Chain): string {
  const parts: string[] = [];
  if (c.base !== undefined) parts.push(`type ${c.base.type} hook ${c.base.hook} priority ${c.base.priority} ;`);
  if (c.comment !== undefined) parts.push(`comment "${checkComment(c.comment)}" ;`);
  return parts.length === 0 ? '' : ` { ${parts.join(' ')} }`;
}

/** An `nft -f` script for `ops` on `table`: one line per operation. */
export function scriptText(table: Table, ops: readonly Op[]): string {
  const t = `${table.family} ${checkName('table', table.name)}`;
  const lines = ops.map((o): string => {
    switch (o.op) {
      case 'addTable':
        return `add table ${t}${o.table.comment === undefined ? '' : ` { comment "${checkComment(o.table.comment)}" ; }`}`;
      case 'addChain':
        return `add chain ${t} ${checkName('chain', o.chain.name)}${chainSpec(o.chain)}`;
      case 'flushChain':
        return `flush chain ${t} ${checkName('chain', o.chain)}`;
      case 'deleteChain':
        return `delete chain ${t} ${checkName('chain', o.chain)}`;
      case 'addRule':
        return `add rule ${t} ${checkName('chain', o.rule.chain)} ${rulesText(o.rule.stmts, o.rule.comment)}`;
      case 'deleteRule':
        return `delete rule ${t} ${checkName('chain', o.chain)} handle ${Math.trunc(o.handle)}`;
    }
  });
  return `${lines.join('\n')}\n`;
}
