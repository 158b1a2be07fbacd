// Domain knowledge, DNS over TCP framing (RFC 1035 §4.2.2, RFC 7766 §8): every message on a TCP
// connection is preceded by its length as two bytes, network order. DnsStream is fed the
// stream in arbitrary chunks and hands each whole message to a callback; many messages may share
// one chunk (RFC 7766 pipelining) and one message may span many chunks.
//
// Memory is bounded: a message that lies whole inside a chunk is handed over as a view of the chunk
// (no copy); only one that spans chunks is assembled, in one buffer of at most 65535 bytes.
//
// On garbage it gives up for the rest of the connection: a length-prefixed stream has no marker to
// resync on, and guessing a new boundary would hand random bytes to the DNS reader as messages.
// Garbage it can see is a length below a DNS header (12 bytes); a caller that finds a message
// unreadable (readDnsAnswers → 'malformed') should stop feeding the stream for the same reason.

import { DNS_HEADER_LEN } from './dns.js';

const LENGTH_PREFIX_LEN = 2;

/** What push() made of the stream so far. */
export type DnsStreamStatus = 'ok' | 'gave-up';

/** Splits a DNS-over-TCP byte stream (one direction of one connection) into messages. */
export class DnsStream {
  readonly #onMessage: (msg: Uint8Array) => void;
  /** Length of the message being assembled; -1 while reading its length prefix. */
  #want = -1;
  /** The first byte of a length prefix that ended a chunk, or -1. */
  #prefixHigh = -1;
  #buf: Uint8Array | null = null;
  #have = 0;
  #gaveUp = false;
  /** Messages handed to the callback since construction or reset(). */
  messages = 0;

  /**
   * `onMessage` receives each whole message without its prefix; the view is valid only during the
   * call (it may share memory with a pushed chunk or be overwritten by the next message).
   */
  constructor(onMessage: (msg: Uint8Array) => void) {
    this.#onMessage = onMessage;
  }

  /** True once the stream was found not to be DNS; push() then ignores everything. */
  get gaveUp(): boolean {
    return this.#gaveUp;
  }

  /** Bytes held for a message that is not complete yet (at most 65535 + 1). */
  get buffered(): number {
    return (this.#prefixHigh >= 0 ? 1 : 0) + (this.#want >= 0 ? this.#have : 0);
  }

  /** Feeds `chunk[off, end)`; calls onMessage for each message it completes. */
  push(chunk: Uint8Array, off = 0, end = chunk.length): DnsStreamStatus {
    if (this.#gaveUp) return 'gave-up';
    if (!(off >= 0)) off = 0;
    if (!(end <= chunk.length)) end = chunk.length;
    let pos = off;
    while (pos < end) {
      if (this.#want < 0) {
        // Reading a length prefix, possibly split across chunks.
        let len: number;
        if (this.#prefixHigh >= 0) {
          len = (this.#prefixHigh << 8) | chunk[pos]!;
          this.#prefixHigh = -1;
          pos += 1;
        } else if (pos + LENGTH_PREFIX_LEN <= end) {
          len = (chunk[pos]! << 8) | chunk[pos + 1]!;
          pos += LENGTH_PREFIX_LEN;
        } else {
          this.#prefixHigh = chunk[pos]!;
          return 'ok';
        }
        if (len < DNS_HEADER_LEN) return this.#giveUp();
        // Fast path: the whole message is in this chunk.
        if (pos + len <= end) {
          this.messages++;
          this.#onMessage(chunk.subarray(pos, pos + len));
          pos += len;
          continue;
        }
        this.#want = len;
        this.#have = 0;
        if (this.#buf === null || this.#buf.length < len) this.#buf = new Uint8Array(len);
      }
      const take = Math.min(this.#want - this.#have, end - pos);
      this.#buf!.set(chunk.subarray(pos, pos + take), this.#have);
      this.#have += take;
      pos += take;
      if (this.#have === this.#want) {
        const msg = this.#buf!.subarray(0, this.#want);
        this.#want = -1;
        this.#have = 0;
        this.messages++;
        this.#onMessage(msg);
      }
    }
    return 'ok';
  }

  /** Forgets any partial message and the gave-up state (a new connection). */
  reset(): void {
    this.#want = -1;
    this.#prefixHigh = -1;
    this.#have = 0;
    this.#gaveUp = false;
    this.messages = 0;
  }

  #giveUp(): DnsStreamStatus {
    this.#gaveUp = true;
    this.#want = -1;
    this.#prefixHigh = -1;
    this.#have = 0;
    this.#buf = null;
    return 'gave-up';
  }
}
