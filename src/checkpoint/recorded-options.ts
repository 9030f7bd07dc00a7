/**
 * What a batch's run recorded of its options (`optionsJson`), read without the options schema:
 * `status` and `batches` judge leases by it, and load no zod to start fast.
 */

/** The lease staleness the batch was run with (--lease-stale), if its run recorded one. */
export function recordedLeaseStaleMs(optionsJson: string | undefined): number | undefined {
  const v = optionsJson ? (JSON.parse(optionsJson) as { leaseStaleMs?: unknown }).leaseStaleMs : undefined;
  return typeof v === 'number' ? v : undefined;
}
