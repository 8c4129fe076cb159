// The agent's HTTP listener: GET /metrics and GET /healthz, nothing else.

import type { Server } from 'node:http';
import express from 'express';
import type { Registry } from 'prom-client';
import type { ListenAddress } from '../config/config.js';

export interface HttpOptions {
  readonly listen: ListenAddress;
  readonly registry: Registry;
  /** undefined when healthy, else why not. */
  health(): string | undefined;
}

export async function startHttpServer({ listen, registry, health }: HttpOptions): Promise<Server> {
  const app = express();
  app.disable('x-powered-by');
  app.get('/metrics', async (_req, res) => {
    try {
      const body = await registry.metrics();
      res.set('Content-Type', registry.contentType).end(body);
    } catch (err) {
      res.status(500).type('text/plain').end(`collecting metrics failed: ${(err as Error).message}\n`);
    }
  });
  app.get('/healthz', (_req, res) => {
    const problem = health();
    res.status(problem ? 503 : 200).type('text/plain').end(problem ? `not ready: ${problem}\n` : 'ok\n');
  });
  app.use((_req, res) => {
    res.status(404).type('text/plain').end('not found: this listener serves /metrics and /healthz\n');
  });

  return new Promise((resolve, reject) => {
    const server = app.listen(listen.port, listen.host);
    server.once('listening', () => resolve(server));
    server.once('error', reject);
  });
}
