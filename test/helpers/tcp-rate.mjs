// A TCP transfer for the shaping tests.
//   node tcp-rate.mjs recv <ip> <port>          prints READY, then {"bytes":N,"seconds":S} after one connection ends
//   node tcp-rate.mjs send <ip> <port> <secs>   writes as fast as the socket takes for <secs> seconds
import { createServer, connect } from 'node:net';

const [mode, host, port, secs] = process.argv.slice(2);
if (mode === 'recv') {
  const server = createServer((sock) => {
    let bytes = 0;
    let first = 0;
    let last = 0;
    sock.on('data', (chunk) => {
      const now = performance.now();
      if (first === 0) first = now;
      else bytes += chunk.length; // bytes after the first chunk, over the time since it
      last = now;
    });
    sock.on('close', () => {
      process.stdout.write(`${JSON.stringify({ bytes, seconds: (last - first) / 1000 })}\n`);
      server.close();
    });
  });
  server.listen(Number(port), host, () => process.stdout.write('READY\n'));
} else {
  const sock = connect(Number(port), host, () => {
    const chunk = Buffer.alloc(65536, 120);
    const end = Date.now() + Number(secs) * 1000;
    const pump = () => {
      while (Date.now() < end) if (!sock.write(chunk)) return void sock.once('drain', pump);
      sock.end();
    };
    pump();
  });
  sock.on('error', (err) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  });
}
