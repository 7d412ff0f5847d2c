import type { FleetDocuments } from '../../src/model/document';

/** Documents that exercise YAML quoting, names and labels: the snapshot and exactness tests use them. */
export function edgeCaseFleet(): FleetDocuments {
  const custom = (name: string, runtime: string, entrypoints: Record<string, string>, version = '1.0.0') => ({
    version,
    filePath: `u/${runtime}/${version || "none"}/bot.zip`.replace(/\+/g, "_"),
    createdAt: '2026-01-01T00:00:00Z',
    config: { name, runtime, entrypoints, type: 'realtime' },
  });
  return {
    bots: [
      {
        id: 'plain-bot',
        config: { name: 'plain', type: 'realtime/plain', version: '1.0.0', symbol: 'BTCUSDT' },
        custom: custom('plain', 'python3.11', { bot: 'main.py' }),
      },
      {
        id: 'query-bot-with-a-rather-long-identifier-for-edge-cases-x',
        config: {
          name: 'yes',
          version: '007',
          on: 'off',
          date: '2001-12-14',
          float: '1e3',
          empty_map: {},
          empty_list: [],
          multi: 'line one\nline two\n',
          unicode: 'ünïcødé ✨ 😀',
          quote: `it's "quoted"`,
          html: '<b>R&D</b>',
          api_key: 'AK-very-secret-123',
        },
        custom: custom('Price Alerts ✨ v2!', 'nodejs20', { bot: 'index.js', query: 'query.js' }, '2.1.0+build.7'),
      },
      {
        id: '12345',
        enabled: false,
        config: { name: '0777', version: 'true', memory_limit: '1Gi', cpu_request: '250m', nested: { deep: { token: { a: 1 } } } },
        custom: custom('@@@', 'rust-stable', { bot: 'src/main.rs', query: '' }, ''),
      },
      {
        id: '3f2b8c1e-9a4d-4e7b-b6c2-1d0e5f7a9b3c',
        config: null,
        custom: custom('', 'dotnet8', { bot: 'Bot.dll' }),
      },
      {
        id: 'multi-line',
        config: { script: '#!/bin/sh\necho "hi"\n  indented\n', leading: ' space', trailing: 'space ', colon: 'a: b', hash: 'a #b' },
        custom: custom('multi', 'scala3', { bot: 'Main.scala', query: 'Query.scala' }),
      },
    ],
    bot_schedules: [
      {
        id: 'sched-6-field',
        config: { name: 's', schedule: '0 0 9 * * *', symbols: ['BTC', 'ETH'], password: 'hunter2-long' },
        custom: custom('sched', 'ghc96', { bot: 'Main.hs', query: 'Query.hs' }),
      },
      {
        id: 'sched-descriptor',
        config: { name: 's2', schedule: '@hourly', yes: 'no' },
        custom: custom('sched2', 'gcc13', { bot: 'main.c' }),
      },
      {
        id: 'very-long-schedule-id-that-needs-truncation-for-name-limit',
        config: { schedule: '*/15 * * * *' },
        custom: custom('long', 'cpp-gcc13', { bot: 'main.cpp' }),
      },
      {
        id: 'n',
        config: { schedule: '30 0 9 1 * 0', n: 'y' },
        custom: custom('n', 'python3.11', { bot: 'main.py' }),
      },
    ],
  };
}
