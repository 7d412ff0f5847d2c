/**
 * Keeping the disk out of the measurements.
 *
 * On this machine the output directory is on ext4 without a journal. There, the inode allocator
 * skips "recently deleted" inodes one by one (`recently_deleted()`: deleted less than 30 s ago,
 * or 5.5 min while the inode table block is still dirty), so creating 10,000 files right after
 * 10,000 others were removed costs seconds of system time — in fleetsynth and in the floor
 * alike, and not at all a property of either. So: nothing is deleted while measuring; outputs
 * are removed at the end, followed by `sync` (clean blocks: the 30 s window) and a timestamp; a
 * later run waits until that window has passed, then checks that creating files is cheap.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const PREFIX = 'fleetsynth-bench-';
const MARK = path.join(os.tmpdir(), `${PREFIX}last-cleanup`);
/** ext4's recently-deleted window for clean inode table blocks, plus a margin. */
const WINDOW_MS = 32_000;
/** Creating a small file costs ~40-60 µs here when the disk is quiet. */
const QUIET_US_PER_CREATE = 100;

const sleep = (ms: number) => spawnSync('sleep', [String(ms / 1000)]);

/** What the disk looked like before measuring. */
export interface DiskState {
  /** Cost of creating one small file in a fresh directory, in µs. */
  readonly usPerCreate: number;
  /** Time spent waiting for a quiet disk. */
  readonly waitedMs: number;
  /** Whether creating files was as cheap as usual when measuring started. */
  readonly quiet: boolean;
}

/** A fresh working directory for one benchmark program, after waiting for a quiet disk. */
export function prepareWorkDir(label: string): { dir: string; disk: DiskState } {
  const t0 = performance.now();
  let removed = false;
  for (const name of fs.readdirSync(os.tmpdir())) {
    // Leftovers of an interrupted run (each run removes its own directory at the end).
    if (name.startsWith(PREFIX) && name !== path.basename(MARK)) {
      fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
      removed = true;
    }
  }
  if (removed) markCleanup();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${PREFIX}${label}-`));
  const state = waitForQuietDisk(dir);
  return { dir, disk: { ...state, waitedMs: performance.now() - t0 } };
}

/**
 * Waits until the last cleanup's recently-deleted window has passed and creating files is cheap
 * again (probed in `dir`); a benchmark that runs several programs calls it between them when
 * one removed many files (bench:serve's own directory).
 */
export function waitForQuietDisk(dir: string): DiskState {
  const t0 = performance.now();
  const since = Date.now() - markTime();
  if (since < WINDOW_MS) sleep(WINDOW_MS - since);
  const probes = fs.mkdtempSync(path.join(dir, 'probe-'));
  let state = probeDisk(path.join(probes, '0'));
  for (let attempt = 1; attempt < 12 && !state.quiet; attempt++) {
    // Someone else deleted many files: let their window pass.
    spawnSync('sync');
    sleep(10_000);
    state = probeDisk(path.join(probes, String(attempt)));
  }
  return { ...state, waitedMs: performance.now() - t0 };
}

/** Times creating 3,000 small files in a new directory `dir`. */
export function probeDisk(dir: string): DiskState {
  fs.mkdirSync(dir, { recursive: true });
  const s = performance.now();
  for (let i = 0; i < 3000; i++) fs.writeFileSync(path.join(dir, `f${i}`), 'x');
  const us = ((performance.now() - s) * 1000) / 3000;
  return { usPerCreate: us, waitedMs: 0, quiet: us < QUIET_US_PER_CREATE };
}

/** Removes a working directory and starts the recently-deleted window the next run waits out. */
export function removeWorkDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  markCleanup();
}

function markCleanup(): void {
  spawnSync('sync');
  fs.writeFileSync(MARK, String(Date.now()));
}

function markTime(): number {
  try {
    return Number(fs.readFileSync(MARK, 'utf8')) || 0;
  } catch {
    return 0;
  }
}
