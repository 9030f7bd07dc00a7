import { createHash, type Hash } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { Transform, type TransformCallback } from 'node:stream';
import { NOT_UTF8, lineTooLong } from './line-block.ts';

const NEWLINE = 0x0a;
/** What a dropped line becomes downstream: a one-byte line, so that line numbers stay right. */
const DROPPED_LINE = Buffer.from('\u0000');

/**
 * Sits between a CSV or TSV file and its parser, on raw bytes, because the parser decodes with a
 * StringDecoder that silently turns invalid UTF-8 into U+FFFD, and buffers any record however
 * long. (JSONL files are cut into blocks of lines by LineBlockReader instead.) It:
 * - hashes and counts every byte (the input fingerprint of the checkpoint);
 * - flags lines that are not valid UTF-8;
 * - drops the content of lines longer than `maxLineBytes`, so memory stays bounded,
 *   forwarding a placeholder so line numbers downstream stay right.
 * Flags are keyed by 1-based physical line number; the reader takes each one when it reaches
 * that line (this transform has seen a line's newline before the parser can emit its record).
 */
export class RawInspector extends Transform {
  readonly problems = new Map<number, string>();
  bytes = 0;
  private readonly hash: Hash = createHash('sha256');
  private line = 1;
  private lineLen = 0;
  private overflow = false;
  private held: Buffer[] = [];

  constructor(private readonly maxLineBytes: number) {
    super();
  }

  digest(): string {
    return this.hash.digest('hex');
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    let dropped = false;
    const out: Buffer[] = [];
    let start = 0;
    while (start <= chunk.length) {
      const nl = chunk.indexOf(NEWLINE, start);
      const end = nl === -1 ? chunk.length : nl;
      if (!this.overflow) {
        this.lineLen += end - start;
        if (this.lineLen > this.maxLineBytes) {
          this.overflow = true;
          dropped = true;
          this.held = [];
          this.problems.set(this.line, lineTooLong(this.maxLineBytes));
          out.push(DROPPED_LINE);
        } else {
          this.held.push(chunk.subarray(start, end));
          out.push(chunk.subarray(start, end));
        }
      } else {
        dropped = true;
      }
      if (nl === -1) break;
      this.endLine();
      out.push(chunk.subarray(nl, nl + 1));
      start = nl + 1;
    }
    cb(null, dropped ? Buffer.concat(out) : chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.lineLen > 0 || this.overflow) this.endLine();
    cb();
  }

  private endLine(): void {
    if (!this.overflow) {
      const content = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held);
      if (!isUtf8(content)) this.problems.set(this.line, NOT_UTF8);
    }
    this.line++;
    this.lineLen = 0;
    this.overflow = false;
    this.held = [];
  }
}
