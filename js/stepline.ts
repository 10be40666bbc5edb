/**
 * The frontend's one reader of a cell's `%%step NAME ...` header line. It finds only the
 * step's name and the rest of the line; the kernel's parser (spec.py) reads the options.
 */

const STEP_HEADER = /^[ \t]*%%step[ \t]+([A-Za-z_][A-Za-z0-9_-]*)(.*)$/;

export interface IStepHeader {
  /** The step's name. */
  name: string;
  /** What follows the name on the header line (its options, unparsed). */
  rest: string;
  /** The cell's code below the header line. */
  body: string;
}

/** The header of a %%step cell (blank lines above it allowed), or null for any other cell. */
export function stepHeader(source: string): IStepHeader | null {
  const text = source.replace(/^(\s*\n)+/, '');
  const nl = text.indexOf('\n');
  const m = STEP_HEADER.exec(nl < 0 ? text : text.slice(0, nl));
  return m ? { name: m[1], rest: m[2], body: nl < 0 ? '' : text.slice(nl + 1) } : null;
}

/** The step a cell's source defines, when it is a %%step cell. */
export function stepOfSource(source: string): string | null {
  return stepHeader(source)?.name ?? null;
}
