// A tiny TCP/UDP echo for the portmap tests, run inside a namespace with
// `ip netns exec <ns> node echo.mjs ...` (the test runner's own Node).
//   server <tag> tcp:<port>... udp:<port>...   answers every connection or datagram with <tag>; prints "ready"
//   client tcp|udp <host> <port> [<bind address>] [<source port>]   prints the answer; exit 1 on timeout or error
import { createSocket } from 'node:dgram';
import { createConnection, createServer } from 'node:net';

const [mode, ...rest] = process.argv.slice(2);
const TIMEOUT_MS = 1500;

function fail(msg) {
  process.stdout.write(`ERR ${msg}\n`);
  process.exit(1);
}

if (mode === 'server') {
  const [tag, ...specs] = rest;
  let pending = specs.length;
  const ready = () => {
    pending--;
    if (pending === 0) process.stdout.write('ready\n');
  };
  for (const spec of specs) {
    const [proto, portText] = spec.split(':');
    const port = Number(portText);
    if (proto === 'tcp') {
      const srv = createServer((c) => {
        c.on('error', () => undefined);
        c.end(tag);
      });
      srv.listen({ port, host: '::', ipv6Only: false }, ready);
    } else {
      const sock = createSocket({ type: 'udp6', ipv6Only: false });
      sock.on('message', (_msg, rinfo) => sock.send(tag, rinfo.port, rinfo.address));
      sock.bind(port, '::', ready);
    }
  }
} else if (mode === 'client') {
  const [proto, host, portText, bind, sportText] = rest;
  const port = Number(portText);
  const timer = setTimeout(() => fail('timeout'), TIMEOUT_MS);
  if (proto === 'tcp') {
    const opts = { host, port };
    if (bind) opts.localAddress = bind;
    const c = createConnection(opts);
    let data = '';
    c.on('data', (d) => (data += d));
    c.on('end', () => {
      clearTimeout(timer);
      process.stdout.write(`${data}\n`);
      process.exit(data === '' ? 1 : 0);
    });
    c.on('error', (e) => fail(e.code ?? e.message));
  } else {
    const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    sock.on('message', (msg) => {
      clearTimeout(timer);
      process.stdout.write(`${msg.toString()}\n`);
      process.exit(0);
    });
    sock.on('error', (e) => fail(e.code ?? e.message));
    const send = () => sock.send('ping', port, host);
    if (bind || sportText) sock.bind({ address: bind || undefined, port: sportText ? Number(sportText) : 0 }, send);
    else send();
  }
} else {
  fail(`unknown mode ${mode}`);
}
