import { Packr } from 'msgpackr';
import { type Frame, FrameError, REPLY_FLAG, encodeFrame } from './frame.js';
import { type MessageName, Messages, type Reply, type Request, messageById } from './messages.js';
import { SchemaError, validate } from './schema.js';
import { Status, TsmfsError } from './status.js';

/**
 * Control bodies are msgpack maps. Records (msgpackr's shared structures) are off:
 * they make a body depend on what the stream sent before, which a resumable,
 * per-frame-validated protocol cannot afford.
 */
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true });

export type DecodedFrame =
  | { kind: 'request'; name: MessageName; requestId: number; body: unknown }
  | { kind: 'reply'; name: MessageName; requestId: number; status: number; message?: string; body: unknown };

/** A body that could not be decoded or failed its schema; the frame's link is closed. */
export class MalformedFrameError extends FrameError {
  constructor(message: string) {
    super('malformed', message);
  }
}

export function encodeRequest<N extends MessageName>(name: N, requestId: number, body: Request<N>): Buffer {
  return encodeFrame(Messages[name].id, requestId, packr.pack(body));
}

export function encodeReply<N extends MessageName>(name: N, requestId: number, body: Reply<N>): Buffer {
  return encodeFrame(Messages[name].id | REPLY_FLAG, requestId, packr.pack({ status: Status.OK, ...body }));
}

export function encodeErrorReply(typeId: number, requestId: number, status: number, message: string): Buffer {
  return encodeFrame((typeId | REPLY_FLAG) >>> 0, requestId, packr.pack({ status, message }));
}

/**
 * Decodes and validates one frame. Throws MalformedFrameError for an unknown type,
 * undecodable msgpack or a body that does not match the catalogue.
 */
export function decodeFrame(frame: Frame): DecodedFrame {
  const isReply = (frame.type & REPLY_FLAG) !== 0;
  const id = frame.type & ~REPLY_FLAG;
  const name = messageById(id);
  if (name === undefined) throw new MalformedFrameError(`unknown message type ${id}`);
  const raw = unpackBody(frame.body, name);
  const def = Messages[name];
  try {
    if (!isReply) return { kind: 'request', name, requestId: frame.requestId, body: validate(def.req, raw) };
    return decodeReplyBody(name, frame.requestId, raw);
  } catch (err) {
    if (err instanceof SchemaError) throw new MalformedFrameError(`${name}: ${err.message}`);
    throw err;
  }
}

function decodeReplyBody(name: MessageName, requestId: number, raw: unknown): DecodedFrame {
  if (typeof raw !== 'object' || raw === null) throw new MalformedFrameError(`${name} reply: body is not a map`);
  const { status, message, ...rest } = raw as { status?: unknown; message?: unknown };
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 0) {
    throw new MalformedFrameError(`${name} reply: missing status`);
  }
  if (status !== Status.OK) {
    return { kind: 'reply', name, requestId, status, message: typeof message === 'string' ? message : undefined, body: undefined };
  }
  return { kind: 'reply', name, requestId, status, body: validate(Messages[name].res, rest) };
}

function unpackBody(body: Buffer, name: MessageName): unknown {
  if (body.length === 0) throw new MalformedFrameError(`${name}: empty body`);
  try {
    return packr.unpack(body);
  } catch (err) {
    throw new MalformedFrameError(`${name}: undecodable body (${(err as Error).message})`);
  }
}

/** Turns an error reply into the error the caller of a request sees. */
export function replyError(decoded: Extract<DecodedFrame, { kind: 'reply' }>): TsmfsError {
  return new TsmfsError(decoded.status, decoded.message);
}
