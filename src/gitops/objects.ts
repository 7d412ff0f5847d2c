// Git objects written in-process for a small commit (a live-service event: a few bot files): the
// changed blobs, the trees on their paths and the commit, as loose objects, with no git process
// and without reading the index (at 50,000 bots `update-index` + `write-tree` + `commit-tree`
// read a 4 MB index twice and cost ~35 ms; this costs a few). Only the trees on the changed
// paths are read (one `cat-file --batch`); every other entry keeps its id. SHA-1 repositories only.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

/** One entry of a tree object. */
interface TreeEntry {
  mode: string;
  name: string;
  /** The name's bytes as stored (a name that is not UTF-8 keeps them). */
  raw: Buffer;
  /** Raw 20-byte id. */
  id: Buffer;
}

const TREE_MODE = '40000';

/** Reads raw objects by name (`<tree>:<path>`); undefined for a name that does not resolve. */
export type ObjectReader = (names: readonly string[]) => Promise<({ type: string; data: Buffer } | undefined)[]>;

/** Parses a tree object. */
export function parseTree(data: Buffer): TreeEntry[] {
  const out: TreeEntry[] = [];
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    const nul = data.indexOf(0, sp);
    if (sp < 0 || nul < 0 || nul + 21 > data.length) throw new Error('malformed tree object');
    const raw = data.subarray(sp + 1, nul);
    out.push({ mode: data.toString('latin1', i, sp), name: raw.toString('utf8'), raw, id: data.subarray(nul + 1, nul + 21) });
    i = nul + 21;
  }
  return out;
}

/** Git's tree order: names compared bytewise, a tree's name as if it ended in "/". */
function sortKey(e: TreeEntry): Buffer {
  return e.mode === TREE_MODE ? Buffer.concat([e.raw, SLASH]) : e.raw;
}
const SLASH = Buffer.from('/');
const NUL = Buffer.from([0]);

/** Serializes tree entries in git's order. */
export function serializeTree(entries: readonly TreeEntry[]): Buffer {
  const sorted = entries.map((e) => ({ e, k: sortKey(e) })).sort((a, b) => Buffer.compare(a.k, b.k));
  const parts: Buffer[] = [];
  for (const { e } of sorted) parts.push(Buffer.from(`${e.mode} `, 'latin1'), e.raw, NUL, e.id);
  return Buffer.concat(parts);
}

/** Writes loose objects into a repository's object directory. */
export class LooseObjectWriter {
  constructor(private readonly objectsDir: string) {}

  /** Hashes and stores an object (unless it is there already); returns its raw id. */
  write(type: 'blob' | 'tree' | 'commit', data: Buffer): Buffer {
    const store = Buffer.concat([Buffer.from(`${type} ${data.length}\0`, 'latin1'), data]);
    const id = crypto.createHash('sha1').update(store).digest();
    const hex = id.toString('hex');
    const dir = path.join(this.objectsDir, hex.slice(0, 2));
    const file = path.join(dir, hex.slice(2));
    if (fs.existsSync(file)) return id;
    fs.mkdirSync(dir, { recursive: true });
    const tmp = path.join(dir, `tmp_obj_fleetsynth_${process.pid}_${hex.slice(2, 10)}`);
    fs.writeFileSync(tmp, zlib.deflateSync(store, { level: 1 }), { mode: 0o444 });
    fs.renameSync(tmp, file);
    return id;
  }
}

/** A file's new state: its bytes and mode, or null when it is gone. */
export type FileState = { readonly data: Buffer; readonly mode: '100644' | '100755' } | null;

/**
 * The tree of `baseTree` with `changes` (repository-relative paths → new state) applied: blobs
 * and the rewritten trees are written, the new root tree's id (hex) is returned. A path whose
 * parent is a file in the base, or a directory where a file goes, throws (the caller falls back
 * to the index).
 */
export async function applyToTree(
  baseTree: string,
  changes: ReadonlyMap<string, FileState>,
  read: ObjectReader,
  out: LooseObjectWriter,
): Promise<string> {
  // Every directory on a changed path, deepest first; the root is "".
  const dirs = new Set<string>(['']);
  for (const p of changes.keys()) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  const names = [...dirs];
  const objs = await read(names.map((d) => (d === '' ? baseTree : `${baseTree}:${d}`)));
  const trees = new Map<string, Map<string, TreeEntry>>();
  names.forEach((d, i) => {
    const o = objs[i];
    if (o !== undefined && o.type !== 'tree') throw new Error(`${d} is not a directory in the base tree`);
    trees.set(d, new Map((o ? parseTree(o.data) : []).map((e) => [e.name, e])));
  });
  for (const [p, state] of changes) {
    const slash = p.lastIndexOf('/');
    const dir = slash < 0 ? '' : p.slice(0, slash);
    const name = p.slice(slash + 1);
    const entries = trees.get(dir)!;
    const old = entries.get(name);
    if (old?.mode === TREE_MODE) throw new Error(`${p} is a directory in the base tree`);
    if (state === null) entries.delete(name);
    else entries.set(name, { mode: state.mode, name, raw: Buffer.from(name, 'utf8'), id: out.write('blob', state.data) });
  }
  const depth = (d: string) => (d === '' ? 0 : d.split('/').length);
  for (const d of names.sort((a, b) => depth(b) - depth(a))) {
    if (d === '') continue;
    const entries = trees.get(d)!;
    const slash = d.lastIndexOf('/');
    const parent = trees.get(slash < 0 ? '' : d.slice(0, slash))!;
    const name = d.slice(slash + 1);
    // An emptied directory leaves its parent, as in git.
    if (entries.size === 0) parent.delete(name);
    else parent.set(name, { mode: TREE_MODE, name, raw: parent.get(name)?.raw ?? Buffer.from(name, 'utf8'), id: out.write('tree', serializeTree([...entries.values()])) });
  }
  return out.write('tree', serializeTree([...trees.get('')!.values()])).toString('hex');
}

/** An identity line's value (`Name <email> seconds ±hhmm`); refuses what git would mangle. */
export function identity(person: { readonly name: string; readonly email: string }, when: Date): string {
  if (/[<>\n\0]/.test(person.name + person.email)) throw new Error('author name or email holds <, > or a newline');
  const offset = -when.getTimezoneOffset();
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  const tz = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}${String(abs % 60).padStart(2, '0')}`;
  return `${person.name} <${person.email}> ${Math.floor(when.getTime() / 1000)} ${tz}`;
}

/** Writes a commit object; returns its id (hex). */
export function writeCommit(
  out: LooseObjectWriter,
  c: { readonly tree: string; readonly parent?: string; readonly author: { readonly name: string; readonly email: string }; readonly message: string; readonly when?: Date },
): string {
  const who = identity(c.author, c.when ?? new Date());
  const message = c.message.endsWith('\n') ? c.message : `${c.message}\n`;
  const text = `tree ${c.tree}\n${c.parent ? `parent ${c.parent}\n` : ''}author ${who}\ncommitter ${who}\n\n${message}`;
  return out.write('commit', Buffer.from(text, 'utf8')).toString('hex');
}
