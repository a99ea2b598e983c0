/**
 * MooseFS 3.0's extra attributes (mfseattr(1)): one byte per inode, with MooseFS's bits
 * and names, shared by the master (which stores and enforces them), the mount (whose
 * caching three of them change, from `Attr.eattr`) and the tools.
 */
export const EATTR = {
  noowner: 0x01,
  noattrcache: 0x02,
  noentrycache: 0x04,
  nodatacache: 0x08,
  snapshot: 0x10,
  undeletable: 0x20,
  appendonly: 0x40,
  immutable: 0x80,
} as const;

export type EattrName = keyof typeof EATTR;
export const EATTR_NAMES = Object.keys(EATTR) as EattrName[];

/** "noowner,undeletable", or "-" for none: as mfsgeteattr prints them. */
export function eattrText(value: number): string {
  const names = EATTR_NAMES.filter((n) => value & EATTR[n]);
  return names.length > 0 ? names.join(',') : '-';
}
