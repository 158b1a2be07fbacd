// app/control — newline-delimited JSON framing. Splits a byte stream into lines without ever holding
// more than `maxLineBytes` of an unfinished line: a longer line is reported once (onTooLarge) and
// everything after it is dropped unread, so a 10 MB line costs at most the limit in memory.
// A trailing "\r" is removed; empty lines are skipped.

/** Splits chunks into lines of at most `maxLineBytes` bytes (not counting the newline). */
export class LineSplitter {
  #parts: Buffer[] = [];
  #size = 0;
  #dead = false;

  constructor(
    readonly maxLineBytes: number,
    private readonly onLine: (line: string) => void,
    private readonly onTooLarge: () => void,
  ) {}

  /** True after a line was too large; later input is ignored. */
  get dead(): boolean { return this.#dead; }

  /** Bytes of the unfinished line held now (never more than maxLineBytes). */
  get buffered(): number { return this.#size; }

  push(chunk: Buffer): void {
    let start = 0;
    while (!this.#dead) {
      const nl = chunk.indexOf(10, start);
      if (nl === -1) break;
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      if (this.#size + piece.length > this.maxLineBytes) return this.#tooLarge();
      let line: Buffer = piece;
      if (this.#parts.length > 0) { this.#parts.push(piece); line = Buffer.concat(this.#parts, this.#size + piece.length); }
      this.#parts = [];
      this.#size = 0;
      let end = line.length;
      if (end > 0 && line[end - 1] === 13) end--;
      if (end > 0) this.onLine(line.toString('utf8', 0, end));
    }
    if (this.#dead || start >= chunk.length) return;
    const rest = chunk.subarray(start);
    if (this.#size + rest.length > this.maxLineBytes) return this.#tooLarge();
    // Copy: the caller may reuse its buffer, and a small slice must not pin a large one.
    this.#parts.push(Buffer.from(rest));
    this.#size += rest.length;
  }

  #tooLarge(): void {
    this.#dead = true;
    this.#parts = [];
    this.#size = 0;
    this.onTooLarge();
  }
}
