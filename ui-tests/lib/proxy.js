// A TCP proxy in front of the service that can cut every open connection at once, so a test can
// make the page's event stream drop for real and watch it reconnect. It also notes the request
// lines it forwards.

import net from 'node:net';

export async function startProxy(target) {
  const { hostname, port } = new URL(target);
  const sockets = new Set();
  const requests = [];
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port), hostname);
    sockets.add(client);
    sockets.add(upstream);
    client.on('data', (chunk) => {
      for (const match of chunk.toString('latin1').matchAll(/(?:^|\r\n)(GET|POST|PUT|DELETE) (\S+) HTTP\/1\.1/g)) {
        requests.push(`${match[1]} ${match[2]}`);
      }
    });
    client.pipe(upstream);
    upstream.pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    /** Cuts every connection open now. */
    dropAll() {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
