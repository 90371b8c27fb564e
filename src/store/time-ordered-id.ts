import { randomFillSync } from 'node:crypto';

// Random bytes are drawn 1,280 at a time (128 ids): one call into the CSPRNG instead of one per id.
const POOL_IDS = 128;
const pool = Buffer.alloc(POOL_IDS * 10);
let next = POOL_IDS;

/**
 * A version 7 UUID (RFC 9562 §5.7): the Unix time in milliseconds in the first 48 bits, then the version, then
 * 74 bits from the CSPRNG. Made here rather than by `crypto.randomUUIDv7`, which Node has only since 24.16 while the
 * gateway runs on 22.18 and later.
 */
export function uuidV7(now = Date.now()): string {
  if (next === POOL_IDS) {
    randomFillSync(pool);
    next = 0;
  }
  const r = next++ * 10;
  const b = Buffer.allocUnsafe(16);
  b.writeUIntBE(now, 0, 6);
  pool.copy(b, 6, r, r + 10);
  b.writeUInt8(0x70 | (b.readUInt8(6) & 0x0f), 6); // version 7
  b.writeUInt8(0x80 | (b.readUInt8(8) & 0x3f), 8); // variant 10
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * The id of a new resource: time-ordered, so that what indexes it lands where the last ones did. Every reference to
 * it becomes a search token (`target=Task/<id>`, `patient=Patient/<id>`, ...), a unique key of the token GIN index,
 * and `(resource_type, id)` leads the primary key and the search rows' owner indexes: with random ids each new key
 * went to a random leaf, and the first change of each page after a checkpoint writes its full image (8 kB) to the WAL
 * (bench/wal-by-relation.ts at 5,200 handovers stored, 200 after a CHECKPOINT: the token index 48.0 → 17.6 KB of WAL
 * per handover, the primary key 16.1 → 2.3 KB, the whole handover 147 → 78 KB). The price: a page split at the right
 * edge of a type's range (not of the whole index) leaves its left half half full, so these indexes are 15–33 % larger
 * at that size; a lookup still descends as many levels. The id says nothing more than when it
 * was made (as its first version's `meta.lastUpdated` does), and 74 random bits keep it unguessable.
 */
export function newResourceId(): string {
  return uuidV7();
}
