/** A service's id when none is configured: the host name and a random suffix (unique per process). */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';

export function serviceId(): string {
  return `${hostname()}-${randomUUID().slice(0, 8)}`;
}
