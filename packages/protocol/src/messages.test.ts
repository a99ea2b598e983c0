import { describe, expect, it } from 'vitest';
import { Messages, type MessageName, isSessionMessage } from './messages.js';
import { t } from './schema.js';

/**
 * u32 fields of client requests that are not inode numbers. A new u32 field must be
 * declared in the message's `inodes` or added here: the master's confinement of a
 * session to its export checks only the declared fields (docs/security.md).
 */
const NOT_INODES = new Set(['flags', 'index', 'uid', 'gid', 'rdev', 'trashtime', 'open', 'max', 'pid', 'archiveDelay']);

const names = Object.keys(Messages) as MessageName[];

describe('the message catalogue', () => {
  it('gives every message a distinct id and a link that serves it', () => {
    expect(new Set(names.map((n) => Messages[n].id)).size).toBe(names.length);
    for (const n of names) expect(['any', 'client', 'chunkserver', 'metalogger', 'commands', 'data']).toContain(Messages[n].link);
  });

  it('declares every inode field of a client request, and only u32 fields', () => {
    for (const n of names) {
      const spec = Messages[n];
      if (spec.link !== 'client') continue;
      const declared = spec.inodes as Record<string, string>;
      for (const [field, schema] of Object.entries(spec.req.fields)) {
        if (schema !== t.u32) continue;
        expect({ message: n, field, declared: field in declared || NOT_INODES.has(field) }).toEqual({ message: n, field, declared: true });
      }
      for (const field of Object.keys(declared)) expect((spec.req.fields as Record<string, unknown>)[field]).toBe(t.u32);
    }
  });

  it('needs a session for every client request but register', () => {
    expect(names.filter((n) => Messages[n].link === 'client' && !isSessionMessage(n))).toEqual(['register']);
  });
});
