// Wall-clock time in nanoseconds, as Go's time.Now() gives it: the query API's `timestamp`
// (RFC 3339, nanosecond fraction) and the unique suffix of query Job names and result keys.

const NS_PER_MS = 1_000_000n;

// Date.now() has millisecond resolution; the monotonic clock fills in the nanoseconds. The anchor
// is re-taken when the two drift apart (NTP steps, suspended VMs), so the wall time stays honest.
let anchorWall = BigInt(Date.now()) * NS_PER_MS;
let anchorMono = process.hrtime.bigint();

/** Current Unix time in nanoseconds. */
export function unixNanos(): bigint {
  const wallMs = Date.now();
  let now = anchorWall + (process.hrtime.bigint() - anchorMono);
  const drift = now / NS_PER_MS - BigInt(wallMs);
  if (drift > 2n || drift < -2n) {
    anchorWall = BigInt(wallMs) * NS_PER_MS;
    anchorMono = process.hrtime.bigint();
    now = anchorWall;
  }
  return now;
}

/** `2026-01-02T15:04:05.123456789Z`: RFC 3339 in UTC, always nine fractional digits. */
export function rfc3339Nano(ns: bigint): string {
  const ms = ns / NS_PER_MS;
  const iso = new Date(Number(ms)).toISOString(); // 2026-01-02T15:04:05.123Z
  const frac = ((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  return `${iso.slice(0, 19)}.${frac.toString().padStart(9, '0')}Z`;
}

/** A source of strictly increasing Unix nanoseconds: two queries never share a Job name or result key. */
export function uniqueNanos(clock: () => bigint = unixNanos): () => bigint {
  let last = 0n;
  return () => {
    const now = clock();
    last = now > last ? now : last + 1n;
    return last;
  };
}
