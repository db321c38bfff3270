/**
 * grpc.health.v1 on both sides. The main port carries it behind mTLS; `--health-listen` adds a
 * plaintext listener that serves nothing but health (Kubernetes gRPC probes cannot do TLS), so
 * no unauthenticated endpoint can submit work or read weights.
 */
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';

export class Health {
  readonly impl: HealthImplementation;
  private server?: grpc.Server;

  constructor(private readonly serviceName: string) {
    this.impl = new HealthImplementation({ '': 'NOT_SERVING', [serviceName]: 'NOT_SERVING' });
  }

  set(status: ServingStatus): void {
    this.impl.setStatus('', status);
    this.impl.setStatus(this.serviceName, status);
  }

  /** Serve health only, in plaintext, on `address`; resolves with the bound port. */
  async listen(address: string): Promise<number> {
    const server = new grpc.Server();
    this.impl.addToServer(server);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    this.server = server;
    return port;
  }

  close(): void {
    this.server?.forceShutdown();
  }
}
