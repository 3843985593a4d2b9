// One way to run a fast-check property under tap: a fixed seed (reproducible on any machine),
// and the failure reported as a tap assertion carrying fast-check's counterexample.
import fc from 'fast-check';

/** The seed of every property test; change it locally to explore, never to make a test pass. */
export const PROPERTY_SEED = 10_001;

interface Asserter {
  ok(value: unknown, message: string): unknown;
}

/** Checks `property` for `numRuns` seeded cases; one tap assertion, with the shrunk counterexample on failure. */
export function holds<Ts>(t: Asserter, name: string, property: fc.IProperty<Ts>, numRuns: number): void {
  const details = fc.check(property, { seed: PROPERTY_SEED, numRuns });
  t.ok(!details.failed, details.failed ? `${name}\n${fc.defaultReportMessage(details) ?? ''}` : `${name} (${details.numRuns} cases)`);
}

/** holds() for an async property. */
export async function holdsAsync<Ts>(t: Asserter, name: string, property: fc.IAsyncProperty<Ts>, numRuns: number): Promise<void> {
  const details = await fc.check(property, { seed: PROPERTY_SEED, numRuns });
  t.ok(!details.failed, details.failed ? `${name}\n${fc.defaultReportMessage(details) ?? ''}` : `${name} (${details.numRuns} cases)`);
}
