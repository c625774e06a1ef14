// A scheduler's KV blocks as its sequences hold them: the blocks a sequence takes as it grows, the
// cached blocks of its prefix it starts from, and its full blocks offered back to the prefix cache
// (kv-blocks.ts keeps the pool and the hashes).
import { BlockPool, blockHash } from './kv-blocks.js'
import type { Sequence } from './sequence.js'

export class SequenceKv {
  readonly pool: BlockPool

  constructor(
    size: number,
    readonly blockSize: number,
    readonly prefixCache: boolean,
  ) {
    this.pool = new BlockPool(size)
  }

  /** Blocks a sequence of `positions` positions needs in all. */
  blocksFor(positions: number): number {
    return Math.ceil(positions / this.blockSize)
  }

  /**
   * The cached blocks (now held) of the sequence's leading full blocks, leaving at least its last
   * position to compute (its logits pick the next token).
   */
  takePrefix(seq: Sequence): number[] {
    const hits: number[] = []
    if (!this.prefixCache) return hits
    const full = Math.floor((seq.length - 1) / this.blockSize)
    this.hashUpTo(seq, full)
    for (let b = 0; b < full; b++) {
      const block = this.pool.take(seq.hashes[b])
      if (block === undefined) break
      hits.push(block)
    }
    return hits
  }

  /** Gives seq the blocks for positions up to `last`; false when the pool is out of blocks. */
  grow(seq: Sequence, last: number): boolean {
    while (seq.blocks.length <= Math.floor(last / this.blockSize)) {
      const b = this.pool.allocate()
      if (b === undefined) return false
      seq.blocks.push(b)
    }
    return true
  }

  /** Lets go of the sequence's blocks (cached full ones stay in the pool, idle). */
  release(seq: Sequence): void {
    for (const b of seq.blocks) this.pool.release(b)
    seq.blocks = []
    seq.computed = 0
    seq.registered = 0
  }

  /** Offers the sequence's newly computed full blocks to the prefix cache. */
  registerFull(seq: Sequence): void {
    if (!this.prefixCache) return
    const full = Math.floor(seq.computed / this.blockSize)
    this.hashUpTo(seq, full)
    for (; seq.registered < full; seq.registered++)
      this.pool.register(seq.blocks[seq.registered], seq.hashes[seq.registered])
  }

  // Extends seq.hashes to its first `count` full blocks.
  private hashUpTo(seq: Sequence, count: number): void {
    const BS = this.blockSize
    for (let b = seq.hashes.length; b < count; b++) {
      const ids = Array.from({ length: BS }, (_, i) => seq.tokenAt(b * BS + i))
      // An adapter's keys and values differ from the base's: its blocks form their own chains.
      const root = seq.adapter === 0 ? '' : `adapter ${seq.adapter}`
      seq.hashes.push(blockHash(b === 0 ? root : seq.hashes[b - 1], ids))
    }
  }
}
