// Field checks the domain repeats even though the RPC layer validated the params: the domain is
// the last guard before a record exists, and ids and bridges end up on OVS command lines (§3 rule 8).
import { invalidParams } from '../errors.js';
import { BRIDGE_PATTERN, ID_PATTERN, MAX_NAME_LENGTH } from './types.js';

/** ID_PATTERN in words, for every message about an id (the RPC schema's too). */
export const ID_RULE = "1 to 63 lowercase letters, digits and '-', starting with a letter or digit";
/** BRIDGE_PATTERN in words. */
export const BRIDGE_RULE = "1 to 15 letters, digits, '_' and '-'";

/** Throws INVALID_PARAMS unless `value` matches the VPC/tenant id pattern. */
export function requireId(field: string, value: string): void {
  if (!ID_PATTERN.test(value)) {
    throw invalidParams(field, `${field} "${value}" is not a valid id: use ${ID_RULE}.`);
  }
}

/** Throws INVALID_PARAMS unless `value` is a valid OVS bridge name. */
export function requireBridge(field: string, value: string): void {
  if (!BRIDGE_PATTERN.test(value)) {
    throw invalidParams(field, `${field} "${value}" is not a valid bridge name: use ${BRIDGE_RULE}.`);
  }
}

/**
 * Checks an optional name and returns what to store: `undefined` for no name. An empty string
 * means "no name", so that an update can clear it. Control characters are refused: a name is
 * free text, but it is printed in tables and log lines, where a newline or escape would forge
 * output. Length counts code points, not UTF-16 units.
 */
export function optionalName(field: string, value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  if ([...value].length > MAX_NAME_LENGTH) {
    throw invalidParams(field, `${field} is longer than ${MAX_NAME_LENGTH} characters; shorten it.`);
  }
  if (/\p{Cc}/u.test(value)) {
    throw invalidParams(field, `${field} contains a control character (such as a newline or tab); remove it.`);
  }
  return value;
}

/** Code-point order, so that listings sort the same on every host whatever its locale. */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
