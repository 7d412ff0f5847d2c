/**
 * In-process MongoDB wire-protocol server for tests.
 *
 * Speaks enough of the MongoDB wire protocol (OP_MSG, plus legacy OP_QUERY/OP_REPLY for the
 * first handshake) for the OFFICIAL `mongodb` driver to connect with
 * `mongodb://127.0.0.1:<port>/?directConnection=true` and run CRUD, cursors, aggregation and
 * findAndModify against in-memory collections. Query/projection/sort/update/aggregation semantics
 * come from `mingo`; encoding uses the official `bson` package.
 *
 * Storage model: documents are stored as plain JS objects. BSON numbers are stored as JS numbers
 * (so `mingo` compares them like MongoDB does: int32 5 == double 5.0 == long 5). To keep BSON
 * types round-tripping, values that would otherwise come back as a different BSON type (an
 * integral double such as `new Double(2)`, or a `Long`) are remembered in a side table and
 * re-encoded with their original type on the way out. Longs outside the JS safe-integer range are
 * kept as `Long` objects. ObjectId, Date, Decimal128, Binary, RegExp, Timestamp ... are stored as
 * the `bson` class instances / JS objects the deserializer produces.
 */
import * as net from 'net';
import {
  Double,
  EJSON,
  Long,
  ObjectId,
  calculateObjectSize,
  deserialize,
  serialize,
} from 'bson';
import { Aggregator, Context, Query, update as mingoUpdate } from 'mingo';

// `mingo/init/context` has no typings reachable with moduleResolution "node" (they live behind
// package "exports"), so load it with a typed require. It returns a Context with ALL operators.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const initFullContext: () => Context = require('mingo/init/context').default;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Doc = Record<string, any>;

const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;
const OP_COMPRESSED = 2012;

const MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024;
const MAX_MESSAGE_SIZE_BYTES = 48_000_000;
const MAX_WRITE_BATCH_SIZE = 100_000;
const DEFAULT_FIRST_BATCH = 101;
/** Leave headroom under 16 MiB for the reply envelope. */
const MAX_BATCH_BYTES = MAX_BSON_OBJECT_SIZE - 64 * 1024;

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

const FLAG_CHECKSUM_PRESENT = 1 << 0;
const FLAG_MORE_TO_COME = 1 << 1;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

class ServerError extends Error {
  constructor(
    readonly code: number,
    readonly codeName: string,
    message: string,
  ) {
    super(message);
  }
}

const badValue = (msg: string) => new ServerError(2, 'BadValue', msg);
const failedToParse = (msg: string) => new ServerError(9, 'FailedToParse', msg);

/** Options accepted by {@link MongoWireServer.failNext} for the injected error. */
export interface InjectedError {
  code?: number;
  codeName?: string;
  errmsg?: string;
  errorLabels?: string[];
}

// ---------------------------------------------------------------------------------------------
// Numeric type tagging (keeps int32 / double / long distinct across a round trip)
// ---------------------------------------------------------------------------------------------

type NumTag = 'double' | 'long';
/** container (plain object or array) -> key -> original BSON numeric type when not inferable. */
const numTags = new WeakMap<object, Map<string, NumTag>>();

function isPlainObject(v: unknown): v is Doc {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

const isContainer = (v: unknown): v is Doc | unknown[] => Array.isArray(v) || isPlainObject(v);

function getTag(container: object, key: string): NumTag | undefined {
  return numTags.get(container)?.get(key);
}

function setTag(container: object, key: string, tag: NumTag | undefined): void {
  let m = numTags.get(container);
  if (!tag) {
    m?.delete(key);
    return;
  }
  if (!m) numTags.set(container, (m = new Map()));
  m.set(key, tag);
}

function copyTags(from: object, to: object): void {
  const m = numTags.get(from);
  if (m && m.size) numTags.set(to, new Map(m));
  else numTags.delete(to);
}

const MAX_SAFE_LONG = Long.fromNumber(Number.MAX_SAFE_INTEGER);
const MIN_SAFE_LONG = Long.fromNumber(Number.MIN_SAFE_INTEGER);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function normalizeChild(container: object, key: string, v: any): unknown {
  if (v === null || typeof v !== 'object') return v;
  switch (v._bsontype) {
    case 'Int32':
      return v.value;
    case 'Double': {
      const n: number = v.value;
      // JS numbers that are integral and fit int32 would be re-encoded as int32: remember "double".
      if (Number.isInteger(n) && n >= INT32_MIN && n <= INT32_MAX) setTag(container, key, 'double');
      return n;
    }
    case 'Long': {
      const l = v as Long;
      if (l.lessThanOrEqual(MAX_SAFE_LONG) && l.greaterThanOrEqual(MIN_SAFE_LONG)) {
        setTag(container, key, 'long');
        return l.toNumber();
      }
      return l;
    }
    default:
      return normalize(v);
  }
}

/** In place: BSON Int32/Double/(safe) Long -> JS number, recording tags. Returns the value. */
function normalize<T>(v: T): T {
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = normalizeChild(v, String(i), v[i]);
  } else if (isPlainObject(v)) {
    const o: Doc = v;
    for (const k of Object.keys(o)) o[k] = normalizeChild(o, k, o[k]);
  }
  return v;
}

function wireChild(x: unknown, tag: NumTag | undefined): unknown {
  if (typeof x === 'number' && tag) {
    if (tag === 'double') return new Double(x);
    if (Number.isInteger(x)) return Long.fromNumber(x);
    return x;
  }
  return toWire(x);
}

/** Copy of a stored value with tagged numbers re-wrapped as Double/Long for serialization. */
function toWire(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    const tags = numTags.get(v);
    const out = new Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = wireChild(v[i], tags?.get(String(i)));
    return out;
  }
  if (!isPlainObject(v)) return v;
  const tags = numTags.get(v);
  const out: Doc = {};
  for (const k of Object.keys(v)) {
    const x = v[k];
    if (x === undefined) continue;
    out[k] = wireChild(x, tags?.get(k));
  }
  return out;
}

/** Deep copy of plain objects/arrays (BSON class instances are shared), tags included. */
function cloneTagged<T>(v: T): T {
  if (Array.isArray(v)) {
    const out = v.map(cloneTagged);
    copyTags(v, out);
    return out as T;
  }
  if (isPlainObject(v)) {
    const out: Doc = {};
    for (const k of Object.keys(v)) out[k] = cloneTagged(v[k]);
    copyTags(v, out);
    return out as T;
  }
  if (v instanceof Date) return new Date(v.getTime()) as T;
  return v;
}

/** After a projection produced `dst` from `src`, carry numeric tags over for unchanged values. */
function transferTags(src: unknown, dst: unknown): void {
  if (!isContainer(src) || !isContainer(dst) || src === dst) return;
  const s = src as Doc;
  const d = dst as Doc;
  for (const k of Object.keys(d)) {
    const dv = d[k];
    const sv = s[k];
    if (typeof dv === 'number') {
      if (dv === sv || Object.is(dv, sv)) setTag(d, k, getTag(s, k));
    } else if (isContainer(dv) && isContainer(sv)) {
      transferTags(sv, dv);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Small document helpers
// ---------------------------------------------------------------------------------------------

function getPath(doc: unknown, path: string): unknown {
  let cur: unknown = doc;
  for (const seg of path.split('.')) {
    if (Array.isArray(cur)) {
      if (!/^\d+$/.test(seg)) return undefined;
      cur = cur[Number(seg)];
    } else if (isPlainObject(cur)) {
      cur = cur[seg];
    } else {
      return undefined;
    }
  }
  return cur;
}

/** Set a dotted path, creating plain objects along the way. */
function setPath(doc: Doc, path: string, value: unknown, tag?: NumTag): void {
  const segs = path.split('.');
  let cur: Doc = doc;
  for (let i = 0; i < segs.length - 1; i++) {
    const next = cur[segs[i]];
    if (!isContainer(next)) cur[segs[i]] = {};
    cur = cur[segs[i]];
  }
  const last = segs[segs.length - 1];
  cur[last] = value;
  setTag(cur, last, typeof value === 'number' ? tag : undefined);
}

/** Shallow copies along `path` so `value` can be substituted without touching `doc`. */
function withPath(doc: Doc, path: string, value: unknown): Doc {
  const segs = path.split('.');
  const root: Doc = { ...doc };
  let cur: Doc = root;
  for (let i = 0; i < segs.length - 1; i++) {
    const next = cur[segs[i]];
    cur[segs[i]] = Array.isArray(next) ? [...next] : isPlainObject(next) ? { ...next } : {};
    cur = cur[segs[i]];
  }
  cur[segs[segs.length - 1]] = value;
  return root;
}

/** Returns a doc with `_id` as first field (MongoDB always stores it first). Tags are kept. */
function idFirst(doc: Doc): Doc {
  const keys = Object.keys(doc);
  if (keys[0] === '_id' || !('_id' in doc)) return doc;
  const out: Doc = { _id: doc._id };
  for (const k of keys) if (k !== '_id') out[k] = doc[k];
  copyTags(doc, out);
  return out;
}

/** Replace the contents of `target` in place by those of `src` (keeps array references live). */
function replaceContents(target: Doc, src: Doc): void {
  for (const k of Object.keys(target)) delete target[k];
  Object.assign(target, src);
  copyTags(src, target);
}

/** Canonical identity string of a value (used for _id uniqueness and distinct). */
function keyOf(v: unknown): string {
  if (typeof v === 'string') return `s:${v}`;
  if (typeof v === 'number') return `n:${v}`;
  if (v instanceof ObjectId) return `o:${v.toHexString()}`;
  return EJSON.stringify({ v: toWire(v) } as Doc, { relaxed: true });
}

function sameDoc(a: Doc, b: Doc): boolean {
  return Buffer.compare(serializeDoc(a), serializeDoc(b)) === 0;
}

function serializeDoc(doc: unknown): Uint8Array {
  return serialize(toWire(doc) as Doc, { ignoreUndefined: true, checkKeys: false });
}

/**
 * A test on a string `id` that every document matching `filter` passes, when the filter pins
 * `id` (`id: "x"`, `id: {$in: [...]}` of strings, `id: {$regex: "<string>"}`, and `$and`/`$or` of
 * those); undefined when it does not. A superset, never a narrowing mingo would not make.
 */
export function idNarrowing(filter: unknown): ((id: string) => boolean) | undefined {
  if (!isPlainObject(filter)) return undefined;
  const tests: Array<(id: string) => boolean> = [];
  const v = filter.id;
  if (typeof v === 'string') tests.push((id) => id === v);
  else if (isPlainObject(v)) {
    const keys = Object.keys(v);
    if (keys.length === 1 && Array.isArray(v.$in) && v.$in.every((x: unknown) => typeof x === 'string')) {
      const set = new Set<string>(v.$in as string[]);
      tests.push((id) => set.has(id));
    } else if (keys.length === 1 && typeof v.$regex === 'string') {
      const re = new RegExp(v.$regex);
      tests.push((id) => re.test(id));
    }
  }
  if (Array.isArray(filter.$and)) {
    for (const c of filter.$and) {
      const t = idNarrowing(c);
      if (t) tests.push(t);
    }
  }
  if (Array.isArray(filter.$or) && filter.$or.length > 0) {
    const ors = filter.$or.map(idNarrowing);
    if (ors.every((t): t is (id: string) => boolean => t !== undefined)) tests.push((id) => ors.some((t) => t(id)));
  }
  if (tests.length === 0) return undefined;
  return (id) => tests.every((t) => t(id));
}

function isOperatorDoc(u: Doc): boolean {
  const keys = Object.keys(u);
  const ops = keys.filter((k) => k.startsWith('$'));
  if (ops.length && ops.length !== keys.length) {
    throw failedToParse('Update document cannot mix operators and plain fields');
  }
  return ops.length > 0;
}

function asNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (v instanceof Long) return v.toNumber();
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Server state
// ---------------------------------------------------------------------------------------------

interface IndexSpec extends Doc {
  v: number;
  key: Doc;
  name: string;
}

interface CollState {
  docs: Doc[];
  indexes: IndexSpec[];
  /** Created explicitly / by a write; a collection with documents always counts as existing. */
  created: boolean;
}

interface CursorState {
  ns: string;
  docs: Doc[];
  pos: number;
}

interface Failure {
  remaining: number;
  error: InjectedError;
}

const ID_INDEX = (): IndexSpec => ({ v: 2, key: { _id: 1 }, name: '_id_' });

const SUPPORTED_UPDATE_OPS = new Set([
  '$set',
  '$unset',
  '$inc',
  '$mul',
  '$min',
  '$max',
  '$rename',
  '$currentDate',
  '$push',
  '$pull',
  '$pullAll',
  '$pop',
  '$addToSet',
  '$bit',
  '$setOnInsert',
]);

type Handler = (db: string, cmd: Doc, conn: ConnState) => Doc;

interface ConnState {
  id: number;
}

interface UpdateResult {
  modified: boolean;
}

export class MongoWireServer {
  readonly uri: string;
  readonly port: number;

  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly dbs = new Map<string, Map<string, CollState>>();
  private readonly cursors = new Map<number, CursorState>();
  private readonly failures = new Map<string, Failure>();
  private readonly context = initFullContext();
  private nextCursorId = 1_000_000 + Math.floor(Math.random() * 1_000_000);
  private nextRequestId = 1;
  private nextConnectionId = 1;
  /** Database of the command being executed (for mingo's collectionResolver). */
  private currentDb = 'test';
  private readonly handlers: Record<string, Handler>;

  private constructor(server: net.Server, port: number) {
    this.server = server;
    this.port = port;
    this.uri = `mongodb://127.0.0.1:${port}/?directConnection=true`;
    this.handlers = this.buildHandlers();
  }

  /** Start listening on 127.0.0.1 (`port` 0 / omitted = random free port). */
  static async start(opts: { port?: number } = {}): Promise<MongoWireServer> {
    const server = net.createServer({ noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address() as net.AddressInfo;
    const instance = new MongoWireServer(server, addr.port);
    server.on('connection', (socket) => instance.onConnection(socket));
    server.on('error', () => undefined);
    // Never keep the process alive on our own: only the client side holds the event loop.
    server.unref();
    return instance;
  }

  /** Close the listener and destroy every open connection. Idempotent. */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    this.cursors.clear();
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /**
   * Live array of the stored documents of `db.coll` (creates the collection if missing). Tests may
   * read it or push/splice plain documents directly. The same array object stays valid across
   * `drop`, `dropDatabase` and `reset()` (those truncate it in place).
   */
  collection(db: string, coll: string): Array<Record<string, unknown>> {
    const st = this.coll(db, coll, true)!;
    st.created = true;
    return st.docs;
  }

  /** Drop all data, cursors and pending failures (arrays from `collection()` are emptied in place). */
  reset(): void {
    for (const colls of this.dbs.values()) {
      for (const st of colls.values()) this.truncate(st);
    }
    this.cursors.clear();
    this.failures.clear();
  }

  /**
   * Make the next `times` (default 1) commands named `commandName` (case-insensitive, e.g. 'find',
   * 'insert', 'update', 'delete', 'aggregate', 'findAndModify', 'getMore') fail with
   * `{ok: 0, code: 1, codeName: 'InternalError'}` (or the given error). The driver rejects the
   * corresponding call with a `MongoServerError`. Calling again for the same name replaces the count.
   */
  failNext(commandName: string, times = 1, error: InjectedError = {}): void {
    this.failures.set(commandName.toLowerCase(), { remaining: times, error });
  }

  // -------------------------------------------------------------------------------------------
  // Networking
  // -------------------------------------------------------------------------------------------

  private onConnection(socket: net.Socket): void {
    socket.setNoDelay(true);
    socket.unref();
    this.sockets.add(socket);
    const conn: ConnState = { id: this.nextConnectionId++ };
    let chunks: Buffer[] = [];
    let buffered = 0;
    let expected = -1;

    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      buffered += chunk.length;
      while (true) {
        if (expected < 0) {
          if (buffered < 4) return;
          if (chunks[0].length < 4) chunks = [Buffer.concat(chunks)];
          expected = chunks[0].readInt32LE(0);
          if (expected < 16 || expected > MAX_MESSAGE_SIZE_BYTES * 2) {
            socket.destroy();
            return;
          }
        }
        if (buffered < expected) return;
        const all = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
        const message = all.subarray(0, expected);
        const rest = all.subarray(expected);
        chunks = rest.length ? [rest] : [];
        buffered = rest.length;
        expected = -1;
        let reply: Buffer | undefined;
        try {
          reply = this.handleMessage(message, conn);
        } catch {
          socket.destroy();
          return;
        }
        if (reply && !socket.destroyed) socket.write(reply);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => this.sockets.delete(socket));
  }

  private handleMessage(msg: Buffer, conn: ConnState): Buffer | undefined {
    const requestId = msg.readInt32LE(4);
    const opCode = msg.readInt32LE(12);
    if (opCode === OP_MSG) {
      const flags = msg.readUInt32LE(16);
      const end = flags & FLAG_CHECKSUM_PRESENT ? msg.length - 4 : msg.length;
      const cmd = this.parseOpMsgSections(msg, 20, end);
      const reply = this.runCommand(cmd, conn);
      if (flags & FLAG_MORE_TO_COME) return undefined;
      return this.encodeOpMsg(requestId, reply);
    }
    if (opCode === OP_QUERY) {
      let off = 20;
      const nsEnd = msg.indexOf(0, off);
      const ns = msg.toString('utf8', off, nsEnd);
      off = nsEnd + 1 + 8; // numberToSkip, numberToReturn
      const len = msg.readInt32LE(off);
      let query = normalize(deserialize(msg.subarray(off, off + len), DESERIALIZE_OPTS)) as Doc;
      if (isPlainObject(query.$query)) query = query.$query;
      let reply: Doc;
      if (ns.endsWith('.$cmd')) {
        reply = this.runCommand({ ...query, $db: ns.slice(0, -'.$cmd'.length) }, conn);
      } else {
        reply = { $err: 'legacy OP_QUERY find is not supported', code: 352, ok: 0 };
      }
      return this.encodeOpReply(requestId, reply);
    }
    if (opCode === OP_COMPRESSED) throw new Error('OP_COMPRESSED not supported');
    throw new Error(`unsupported opCode ${opCode}`);
  }

  private parseOpMsgSections(msg: Buffer, start: number, end: number): Doc {
    let off = start;
    let body: Doc | undefined;
    const sequences: Array<[string, Doc[]]> = [];
    while (off < end) {
      const kind = msg[off++];
      if (kind === 0) {
        const len = msg.readInt32LE(off);
        body = deserialize(msg.subarray(off, off + len), DESERIALIZE_OPTS);
        off += len;
      } else if (kind === 1) {
        const size = msg.readInt32LE(off);
        const sectionEnd = off + size;
        let p = off + 4;
        const idEnd = msg.indexOf(0, p);
        const identifier = msg.toString('utf8', p, idEnd);
        p = idEnd + 1;
        const docs: Doc[] = [];
        while (p < sectionEnd) {
          const len = msg.readInt32LE(p);
          docs.push(deserialize(msg.subarray(p, p + len), DESERIALIZE_OPTS));
          p += len;
        }
        sequences.push([identifier, docs]);
        off = sectionEnd;
      } else {
        throw new Error(`unknown OP_MSG section kind ${kind}`);
      }
    }
    if (!body) throw new Error('OP_MSG without body section');
    for (const [identifier, docs] of sequences) {
      const existing = body[identifier];
      body[identifier] = Array.isArray(existing) ? existing.concat(docs) : docs;
    }
    return normalize(body);
  }

  private header(length: number, responseTo: number, opCode: number): Buffer {
    const h = Buffer.alloc(16);
    h.writeInt32LE(length, 0);
    h.writeInt32LE(this.nextRequestId++ & 0x7fffffff, 4);
    h.writeInt32LE(responseTo, 8);
    h.writeInt32LE(opCode, 12);
    return h;
  }

  private encodeOpMsg(responseTo: number, reply: Doc): Buffer {
    const body = serializeDoc(reply);
    const prefix = Buffer.alloc(5); // flagBits (0) + section kind 0
    return Buffer.concat([this.header(16 + 5 + body.length, responseTo, OP_MSG), prefix, body]);
  }

  private encodeOpReply(responseTo: number, reply: Doc): Buffer {
    const body = serializeDoc(reply);
    const fields = Buffer.alloc(20); // responseFlags, cursorID(8), startingFrom, numberReturned
    fields.writeInt32LE(1, 16);
    return Buffer.concat([this.header(16 + 20 + body.length, responseTo, OP_REPLY), fields, body]);
  }

  // -------------------------------------------------------------------------------------------
  // Command dispatch
  // -------------------------------------------------------------------------------------------

  private runCommand(cmd: Doc, conn: ConnState): Doc {
    const name = Object.keys(cmd)[0];
    if (name === undefined) return errorReply(new ServerError(59, 'CommandNotFound', 'no command given'));
    const lower = name.toLowerCase();
    const failure = this.failures.get(lower);
    if (failure && failure.remaining > 0) {
      if (--failure.remaining <= 0) this.failures.delete(lower);
      const e = failure.error;
      const reply: Doc = {
        ok: 0,
        errmsg: e.errmsg ?? `MongoWireServer: injected failure for command '${name}'`,
        code: e.code ?? 1,
        codeName: e.codeName ?? 'InternalError',
      };
      if (e.errorLabels) reply.errorLabels = e.errorLabels;
      return reply;
    }
    const handler = this.handlers[lower];
    if (!handler) {
      return errorReply(new ServerError(59, 'CommandNotFound', `no such command: '${name}'`));
    }
    const db = typeof cmd.$db === 'string' ? cmd.$db : 'admin';
    this.currentDb = db;
    try {
      const reply = handler(db, cmd, conn);
      if (!('ok' in reply)) reply.ok = new Double(1);
      return reply;
    } catch (e) {
      return errorReply(e);
    }
  }

  private buildHandlers(): Record<string, Handler> {
    const h: Record<string, Handler> = {
      hello: (_db, cmd, conn) => this.hello(cmd, conn),
      ismaster: (_db, cmd, conn) => this.hello(cmd, conn),
      ping: () => ({}),
      buildinfo: () => ({
        version: '7.0.0',
        gitVersion: 'mongo-wire-server',
        versionArray: [7, 0, 0, 0],
        bits: 64,
        debug: false,
        maxBsonObjectSize: MAX_BSON_OBJECT_SIZE,
        storageEngines: ['memory'],
        javascriptEngine: 'none',
      }),
      getparameter: (_db, cmd) => {
        const all: Doc = {
          featureCompatibilityVersion: { version: '7.0' },
          authenticationMechanisms: [],
          requireApiVersion: false,
        };
        if (cmd.getParameter === '*') return { ...all };
        const out: Doc = {};
        for (const k of Object.keys(cmd)) if (k in all) out[k] = all[k];
        return out;
      },
      getcmdlineopts: () => ({ argv: ['mongod'], parsed: {} }),
      connectionstatus: () => ({ authInfo: { authenticatedUsers: [], authenticatedUserRoles: [] } }),
      whatsmyuri: () => ({ you: '127.0.0.1' }),
      endsessions: () => ({}),
      refreshsessions: () => ({}),
      killallsessions: () => ({}),
      killcursors: (_db, cmd) => this.killCursors(cmd),
      find: (db, cmd) => this.find(db, cmd),
      getmore: (db, cmd) => this.getMore(db, cmd),
      insert: (db, cmd) => this.insert(db, cmd),
      update: (db, cmd) => this.update(db, cmd),
      delete: (db, cmd) => this.delete(db, cmd),
      count: (db, cmd) => this.count(db, cmd),
      distinct: (db, cmd) => this.distinct(db, cmd),
      aggregate: (db, cmd) => this.aggregate(db, cmd),
      findandmodify: (db, cmd) => this.findAndModify(db, cmd),
      listcollections: (db, cmd) => this.listCollections(db, cmd),
      listdatabases: (_db, cmd) => this.listDatabases(cmd),
      listindexes: (db, cmd) => this.listIndexes(db, cmd),
      createindexes: (db, cmd) => this.createIndexes(db, cmd),
      dropindexes: (db, cmd) => this.dropIndexes(db, cmd),
      create: (db, cmd) => this.create(db, cmd),
      drop: (db, cmd) => this.drop(db, cmd),
      dropdatabase: (db) => this.dropDatabase(db),
      renamecollection: (_db, cmd) => this.renameCollection(cmd),
    };
    h.deleteindexes = h.dropindexes;
    return h;
  }

  private hello(cmd: Doc, conn: ConnState): Doc {
    const reply: Doc = {
      ismaster: true,
      isWritablePrimary: true,
      maxBsonObjectSize: MAX_BSON_OBJECT_SIZE,
      maxMessageSizeBytes: MAX_MESSAGE_SIZE_BYTES,
      maxWriteBatchSize: MAX_WRITE_BATCH_SIZE,
      localTime: new Date(),
      logicalSessionTimeoutMinutes: 30,
      connectionId: conn.id,
      minWireVersion: 0,
      maxWireVersion: 21,
      readOnly: false,
    };
    if (cmd.helloOk) reply.helloOk = true;
    return reply;
  }

  // -------------------------------------------------------------------------------------------
  // Storage helpers
  // -------------------------------------------------------------------------------------------

  private coll(db: string, name: string, create: boolean): CollState | undefined {
    let colls = this.dbs.get(db);
    if (!colls) {
      if (!create) return undefined;
      this.dbs.set(db, (colls = new Map()));
    }
    let st = colls.get(name);
    if (!st) {
      if (!create) return undefined;
      colls.set(name, (st = { docs: [], indexes: [ID_INDEX()], created: false }));
    }
    return st;
  }

  private exists(st: CollState | undefined): st is CollState {
    return !!st && (st.created || st.docs.length > 0);
  }

  /** Collection used by a write: created on demand. */
  private writable(db: string, name: unknown): CollState {
    const st = this.coll(db, collName(name), true)!;
    st.created = true;
    return st;
  }

  private truncate(st: CollState): void {
    st.docs.length = 0;
    st.indexes = [ID_INDEX()];
    st.created = false;
  }

  private mingoOptions() {
    return {
      context: this.context,
      useStrictMode: true,
      idKey: '_id',
      // Used by $lookup & co: hand out copies so pipelines can never mutate stored data.
      collectionResolver: (name: string) =>
        (this.coll(this.currentDb, name, false)?.docs ?? []).map(cloneTagged),
    };
  }

  private query(filter: unknown): Query {
    return new Query(isPlainObject(filter) ? filter : {}, this.mingoOptions());
  }

  private matching(st: CollState | undefined, filter: unknown): Doc[] {
    if (!st) return [];
    const q = this.query(filter);
    // What MongoDB's index on `id` does for these queries: a filter that pins a string `id` is
    // tested only on the documents whose `id` can match (the rest cannot, so the result is the
    // same; a document whose `id` is not a string always goes to mingo).
    const byId = idNarrowing(filter);
    if (byId) return st.docs.filter((d) => (typeof d.id !== 'string' || byId(d.id)) && q.test(d));
    return st.docs.filter((d) => q.test(d));
  }

  private sorted(docs: Doc[], sort: unknown): Doc[] {
    if (!isPlainObject(sort) || Object.keys(sort).length === 0) return docs;
    if ('$natural' in sort) return asNumber(sort.$natural)! < 0 ? [...docs].reverse() : docs;
    return new Query({}, this.mingoOptions()).find(docs).sort(sort).all() as Doc[];
  }

  private project(docs: Doc[], projection: unknown): Doc[] {
    if (!isPlainObject(projection) || Object.keys(projection).length === 0) return docs;
    const clones = docs.map(cloneTagged);
    const projected = new Query({}, this.mingoOptions()).find(clones, projection).all() as Doc[];
    return projected.map((p, i) => {
      const src = clones[i];
      // Keep the stored field order (mingo appends the implicit _id last).
      const out: Doc = {};
      for (const k of Object.keys(src)) if (k in p) out[k] = p[k];
      for (const k of Object.keys(p)) if (!(k in out)) out[k] = p[k];
      transferTags(src, out);
      return out;
    });
  }

  // -------------------------------------------------------------------------------------------
  // Cursors
  // -------------------------------------------------------------------------------------------

  private takeBatch(docs: Doc[], pos: number, limit: number): { batch: Doc[]; next: number } {
    const batch: Doc[] = [];
    let bytes = 0;
    let i = pos;
    while (i < docs.length && batch.length < limit) {
      const size = calculateObjectSize(docs[i], { ignoreUndefined: true });
      if (batch.length > 0 && bytes + size > MAX_BATCH_BYTES) break;
      bytes += size;
      batch.push(docs[i++]);
    }
    return { batch, next: i };
  }

  private cursorReply(ns: string, docs: Doc[], batchSize: unknown, singleBatch: boolean): Doc {
    const n = asNumber(batchSize);
    const { batch, next } = this.takeBatch(docs, 0, n === undefined || n < 0 ? DEFAULT_FIRST_BATCH : n);
    let id = 0;
    if (next < docs.length && !singleBatch) {
      id = this.nextCursorId++;
      this.cursors.set(id, { ns, docs, pos: next });
    }
    return { cursor: { firstBatch: batch, id: Long.fromNumber(id), ns } };
  }

  private getMore(db: string, cmd: Doc): Doc {
    const id = asNumber(cmd.getMore) ?? -1;
    const cursor = this.cursors.get(id);
    if (!cursor) throw new ServerError(43, 'CursorNotFound', `cursor id ${id} not found`);
    const n = asNumber(cmd.batchSize);
    const { batch, next } = this.takeBatch(cursor.docs, cursor.pos, n && n > 0 ? n : Infinity);
    cursor.pos = next;
    let replyId = id;
    if (next >= cursor.docs.length) {
      this.cursors.delete(id);
      replyId = 0;
    }
    const ns = cursor.ns || `${db}.${cmd.collection}`;
    return { cursor: { nextBatch: batch, id: Long.fromNumber(replyId), ns } };
  }

  private killCursors(cmd: Doc): Doc {
    const killed: Long[] = [];
    const notFound: Long[] = [];
    for (const raw of Array.isArray(cmd.cursors) ? cmd.cursors : []) {
      const id = asNumber(raw) ?? -1;
      (this.cursors.delete(id) ? killed : notFound).push(Long.fromNumber(id));
    }
    return { cursorsKilled: killed, cursorsNotFound: notFound, cursorsAlive: [], cursorsUnknown: [] };
  }

  // -------------------------------------------------------------------------------------------
  // Read commands
  // -------------------------------------------------------------------------------------------

  private find(db: string, cmd: Doc): Doc {
    const name = collName(cmd.find);
    const st = this.coll(db, name, false);
    let docs = this.sorted(this.matching(st, cmd.filter), cmd.sort);
    const skip = asNumber(cmd.skip) ?? 0;
    let limit = asNumber(cmd.limit) ?? 0;
    let singleBatch = cmd.singleBatch === true;
    if (limit < 0) {
      limit = -limit;
      singleBatch = true;
    }
    if (skip > 0 || limit > 0) docs = docs.slice(skip, limit > 0 ? skip + limit : undefined);
    docs = this.project(docs, cmd.projection);
    return this.cursorReply(`${db}.${name}`, docs, cmd.batchSize, singleBatch);
  }

  private count(db: string, cmd: Doc): Doc {
    const st = this.coll(db, collName(cmd.count), false);
    let n = this.matching(st, cmd.query).length;
    const skip = asNumber(cmd.skip) ?? 0;
    const limit = Math.abs(asNumber(cmd.limit) ?? 0);
    n = Math.max(0, n - skip);
    if (limit > 0) n = Math.min(n, limit);
    return { n };
  }

  private distinct(db: string, cmd: Doc): Doc {
    const st = this.coll(db, collName(cmd.distinct), false);
    const key = String(cmd.key);
    const seen = new Set<string>();
    const values: unknown[] = [];
    const add = (v: unknown) => {
      if (v === undefined) return;
      const k = keyOf(v);
      if (!seen.has(k)) {
        seen.add(k);
        values.push(v);
      }
    };
    const collect = (v: unknown, segs: string[]): void => {
      if (segs.length === 0) {
        if (Array.isArray(v)) v.forEach(add);
        else add(v);
        return;
      }
      if (Array.isArray(v)) {
        if (/^\d+$/.test(segs[0])) collect(v[Number(segs[0])], segs.slice(1));
        else v.forEach((e) => collect(e, segs));
      } else if (isPlainObject(v)) {
        collect(v[segs[0]], segs.slice(1));
      }
    };
    for (const d of this.matching(st, cmd.query)) collect(d, key.split('.'));
    return { values };
  }

  private aggregate(db: string, cmd: Doc): Doc {
    const pipeline: Doc[] = Array.isArray(cmd.pipeline) ? [...cmd.pipeline] : [];
    const name = typeof cmd.aggregate === 'string' ? cmd.aggregate : undefined;
    const st = name === undefined ? undefined : this.coll(db, name, false);
    let input: Doc[] = st ? st.docs : [];
    // Run a leading $match against the stored docs directly (no mutation risk), clone the rest:
    // several mingo stages mutate their input documents in place.
    if (pipeline.length && isPlainObject(pipeline[0].$match) && Object.keys(pipeline[0]).length === 1) {
      input = this.matching(st, pipeline.shift()!.$match);
    }
    input = input.map(cloneTagged);
    let out: string | undefined;
    const last = pipeline[pipeline.length - 1];
    if (last && '$out' in last) {
      pipeline.pop();
      out = typeof last.$out === 'string' ? last.$out : collName(last.$out?.coll);
    }
    let result: Doc[];
    try {
      result = new Aggregator(pipeline, this.mingoOptions()).run(input) as Doc[];
    } catch (e) {
      throw toServerError(e);
    }
    if (out !== undefined) {
      const target = this.writable(db, out);
      target.docs.length = 0;
      for (const d of result) target.docs.push(idFirst(d._id === undefined ? { _id: new ObjectId(), ...d } : d));
      result = [];
    }
    const batchSize = isPlainObject(cmd.cursor) ? cmd.cursor.batchSize : undefined;
    return this.cursorReply(`${db}.${name ?? '$cmd.aggregate'}`, result, batchSize, false);
  }

  // -------------------------------------------------------------------------------------------
  // Write commands
  // -------------------------------------------------------------------------------------------

  private insert(db: string, cmd: Doc): Doc {
    const st = this.writable(db, cmd.insert);
    const ordered = cmd.ordered !== false;
    const docs: Doc[] = Array.isArray(cmd.documents) ? cmd.documents : [];
    const ids = new Set(st.docs.map((d) => keyOf(d._id)));
    const writeErrors: Doc[] = [];
    let n = 0;
    for (let i = 0; i < docs.length; i++) {
      let doc = docs[i];
      if (!isPlainObject(doc)) {
        writeErrors.push(writeError(i, badValue('document to insert must be an object')));
        if (ordered) break;
        continue;
      }
      if (doc._id === undefined) {
        const withId: Doc = { _id: new ObjectId(), ...doc };
        copyTags(doc, withId);
        doc = withId;
      }
      doc = idFirst(doc);
      const k = keyOf(doc._id);
      if (ids.has(k)) {
        writeErrors.push(duplicateKeyError(i, db, collName(cmd.insert), doc._id));
        if (ordered) break;
        continue;
      }
      ids.add(k);
      st.docs.push(doc);
      n++;
    }
    const reply: Doc = { n };
    if (writeErrors.length) reply.writeErrors = writeErrors;
    return reply;
  }

  private update(db: string, cmd: Doc): Doc {
    const name = collName(cmd.update);
    const st = this.coll(db, name, true)!;
    const ordered = cmd.ordered !== false;
    const updates: Doc[] = Array.isArray(cmd.updates) ? cmd.updates : [];
    let n = 0;
    let nModified = 0;
    const upserted: Doc[] = [];
    const writeErrors: Doc[] = [];
    for (let i = 0; i < updates.length; i++) {
      const spec = updates[i];
      try {
        const q = isPlainObject(spec.q) ? spec.q : {};
        const u = spec.u;
        const arrayFilters: Doc[] = Array.isArray(spec.arrayFilters) ? spec.arrayFilters : [];
        let targets = this.matching(st, q);
        if (!spec.multi) targets = targets.slice(0, 1);
        if (targets.length === 0) {
          if (spec.upsert) {
            const doc = this.upsertDoc(db, name, st, q, u, arrayFilters);
            upserted.push({ index: i, _id: doc._id });
            n++;
          }
          continue;
        }
        if (spec.multi && isPlainObject(u) && !isOperatorDoc(u)) {
          throw failedToParse('multi update is not supported for replacement-style update');
        }
        for (const doc of targets) {
          n++;
          if (this.applyUpdate(doc, q, u, arrayFilters, false).modified) nModified++;
        }
      } catch (e) {
        writeErrors.push(writeError(i, e));
        if (ordered) break;
      }
    }
    const reply: Doc = { n, nModified };
    if (upserted.length) reply.upserted = upserted;
    if (writeErrors.length) reply.writeErrors = writeErrors;
    return reply;
  }

  private delete(db: string, cmd: Doc): Doc {
    const st = this.coll(db, collName(cmd.delete), false);
    const deletes: Doc[] = Array.isArray(cmd.deletes) ? cmd.deletes : [];
    let n = 0;
    for (const spec of deletes) {
      if (!st) break;
      let targets = this.matching(st, spec.q);
      if ((asNumber(spec.limit) ?? 0) > 0) targets = targets.slice(0, 1);
      removeDocs(st.docs, new Set(targets));
      n += targets.length;
    }
    return { n };
  }

  private findAndModify(db: string, cmd: Doc): Doc {
    const name = collName(cmd.findAndModify ?? cmd.findandmodify);
    const query = isPlainObject(cmd.query) ? cmd.query : {};
    const arrayFilters: Doc[] = Array.isArray(cmd.arrayFilters) ? cmd.arrayFilters : [];
    const returnNew = cmd.new === true;
    if (cmd.remove === true) {
      const st = this.coll(db, name, false);
      const doc = this.sorted(this.matching(st, query), cmd.sort)[0];
      if (!doc) return { lastErrorObject: { n: 0 }, value: null };
      removeDocs(st!.docs, new Set([doc]));
      return { lastErrorObject: { n: 1 }, value: this.project([doc], cmd.fields)[0] };
    }
    if (cmd.update === undefined) throw failedToParse('Either an update or remove=true must be specified');
    const st = this.coll(db, name, true)!;
    const doc = this.sorted(this.matching(st, query), cmd.sort)[0];
    if (!doc) {
      if (!cmd.upsert) return { lastErrorObject: { n: 0, updatedExisting: false }, value: null };
      const created = this.upsertDoc(db, name, st, query, cmd.update, arrayFilters);
      return {
        lastErrorObject: { n: 1, updatedExisting: false, upserted: created._id },
        value: returnNew ? this.project([created], cmd.fields)[0] : null,
      };
    }
    const before = cloneTagged(doc);
    this.applyUpdate(doc, query, cmd.update, arrayFilters, false);
    return {
      lastErrorObject: { n: 1, updatedExisting: true },
      value: this.project([returnNew ? doc : before], cmd.fields)[0],
    };
  }

  /** Build and insert the document for an upsert that matched nothing. */
  private upsertDoc(db: string, name: string, st: CollState, q: Doc, u: unknown, arrayFilters: Doc[]): Doc {
    let doc: Doc;
    if (isPlainObject(u) && !isOperatorDoc(u)) {
      doc = cloneTagged(u);
      if (doc._id === undefined) {
        const seed = seedFromQuery(q);
        doc = { _id: seed._id !== undefined ? seed._id : new ObjectId(), ...doc };
        copyTags(u, doc);
      }
    } else {
      doc = seedFromQuery(q);
      this.applyUpdate(doc, q, u, arrayFilters, true);
      if (doc._id === undefined) {
        const withId: Doc = { _id: new ObjectId(), ...doc };
        copyTags(doc, withId);
        doc = withId;
      }
    }
    doc = idFirst(doc);
    const k = keyOf(doc._id);
    if (st.docs.some((d) => keyOf(d._id) === k)) {
      throw new ServerError(11000, 'DuplicateKey', dupMessage(db, name, doc._id));
    }
    st.docs.push(doc);
    st.created = true;
    return doc;
  }

  /**
   * Apply an update (operator document, replacement document or aggregation pipeline) to `doc`
   * atomically (on a copy, committed in place only if everything succeeded).
   */
  private applyUpdate(doc: Doc, q: Doc, u: unknown, arrayFilters: Doc[], isInsert: boolean): UpdateResult {
    const working = cloneTagged(doc);
    let result: Doc;
    if (Array.isArray(u)) {
      let out: Doc[];
      try {
        out = new Aggregator(u as Doc[], this.mingoOptions()).run([working]) as Doc[];
      } catch (e) {
        throw toServerError(e);
      }
      result = out[0] ?? {};
    } else if (!isPlainObject(u)) {
      throw failedToParse('Update must be an object or a pipeline');
    } else if (isOperatorDoc(u)) {
      for (const [op, rawArgs] of Object.entries(u)) {
        if (!SUPPORTED_UPDATE_OPS.has(op)) throw failedToParse(`Unknown modifier: ${op}`);
        if (!isPlainObject(rawArgs)) throw failedToParse(`Modifiers operate on fields but we found a non-object for ${op}`);
        if (op === '$setOnInsert' && !isInsert) continue;
        this.applyOperator(working, q, op === '$setOnInsert' ? '$set' : op, rawArgs, arrayFilters);
      }
      result = working;
    } else {
      result = cloneTagged(u);
      if (doc._id !== undefined) {
        if (result._id !== undefined && keyOf(result._id) !== keyOf(doc._id)) throw immutableId();
        const withId: Doc = { _id: doc._id, ...result };
        copyTags(result, withId);
        result = withId;
      }
    }
    if (doc._id !== undefined && (result._id === undefined || keyOf(result._id) !== keyOf(doc._id))) {
      throw immutableId();
    }
    result = idFirst(result);
    const modified = !sameDoc(doc, result);
    if (modified || result !== doc) replaceContents(doc, result);
    return { modified };
  }

  private applyOperator(doc: Doc, q: Doc, op: string, rawArgs: Doc, arrayFilters: Doc[]): void {
    const args: Doc = {};
    for (const [path, value] of Object.entries(rawArgs)) {
      const resolved = this.resolvePositional(doc, q, path);
      args[resolved] = cloneTagged(value);
      setTag(args, resolved, getTag(rawArgs, path));
    }
    if (op === '$rename') {
      for (const [path, target] of Object.entries(args)) args[path] = this.resolvePositional(doc, q, String(target));
    }
    // Remember numeric types of the targets for $inc / $mul (long+int stays long, etc.).
    const before = new Map<string, NumTag | undefined>();
    for (const path of Object.keys(args)) {
      if (path.includes('$[')) continue;
      const { parent, key } = splitPath(path);
      const container = parent === '' ? doc : getPath(doc, parent);
      before.set(path, isContainer(container) ? getTag(container, key) : undefined);
    }
    try {
      mingoUpdate(doc, { [op]: args } as never, arrayFilters, {}, {
        cloneMode: 'none',
        queryOptions: this.mingoOptions(),
      });
    } catch (e) {
      throw toServerError(e, op === '$inc' || op === '$mul' ? 14 : 2);
    }
    for (const path of before.keys()) {
      const { parent, key } = splitPath(path);
      const container = parent === '' ? doc : getPath(doc, parent);
      if (!isContainer(container)) continue;
      const value = (container as Doc)[key];
      const argTag = getTag(args, path);
      switch (op) {
        case '$unset':
        case '$rename':
          setTag(container, key, undefined);
          break;
        case '$inc':
        case '$mul': {
          const prev = before.get(path);
          const tag = prev === 'double' || argTag === 'double' ? 'double' : prev === 'long' || argTag === 'long' ? 'long' : undefined;
          setTag(container, key, tag);
          break;
        }
        default:
          if (typeof value === 'number' && Object.is(value, args[path])) setTag(container, key, argTag);
          else if (typeof value !== 'number') setTag(container, key, undefined);
      }
    }
  }

  /** Resolve the positional `$` operator ("arr.$.x") to the index of the first matching element. */
  private resolvePositional(doc: Doc, q: Doc, path: string): string {
    const segs = path.split('.');
    const i = segs.indexOf('$');
    if (i < 0) return path;
    const arrPath = segs.slice(0, i).join('.');
    const arr = getPath(doc, arrPath);
    if (Array.isArray(arr)) {
      const query = this.query(q);
      for (let idx = 0; idx < arr.length; idx++) {
        if (query.test(withPath(doc, arrPath, [arr[idx]]))) {
          return [...segs.slice(0, i), String(idx), ...segs.slice(i + 1)].join('.');
        }
      }
    }
    throw badValue('The positional operator did not find the match needed from the query.');
  }

  // -------------------------------------------------------------------------------------------
  // Collection / index / database commands
  // -------------------------------------------------------------------------------------------

  private listCollections(db: string, cmd: Doc): Doc {
    const colls = this.dbs.get(db) ?? new Map<string, CollState>();
    let entries: Doc[] = [];
    for (const [name, st] of colls) {
      if (!this.exists(st)) continue;
      entries.push(
        cmd.nameOnly === true
          ? { name, type: 'collection' }
          : { name, type: 'collection', options: {}, info: { readOnly: false }, idIndex: ID_INDEX() },
      );
    }
    if (isPlainObject(cmd.filter) && Object.keys(cmd.filter).length) {
      const q = this.query(cmd.filter);
      entries = entries.filter((e) => q.test(e));
    }
    const batchSize = isPlainObject(cmd.cursor) ? cmd.cursor.batchSize : undefined;
    return this.cursorReply(`${db}.$cmd.listCollections`, entries, batchSize, false);
  }

  private listDatabases(cmd: Doc): Doc {
    const databases: Doc[] = [];
    for (const [name, colls] of this.dbs) {
      const live = [...colls.values()].filter((st) => this.exists(st));
      if (!live.length) continue;
      databases.push(cmd.nameOnly === true ? { name } : { name, sizeOnDisk: 0, empty: live.every((s) => !s.docs.length) });
    }
    return { databases, totalSize: 0, totalSizeMb: 0 };
  }

  private listIndexes(db: string, cmd: Doc): Doc {
    const name = collName(cmd.listIndexes);
    const st = this.coll(db, name, false);
    if (!this.exists(st)) throw new ServerError(26, 'NamespaceNotFound', `ns does not exist: ${db}.${name}`);
    const batchSize = isPlainObject(cmd.cursor) ? cmd.cursor.batchSize : undefined;
    return this.cursorReply(`${db}.${name}`, st.indexes.map(cloneTagged), batchSize, false);
  }

  private createIndexes(db: string, cmd: Doc): Doc {
    const name = collName(cmd.createIndexes);
    const existed = this.exists(this.coll(db, name, false));
    const st = this.writable(db, name);
    const before = st.indexes.length;
    for (const spec of Array.isArray(cmd.indexes) ? (cmd.indexes as Doc[]) : []) {
      if (!isPlainObject(spec.key)) throw badValue('index specification must contain a key');
      const indexName =
        typeof spec.name === 'string' ? spec.name : Object.entries(spec.key).map(([k, v]) => `${k}_${v}`).join('_');
      if (st.indexes.some((ix) => ix.name === indexName)) continue;
      st.indexes.push({ ...cloneTagged(spec), v: 2, key: cloneTagged(spec.key), name: indexName });
    }
    return {
      numIndexesBefore: before,
      numIndexesAfter: st.indexes.length,
      createdCollectionAutomatically: !existed,
    };
  }

  private dropIndexes(db: string, cmd: Doc): Doc {
    const name = collName(cmd.dropIndexes ?? cmd.deleteIndexes);
    const st = this.coll(db, name, false);
    if (!this.exists(st)) throw new ServerError(26, 'NamespaceNotFound', `ns not found ${db}.${name}`);
    const was = st.indexes.length;
    const spec = cmd.index;
    const drop = (pred: (ix: IndexSpec) => boolean) => {
      const victims = st.indexes.filter((ix) => ix.name !== '_id_' && pred(ix));
      if (!victims.length) throw new ServerError(27, 'IndexNotFound', `index not found with spec ${keyOf(spec)}`);
      st.indexes = st.indexes.filter((ix) => !victims.includes(ix));
    };
    if (spec === '*') st.indexes = st.indexes.filter((ix) => ix.name === '_id_');
    else if (typeof spec === 'string') drop((ix) => ix.name === spec);
    else if (Array.isArray(spec)) spec.forEach((s) => drop((ix) => ix.name === s));
    else if (isPlainObject(spec)) drop((ix) => keyOf(ix.key) === keyOf(spec));
    return { nIndexesWas: was };
  }

  private create(db: string, cmd: Doc): Doc {
    const name = collName(cmd.create);
    if (this.exists(this.coll(db, name, false))) {
      throw new ServerError(48, 'NamespaceExists', `Collection ${db}.${name} already exists.`);
    }
    this.writable(db, name);
    return {};
  }

  private drop(db: string, cmd: Doc): Doc {
    const name = collName(cmd.drop);
    const st = this.coll(db, name, false);
    const was = st ? st.indexes.length : 0;
    if (st) this.truncate(st);
    // MongoDB >= 7.0 (wire version 21) no longer errors when the namespace does not exist.
    return { ns: `${db}.${name}`, nIndexesWas: was };
  }

  private dropDatabase(db: string): Doc {
    for (const st of this.dbs.get(db)?.values() ?? []) this.truncate(st);
    return { dropped: db };
  }

  private renameCollection(cmd: Doc): Doc {
    const [fromDb, ...fromRest] = String(cmd.renameCollection).split('.');
    const [toDb, ...toRest] = String(cmd.to).split('.');
    const from = this.coll(fromDb, fromRest.join('.'), false);
    if (!this.exists(from)) throw new ServerError(26, 'NamespaceNotFound', 'source namespace does not exist');
    const to = this.coll(toDb, toRest.join('.'), true)!;
    if (this.exists(to)) {
      if (cmd.dropTarget !== true) throw new ServerError(48, 'NamespaceExists', 'target namespace exists');
    }
    to.docs.length = 0;
    to.docs.push(...from.docs);
    to.indexes = from.indexes;
    to.created = true;
    from.docs.length = 0;
    from.indexes = [ID_INDEX()];
    from.created = false;
    return {};
  }
}

// ---------------------------------------------------------------------------------------------
// Module-level helpers
// ---------------------------------------------------------------------------------------------

const DESERIALIZE_OPTS = {
  promoteValues: false,
  promoteBuffers: false,
  promoteLongs: false,
  bsonRegExp: false,
} as const;

function collName(v: unknown): string {
  if (typeof v !== 'string' || v === '') throw new ServerError(73, 'InvalidNamespace', `Invalid collection name: ${String(v)}`);
  return v;
}

function splitPath(path: string): { parent: string; key: string } {
  const i = path.lastIndexOf('.');
  return i < 0 ? { parent: '', key: path } : { parent: path.slice(0, i), key: path.slice(i + 1) };
}

function removeDocs(arr: Doc[], victims: Set<Doc>): void {
  if (!victims.size) return;
  let w = 0;
  for (let r = 0; r < arr.length; r++) if (!victims.has(arr[r])) arr[w++] = arr[r];
  arr.length = w;
}

/** Equality conditions of an upsert query become the fields of the new document. */
function seedFromQuery(q: Doc): Doc {
  const out: Doc = {};
  const visit = (cond: Doc) => {
    for (const [k, v] of Object.entries(cond)) {
      if (k === '$and' && Array.isArray(v)) {
        v.forEach((sub) => isPlainObject(sub) && visit(sub));
      } else if (k.startsWith('$')) {
        continue;
      } else if (isPlainObject(v) && Object.keys(v).some((x) => x.startsWith('$'))) {
        if ('$eq' in v) setPath(out, k, cloneTagged(v.$eq), getTag(v, '$eq'));
      } else if (!(v instanceof RegExp)) {
        setPath(out, k, cloneTagged(v), getTag(cond, k));
      }
    }
  };
  visit(q);
  return out;
}

function toServerError(e: unknown, code = 2): ServerError {
  if (e instanceof ServerError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const names: Record<number, string> = { 2: 'BadValue', 14: 'TypeMismatch' };
  return new ServerError(code, names[code] ?? 'BadValue', message);
}

function errorReply(e: unknown): Doc {
  const err = toServerError(e);
  return { ok: 0, errmsg: err.message, code: err.code, codeName: err.codeName };
}

function writeError(index: number, e: unknown): Doc {
  const err = toServerError(e);
  return { index, code: err.code, codeName: err.codeName, errmsg: err.message };
}

function dupMessage(db: string, coll: string, id: unknown): string {
  return `E11000 duplicate key error collection: ${db}.${coll} index: _id_ dup key: { _id: ${EJSON.stringify(toWire(id) as never)} }`;
}

function duplicateKeyError(index: number, db: string, coll: string, id: unknown): Doc {
  return {
    index,
    code: 11000,
    errmsg: dupMessage(db, coll, id),
    keyPattern: { _id: 1 },
    keyValue: { _id: id },
  };
}

function immutableId(): ServerError {
  return new ServerError(66, 'ImmutableField', "Performing an update on the path '_id' would modify the immutable field '_id'");
}
