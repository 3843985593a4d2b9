// The fixed times, policy and id maker of the domain operations' unit tests (peering-ops,
// tenancy): one definition, so the two read the same story.
import type { PeeringPolicy } from '../../src/domain/types.js';

/** When the fixtures' records were created. */
export const T0 = '2025-01-01T00:00:00.000Z';
/** The operations' clock: a day after T0. */
export const NOW = new Date('2025-01-02T00:00:00.000Z');
/** A week after T0. */
export const LATER = '2025-01-09T00:00:00.000Z';
/** Pending requests live 1 h, ended ones are kept a day, 125 active peerings per VPC (SPEC §3). */
export const POLICY: PeeringPolicy = { pendingTtlSeconds: 3600, terminalRetentionSeconds: 86400, maxActivePerVpc: 125 };
/** Peering id number `n` (pcx- and 17 hex digits, SPEC §2). */
export const pcx = (n: number): string => `pcx-${n.toString(16).padStart(17, '0')}`;
