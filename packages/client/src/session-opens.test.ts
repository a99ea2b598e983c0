import { describe, expect, it } from 'vitest';
import { MAX_HELD, SessionOpens } from './session-opens.js';

describe('opens held instead of released (docs/mount.md, "Opens held")', () => {
  it('a held open is reopened once, still counted open for the master; letting go makes its release due; past MAX_HELD the oldest goes', () => {
    const flushed: number[] = [];
    const opens: SessionOpens = new SessionOpens(() => flushed.push(...opens.takeDue()));
    opens.opened(7, 0);
    expect(opens.hold(7)).toBe(true);
    // A second close of the same file sends its release: one open is held per file.
    expect(opens.hold(7)).toBe(false);
    expect(opens.declared).toEqual([{ inode: 7, count: 1, writing: false }]);
    expect(opens.reopen(7)).toBe(true);
    expect(opens.reopen(7)).toBe(false);
    expect(opens.hold(7)).toBe(true);
    opens.letGo([8, 7]);
    expect(opens.holds(7)).toBe(false);
    expect(opens.takeDue()).toEqual([7]);
    for (let i = 1; i <= MAX_HELD + 1; i++) opens.hold(1000 + i);
    expect(opens.holds(1001)).toBe(false);
    expect(opens.holds(1002)).toBe(true);
    expect(opens.takeDue()).toEqual([1001]);
    // Let go all at once: their releases go out in batches, as any releases do.
    opens.letGo();
    expect(flushed.length + opens.takeDue().length).toBe(MAX_HELD);
    expect(flushed.length).toBeGreaterThan(0);
  });
});
