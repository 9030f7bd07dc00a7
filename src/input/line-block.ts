import { isUtf8 } from 'node:buffer';

/**
 * A run of whole physical lines of a JSONL file, as the block reader cuts it: what a validation
 * worker (or the main thread, for a small file) turns into jobs. Blocks are plain data so that
 * they cross to a worker thread as they are.
 */
export interface LineBlock {
  /** The 1-based physical number of the block's first line. */
  firstLine: number;
  /** The lines with their newlines; only the file's last line may lack one. */
  bytes: Uint8Array;
  /** Lines longer than the limit, each left as a one-byte placeholder so that numbering stays right. */
  tooLong: readonly number[];
  /** The limit they broke, for the message. */
  maxLineBytes: number;
}

const NEWLINE = 0x0a;

/** The problems of a line's bytes, worded once for every reader. */
export const lineTooLong = (maxLineBytes: number) => `line is longer than the limit of ${maxLineBytes} bytes; shorten it or raise --max-line-bytes`;
export const NOT_UTF8 = 'line is not valid UTF-8; save the file as UTF-8';

/** A line as JSON, or why it is not. */
export type ParsedLine = { ok: true; value: unknown } | { ok: false; message: string };

export function parseJsonLine(text: string): ParsedLine {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, message: `not valid JSON (${(e as Error).message})` };
  }
}

/** What the lines of a block are: their text, or what is wrong with their bytes. */
export type BlockLine = { line: number; text: string; problem?: undefined } | { line: number; text?: undefined; problem: string };

const asBuffer = (block: LineBlock) => Buffer.from(block.bytes.buffer, block.bytes.byteOffset, block.bytes.byteLength);

/** The physical lines of `block` whose bytes are not UTF-8 (rare: only looked for when the whole block fails the check). */
function notUtf8(block: LineBlock, bytes: Buffer): Set<number> {
  const bad = new Set<number>();
  for (let start = 0, line = block.firstLine; start < bytes.length; line++) {
    const nl = bytes.indexOf(NEWLINE, start);
    const end = nl === -1 ? bytes.length : nl;
    if (!isUtf8(bytes.subarray(start, end))) bad.add(line);
    start = end + 1;
  }
  return bad;
}

/** The lines of `block` whose bytes are wrong (too long, not UTF-8), with what is wrong with each. */
export function lineProblems(block: LineBlock): Map<number, string> {
  const problems = new Map<number, string>();
  for (const line of block.tooLong) problems.set(line, lineTooLong(block.maxLineBytes));
  const bytes = asBuffer(block);
  if (!isUtf8(bytes)) for (const line of notUtf8(block, bytes)) problems.set(line, NOT_UTF8);
  return problems;
}

/**
 * Calls `visit` for each non-blank line of `block`, in order, as split2 read lines before: a
 * newline ends a line, a CR before it is dropped, a UTF-8 BOM at the start of the file is
 * dropped, and a line of only whitespace is blank. A line whose bytes are wrong (too long, not
 * UTF-8) comes with its problem instead of its text.
 */
export function forEachLine(block: LineBlock, visit: (l: BlockLine) => void): void {
  const found = lineProblems(block);
  const problems = found.size === 0 ? undefined : found;
  const text = asBuffer(block).toString('utf8');
  for (let start = 0, line = block.firstLine; start < text.length; line++) {
    const nl = text.indexOf('\n', start);
    const end = nl === -1 ? text.length : nl;
    const problem = problems?.get(line);
    if (problem !== undefined) {
      visit({ line, problem });
    } else {
      let s = text.slice(start, nl !== -1 && end > start && text.charCodeAt(end - 1) === 0x0d ? end - 1 : end);
      if (line === 1 && s.charCodeAt(0) === 0xfeff) s = s.slice(1);
      if (s.trim() !== '') visit({ line, text: s });
    }
    start = end + 1;
  }
}
