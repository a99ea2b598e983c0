import { MAX_PATH_LENGTH } from './constants.js';
import { Address } from './messages.js';
import { type Infer, SchemaError, t, validate } from './schema.js';

/**
 * The hidden `.masterinfo` file in a mount's root: how the CLI tools find the master and
 * the mount's session (MooseFS tools use a file of the same name). The mount writes it,
 * the tools read it; this is the one declaration of its content: JSON and a newline.
 */
export const MASTERINFO_NAME = '.masterinfo';

export const MasterInfo = t.obj({
  masters: t.arr(Address, 64),
  sessionId: t.u53,
  subdir: t.str(MAX_PATH_LENGTH),
  mountpoint: t.str(MAX_PATH_LENGTH),
  version: t.str(64),
});
export type MasterInfo = Infer<typeof MasterInfo>;

export function encodeMasterInfo(info: MasterInfo): string {
  return `${JSON.stringify(info)}\n`;
}

/** Throws (SyntaxError for non-JSON, SchemaError for the wrong shape) unless `text` is one. */
export function decodeMasterInfo(text: string): MasterInfo {
  const info = validate(MasterInfo, JSON.parse(text) as unknown);
  if (info.masters.length === 0) throw new SchemaError('masters', 'at least one address');
  return info;
}
