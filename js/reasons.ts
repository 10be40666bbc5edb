/**
 * How the panel words a step's reasons, and whether a stale step is a root cause
 * (its own code, inputs or parameters changed) or only a consequence of an
 * upstream change (two colours, as ipyflow does).  Pure (unit-tested under node).
 */
import { IStepStatus } from './protocol';

const UPSTREAM = /^upstream `([^`]+)` is (.+)$/;

/** Stale only because a step above it is not fresh. */
export function isConsequence(s: IStepStatus): boolean {
  return s.state === 'stale' && s.reasons.length > 0 && s.reasons.every(r => UPSTREAM.test(r));
}

/** A reason as a sentence a user reads ("upstream `x` failed", not "is failed"). */
export function reword(reason: string): string {
  const m = UPSTREAM.exec(reason);
  if (m) {
    const verb: Record<string, string> = { failed: 'failed', 'never run': 'has not run yet', running: 'is running' };
    return `upstream \`${m[1]}\` ${verb[m[2]] ?? 'is ' + m[2]}`;
  }
  const read = /^(input|parameter|source) `([^`]+)` (added|removed)$/.exec(reason);
  if (read) {
    return `${read[3] === 'added' ? 'now reads' : 'no longer reads'} ${read[1]} \`${read[2]}\``;
  }
  return reason;
}
