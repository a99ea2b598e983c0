import { PROTOCOL_VERSION } from './constants.js';
import type { Request, Role } from './messages.js';

/**
 * Why a handshake is refused, or undefined when it is accepted. The reason is sent
 * back to the peer before the link is closed, so an operator running a mismatched
 * build reads it in that peer's log rather than seeing a bare disconnect.
 */
export function handshakeRefusal(hello: Request<'handshake'>, accepted: readonly Role[]): string | undefined {
  if (hello.version !== PROTOCOL_VERSION) {
    return `protocol version ${hello.version} is not supported: this peer speaks version ${PROTOCOL_VERSION}`;
  }
  if (!accepted.includes(hello.role)) {
    return `role '${hello.role}' is not served on this port (expected ${accepted.join(' or ')})`;
  }
  return undefined;
}
