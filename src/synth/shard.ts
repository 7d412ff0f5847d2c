import { createHash } from 'node:crypto';

/** Directory under the output root that holds the bots' shard directories. */
export const BOTS_DIR = 'bots';

/**
 * The shard directory of a bot: a pure function of its id and the shard count, so adding or
 * removing other bots never moves a file. Argo CD makes one Application per shard directory.
 */
export function shardOf(id: string, shards: number): string {
  let h = hashes.get(id);
  if (h === undefined) {
    h = createHash('sha1').update(id).digest().readUInt32BE(0);
    // Every file path is asked for more than once per run (cache, render, removals): hash each id once.
    if (hashes.size >= 200_000) hashes.clear();
    hashes.set(id, h);
  }
  return shardName(h % shards, shards);
}

const hashes = new Map<string, number>();

/** Directory name of shard `index` of `shards`: `shard-07` (wider when there are over 100). */
export function shardName(index: number, shards: number): string {
  return `shard-${String(index).padStart(Math.max(2, String(shards - 1).length), '0')}`;
}

/** Relative path (POSIX separators) of a bot's file under the output root. */
export function botFilePath(id: string, fileName: string, shards: number): string {
  return `${BOTS_DIR}/${shardOf(id, shards)}/${fileName}`;
}

/** Names fleetsynth gives bot files; nothing else in a shard directory is ever touched. */
export const BOT_FILE_PATTERN = /^(bot|schedule)-([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.yaml$/;
