/** What every HTTP fake shares: an HTTP server on a loopback port (free unless given), started and stopped. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export abstract class LoopbackServer {
  /** http://127.0.0.1:<port>, once started. */
  url = '';
  private server?: http.Server;

  protected abstract handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void>;

  async start(port = 0): Promise<void> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', resolve);
    });
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }
}
