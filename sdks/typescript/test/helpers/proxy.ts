/**
 * A tiny proxy in front of a real server, for faults the server never makes by itself: it can
 * forward a request, let the answer come back to the proxy, and then close the client's socket
 * without passing the answer on; and it can cut every WebSocket it carries.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll } from 'vitest';

interface DropRule {
  method: string;
  path: RegExp;
  remaining: number;
}

export class FaultProxy {
  /** `METHOD /path?query` of every request and upgrade seen, in order. */
  readonly requests: string[] = [];
  /** Answers that reached the proxy and were thrown away, as `METHOD /path → status`. */
  readonly dropped: string[] = [];
  readonly #server: Server;
  readonly #upstream: URL;
  readonly #rules: DropRule[] = [];
  readonly #tunnels = new Set<Socket>();
  #refuseUpgrades = false;

  private constructor(upstreamBaseUrl: string) {
    this.#upstream = new URL(upstreamBaseUrl);
    this.#server = createServer((req, res) => {
      void this.#forward(req).then(
        (answer) => {
          const line = `${req.method} ${req.url}`;
          const rule = this.#rules.find((r) => r.remaining > 0 && r.method === req.method && r.path.test(req.url ?? ''));
          if (rule !== undefined) {
            rule.remaining--;
            this.dropped.push(`${line} → ${answer.status}`);
            req.socket.destroy();
            return;
          }
          res.writeHead(answer.status, answer.headers);
          res.end(answer.body);
        },
        () => req.socket.destroy(),
      );
    });
    this.#server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.#tunnel(req, socket, head));
  }

  /**
   * A proxy for the server at `upstreamBaseUrl` (`http://host:port/api/v1`) that serves the tests
   * of the enclosing `describe` block: it listens before they start and is closed after them.
   */
  static forTests(upstreamBaseUrl: string): FaultProxy {
    const proxy = new FaultProxy(upstreamBaseUrl);
    beforeAll(async () => {
      await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    });
    afterAll(() => proxy.close());
    return proxy;
  }

  /** `http://127.0.0.1:PORT/api/v1` of the proxy. */
  get baseUrl(): string {
    const { port } = this.#server.address() as AddressInfo;
    return `http://127.0.0.1:${port}${this.#upstream.pathname}`;
  }

  /** `ws://127.0.0.1:PORT/ws` of the proxy. */
  get wsUrl(): string {
    const { port } = this.#server.address() as AddressInfo;
    return `ws://127.0.0.1:${port}/ws`;
  }

  /** The next `times` requests matching `method` and `path` reach the server, their answers do not reach the client. */
  dropAnswer(method: string, path: RegExp, times = 1): void {
    this.#rules.push({ method, path, remaining: times });
  }

  /** Cuts every WebSocket now open. */
  cutWebSockets(): void {
    for (const socket of this.#tunnels) socket.destroy();
    this.#tunnels.clear();
  }

  /** While set, WebSocket upgrades are refused by closing the connection. */
  refuseWebSockets(refuse: boolean): void {
    this.#refuseUpgrades = refuse;
  }

  async close(): Promise<void> {
    this.cutWebSockets();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #forward(req: IncomingMessage): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
    this.requests.push(`${req.method} ${req.url}`);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined || ['host', 'connection', 'content-length', 'transfer-encoding'].includes(name)) continue;
      headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
    const response = await fetch(new URL(req.url ?? '/', this.#upstream.origin), {
      method: req.method ?? 'GET',
      headers,
      ...(body === undefined ? {} : { body }),
    });
    const answerHeaders: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      if (!['connection', 'content-length', 'transfer-encoding', 'keep-alive', 'content-encoding'].includes(name)) answerHeaders[name] = value;
    });
    return { status: response.status, headers: answerHeaders, body: Buffer.from(await response.arrayBuffer()) };
  }

  #tunnel(req: IncomingMessage, client: Socket, head: Buffer): void {
    this.requests.push(`${req.method} ${req.url}`);
    if (this.#refuseUpgrades) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(this.#upstream.port), this.#upstream.hostname, () => {
      let request = `${req.method} ${req.url} HTTP/1.1\r\n`;
      for (let i = 0; i < req.rawHeaders.length; i += 2) request += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
      upstream.write(`${request}\r\n`);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    this.#tunnels.add(client);
    const end = (): void => {
      this.#tunnels.delete(client);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  }
}
