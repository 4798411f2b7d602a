/**
 * Every size the client protocol accepts has a bound, named here. Server and SDK import the same
 * constants, so a client refuses locally what the server would refuse anyway. The relationships
 * between them are asserted when this module loads: a broken pair is a bug, and it should fail at
 * start-up, not on the first unlucky request.
 */

const KiB = 1024;
const MiB = 1024 * KiB;

/** The protocol version spoken by this package, sent in `hello`. Bumped on any incompatible change. */
export const PROTOCOL_VERSION = 1;

/** A frame starts with its body length as a 4-byte big-endian unsigned integer. */
export const FRAME_HEADER_BYTES = 4;

/**
 * Largest frame body (the header excluded). It bounds what one request can make a node buffer
 * before validating it, and it must hold the largest data value plus its envelope.
 */
export const FRAME_BYTES_MAX = 4 * MiB;

/**
 * Room that a request or response needs around its data value: envelope, path, stat, error.
 * Generous on purpose: a path is at most PATH_BYTES_MAX, a stat is ten small fields.
 */
export const ENVELOPE_OVERHEAD_BYTES_MAX = 64 * KiB;

/**
 * Largest node data value by default. Coordination data is small (config, leader address, lock
 * owner); a large value would stall every replica's apply loop and every watcher's read. A server
 * may configure another value up to DATA_BYTES_MAX_CEILING.
 */
export const DATA_BYTES_MAX_DEFAULT = 1 * MiB;

/** The largest data limit a server may configure: the value and its envelope must fit one frame. */
export const DATA_BYTES_MAX_CEILING = FRAME_BYTES_MAX - ENVELOPE_OVERHEAD_BYTES_MAX;

/** Longest path in UTF-8 bytes. Paths are storage keys (with a prefix) and go into every stat and event. */
export const PATH_BYTES_MAX = 1024;

/** Deepest path (`/` is depth 0). Bounds the ancestor walks done on create, delete and watch dispatch. */
export const PATH_DEPTH_MAX = 64;

/** Longest path segment (node name) in UTF-8 bytes: the usual file-name limit, and what a child listing returns. */
export const SEGMENT_BYTES_MAX = 255;

/** A sequential node's name ends with its counter, zero-padded to this many digits, as ZooKeeper does. */
export const SEQUENCE_DIGITS = 10;

/** Largest sequence counter: beyond it the suffix would need an 11th digit and names would stop sorting by number. */
export const SEQUENCE_MAX = 10 ** SEQUENCE_DIGITS - 1;

/** Most operations in one `multi`: they are applied in one log entry, which must stay a bounded unit of work. */
export const MULTI_OPS_MAX = 1000;

/**
 * Most children of one node: a create past it is TOO_LARGE. Listing is paged and the children index
 * is a range scan, so the bound is not about memory; it keeps one directory from growing without
 * limit under a runaway (or hostile) writer of sequential nodes. Enforced by the replicated state
 * machine: every replica must use the same value.
 */
export const CHILDREN_PER_NODE_MAX = 1_000_000;

/** Most names in one `children` page. A full page of the longest names must fit in one frame (asserted below). */
export const CHILDREN_PAGE_MAX = 10_000;

/** Data bytes in one `children` page with `data: true` (past it the page ends early; one child always fits). */
export const CHILDREN_DATA_PAGE_BYTES_MAX = 1024 * 1024;

/** Page size used by the server when `children` gives no `limit`. */
export const CHILDREN_PAGE_DEFAULT = 1000;

/**
 * Most requests in flight on one connection. A client over it gets TOO_MANY_REQUESTS: the server
 * keeps one pending entry per request, and this bounds that table.
 */
export const IN_FLIGHT_REQUESTS_MAX = 4096;

/** Most request bytes in flight on one connection (count alone would allow 4096 frames of 4 MiB). */
export const IN_FLIGHT_BYTES_MAX = 64 * MiB;

/** Longest operation name and event kind. They are identifiers, and they end up in logs and metrics labels. */
export const OP_NAME_CHARS_MAX = 64;

/**
 * Detached sessions (`session.open` with `attach: false`) one connection may keep open at once: a
 * gateway renewing many sessions fits, a loop opening sessions without end does not (TOO_LARGE).
 */
export const SESSIONS_PER_CONNECTION_MAX = 10_000;

/**
 * Longest credential token in `hello` (and an admin HTTP bearer token). A token is `<id>.<secret>`
 * or a configured bootstrap token: a few dozen characters.
 */
export const TOKEN_CHARS_MAX = 256;

/** Longest client, session or cluster id. They are opaque tokens (a random 128-bit id is 22–36 characters). */
export const ID_CHARS_MAX = 64;

/** Longest error message and error code read from the wire; a server never needs more to explain itself. */
export const ERROR_MESSAGE_CHARS_MAX = 4096;
export const ERROR_CODE_CHARS_MAX = 64;

/** Nesting allowed in error `details`: they are small flat records, and deep nesting only costs stack. */
export const ERROR_DETAILS_DEPTH_MAX = 8;

/**
 * Longest text quoted back from a request inside an error (a path, a field name). A rejected 4 MiB
 * path must not produce a 4 MiB error, nor an error frame over FRAME_BYTES_MAX.
 */
export const QUOTED_CHARS_MAX = 128;

/**
 * Session timeout bounds a client may ask for (the server clamps within its own range). Below one
 * second a GC pause or a leader election would expire healthy sessions; above ten minutes a dead
 * client keeps its locks and ephemeral nodes for too long.
 */
export const SESSION_TIMEOUT_MS_MIN = 1000;
export const SESSION_TIMEOUT_MS_MAX = 10 * 60 * 1000;

/**
 * Longest TTL of a persistent node with `ttlMs`. A node meant to outlive a year is a plain persistent
 * node; the bound keeps `modifiedAt + ttlMs` far inside safe integers.
 */
export const NODE_TTL_MS_MAX = 365 * 24 * 60 * 60 * 1000;

/** Detached sessions renewed by one `session.keepalive`. */
export const SESSION_IDS_PER_KEEPALIVE_MAX = 1000;

/** Longest lock name, in bytes of UTF-8. */
export const LOCK_NAME_BYTES_MAX = 256;

/** Most holders allowed at once by a semaphore (exclusive mode with `permits`). */
export const LOCK_PERMITS_MAX = 1000;

/**
 * Most tickets queued on one lock name, and most shared holders of one lock: the queue is one
 * replicated record, rewritten by every grant and release, so it must stay small. Past it, acquire
 * answers TOO_LARGE and changes nothing.
 */
export const LOCK_WAITERS_MAX = 1000;
export const LOCK_HOLDERS_MAX = 1000;

/** Largest value kept with a grant (an election candidate's value). With the queue bounds, a lock record stays ~1 MiB at worst. */
export const LOCK_VALUE_BYTES_MAX = 1024;

function assertLimit(condition: boolean, message: string): void {
  if (!condition) throw new Error(`@hikarikeeper/protocol: broken limit: ${message}`);
}

// A frame length must be expressible in the 4-byte header.
assertLimit(FRAME_BYTES_MAX <= 0xffff_ffff, 'FRAME_BYTES_MAX must fit the 4-byte header');
assertLimit(DATA_BYTES_MAX_DEFAULT <= DATA_BYTES_MAX_CEILING, 'data max + envelope overhead must fit a frame');
// The overhead must cover a path (twice: create returns the actual path) with room to spare.
assertLimit(2 * PATH_BYTES_MAX + 4 * KiB <= ENVELOPE_OVERHEAD_BYTES_MAX, 'envelope overhead must cover paths');
// Depth d needs at least 2d bytes ('/a' per level), so both limits can be reached.
assertLimit(2 * PATH_DEPTH_MAX <= PATH_BYTES_MAX, 'PATH_DEPTH_MAX must be reachable within PATH_BYTES_MAX');
assertLimit(SEGMENT_BYTES_MAX + 1 <= PATH_BYTES_MAX, 'a maximal segment must fit in a path');
assertLimit(SEQUENCE_DIGITS < SEGMENT_BYTES_MAX, 'a sequence suffix must fit in a segment');
assertLimit(SEQUENCE_MAX <= Number.MAX_SAFE_INTEGER, 'sequence counters must be exact numbers');
// A full children page of the longest names (each with a 3-byte msgpack string header) fits one frame.
assertLimit(
  CHILDREN_PAGE_MAX * (SEGMENT_BYTES_MAX + 3) + ENVELOPE_OVERHEAD_BYTES_MAX <= FRAME_BYTES_MAX,
  'a full children page must fit in one frame',
);
assertLimit(CHILDREN_PAGE_DEFAULT <= CHILDREN_PAGE_MAX, 'the default page must be a valid page');
// Otherwise one maximal frame could never be admitted on a connection.
assertLimit(IN_FLIGHT_BYTES_MAX >= FRAME_BYTES_MAX, 'IN_FLIGHT_BYTES_MAX must admit one maximal frame');
assertLimit(QUOTED_CHARS_MAX < ERROR_MESSAGE_CHARS_MAX, 'a quoted text must fit an error message');
assertLimit(LOCK_PERMITS_MAX <= LOCK_HOLDERS_MAX, 'a full semaphore must fit the holders bound');
assertLimit((LOCK_WAITERS_MAX + LOCK_HOLDERS_MAX) * (LOCK_VALUE_BYTES_MAX + 256) <= FRAME_BYTES_MAX, 'a full lock.info must fit a frame');
assertLimit(SESSION_TIMEOUT_MS_MIN < SESSION_TIMEOUT_MS_MAX, 'session timeout range must not be empty');
