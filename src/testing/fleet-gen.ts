import type { FleetDocuments } from '../model/document';

/**
 * Deterministic fleets with the mix of the example fleet, for benchmarks and tests:
 * ~65 % realtime (half of them query-capable), ~35 % scheduled, ~10 % disabled, all runtimes,
 * configs with exchange credentials, resource overrides and unicode names.
 */
export function generateFleet(n: number, seed = 42): FleetDocuments {
  const rnd = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const bots: unknown[] = [];
  const schedules: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const scheduled = rnd() < 0.35;
    const kind = pick(KINDS);
    const runtime = pick(RUNTIMES);
    const query = rnd() < 0.5;
    const disabled = rnd() < 0.1;
    const id = cuid(rnd);
    const version = `${1 + Math.floor(rnd() * 3)}.${Math.floor(rnd() * 10)}.${Math.floor(rnd() * 20)}`;
    const config: Record<string, unknown> = {
      name: `${kind.name} ${i}`,
      type: `${scheduled ? 'scheduled' : 'realtime'}/${kind.slug}`,
      version,
      symbol: pick(SYMBOLS),
      symbols: [pick(SYMBOLS), pick(SYMBOLS)],
      interval: pick(['1m', '5m', '15m', '1h']),
      threshold: Math.round(rnd() * 10000) / 100,
      hasFrontend: rnd() < 0.3,
      customBotId: `cb-${kind.slug}`,
      exchange: { name: pick(['binance', 'kraken', 'coinbase']), api_key: `AK${cuid(rnd)}`, api_secret: `SK${cuid(rnd)}${cuid(rnd)}` },
    };
    if (rnd() < 0.2) config.memory_limit = pick(['1Gi', '512Mi', '2Gi']);
    if (rnd() < 0.1) config.cpu_limit = pick(['1', '750m', '2']);
    if (scheduled) config.schedule = pick(CRONS);
    if (disabled) config.enabled = false;
    const doc = {
      id,
      segment_id: i % 100,
      config,
      custom: {
        version,
        filePath: `user${i % 97}/${kind.slug}/${version}/${kind.slug}_${version}_${1700000000000 + i}.zip`,
        createdAt: '2026-01-02T03:04:05Z',
        updatedAt: '2026-02-03T04:05:06Z',
        config: {
          name: kind.slug,
          description: kind.name,
          runtime,
          version,
          author: 'the0',
          type: scheduled ? 'scheduled' : 'realtime',
          entrypoints: query ? { bot: kind.entry(runtime), query: kind.query(runtime) } : { bot: kind.entry(runtime) },
        },
      },
    };
    if (scheduled) schedules.push({ ...doc, next_execution_time: 1767225600 + i * 60 });
    else bots.push(doc);
  }
  return { bots, bot_schedules: schedules };
}

const RUNTIMES = ['python3.11', 'nodejs20', 'rust-stable', 'dotnet8', 'gcc13', 'cpp-gcc13', 'scala3', 'ghc96'] as const;
const SYMBOLS = ['BTCUSDT', 'ETHUSDT', 'SOLUSDT', 'AAPL', 'MSFT', 'EURUSD', 'XAUUSD'];
const CRONS = ['0 9 * * *', '*/15 * * * *', '0 0 9 * * *', '30 0 9 1 * 0', '@hourly', '0 */4 * * 1-5', '15 14 1 * *'];
const ext = (runtime: string) =>
  ({ 'python3.11': 'py', nodejs20: 'js', 'rust-stable': 'rs', dotnet8: 'cs', gcc13: 'c', 'cpp-gcc13': 'cpp', scala3: 'scala', ghc96: 'hs' })[runtime] ?? 'txt';
const KINDS = [
  { slug: 'price-alerts', name: 'Price Alerts ✨' },
  { slug: 'grid-trader', name: 'Grid Trader' },
  { slug: 'dca-buyer', name: 'DCA Buyer' },
  { slug: 'momentum', name: 'Momentum Scanner' },
  { slug: 'portfolio-report', name: 'Portfolio Report' },
  { slug: 'arb-watch', name: 'Arbitrage Watch' },
].map((k) => ({ ...k, entry: (r: string) => `main.${ext(r)}`, query: (r: string) => `query.${ext(r)}` }));

function cuid(rnd: () => number): string {
  const a = 'abcdefghijklmnopqrstuvwxyz';
  const an = a + '0123456789';
  let s = a[Math.floor(rnd() * 26)];
  for (let i = 1; i < 24; i++) s += an[Math.floor(rnd() * 36)];
  return s;
}

/** A small deterministic PRNG (mulberry32): the same seed gives the same sequence everywhere. */
export function mulberry32(seed: number): () => number {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}
