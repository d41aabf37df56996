import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 8080);

export const server = createServer((request, response) => {
  if (request.url === '/healthz') {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ status: 'ok', service: '{{ cookiecutter.name }}' }));
    return;
  }
  response.writeHead(404);
  response.end();
});

if (require.main === module) {
  server.listen(port, () => console.log(`{{ cookiecutter.name }} listening on ${port}`));
}
