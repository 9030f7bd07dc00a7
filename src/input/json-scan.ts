/**
 * Deepest nesting of arrays and objects a line may have. Real request bodies stay under ten
 * levels (a JSON schema in `text.format` a few dozen); the limit exists so that every walk over a
 * body (this scanner, the canonical form behind the idempotency key) may recurse without risking
 * the stack, whatever shape a line has.
 */
export const MAX_NESTING = 100;

interface QuickScan {
  /** The 0-based index of the first bracket that nests text deeper than MAX_NESTING, or -1. */
  deepAt: number;
  /** Object keys in the text: a colon outside strings follows each. */
  keys: number;
  /** Whether a run of 16 or more digits stands outside strings (an integer that may be past 2^53). */
  longDigits: boolean;
}

/** The index of the quote that ends the string whose opening quote is at `open` (text.length if none does). */
function stringEnd(text: string, open: number): number {
  for (let from = open + 1; ; ) {
    const q = text.indexOf('"', from);
    if (q === -1) return text.length;
    let k = q - 1;
    while (text.charCodeAt(k) === 0x5c) k--;
    // An even run of backslashes before it escapes only itself.
    if ((q - 1 - k) % 2 === 0) return q;
    from = q + 1;
  }
}

/**
 * One pass over the text, without recursion (so safe on any text), that builds nothing. Strings,
 * most of a request's text, are skipped by indexOf rather than character by character.
 */
function quickScan(text: string): QuickScan {
  let depth = 0;
  let keys = 0;
  let digits = 0;
  let longDigits = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) {
      if (++digits >= 16) longDigits = true;
      continue;
    }
    digits = 0;
    if (c === 0x22) i = stringEnd(text, i);
    else if (c === 0x3a) keys++;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_NESTING) return { deepAt: i, keys, longDigits };
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return { deepAt: -1, keys, longDigits };
}

/** The 0-based index of the first bracket that nests text deeper than MAX_NESTING, or -1 (the simulator checks request bodies with it too). */
export function nestingTooDeepAt(text: string): number {
  return quickScan(text).deepAt;
}

/** Keys of every object in a parsed value (nesting is bounded by MAX_NESTING before this runs). */
function keysIn(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  let n = 0;
  if (Array.isArray(value)) {
    for (const v of value) n += keysIn(v);
    return n;
  }
  for (const k in value) n += 1 + keysIn((value as Record<string, unknown>)[k]);
  return n;
}

/**
 * JSON.parse is lenient in two ways that would change what a user asked for without a word:
 * a repeated key silently keeps the last value, and an integer past 2^53 is silently rounded.
 * This scanner walks text that JSON.parse has already accepted and reports the first of either,
 * with the dotted path of where it is. It builds no values, so it costs one pass over the text.
 */
export interface JsonScanProblem {
  path: string;
  message: string;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** The dotted path of the keys and indexes on the stack, built only when there is a problem to report. */
function pathOf(stack: readonly (string | number)[]): string {
  let path = '';
  for (const key of stack) path = typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key;
  return path;
}

const SMALL = 8;

const isDelimiter = (c: number) => c === 0x2c || c === 0x5d || c === 0x7d || c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;

/**
 * `parsed`, what JSON.parse made of `text`, lets the common line skip the walk: JSON.parse keeps
 * one value of a repeated key, so a text with as many keys as its value has none repeated, and
 * without a long run of digits it has no integer past 2^53.
 */
export function scanJson(text: string, parsed?: unknown): JsonScanProblem | null {
  const quick = quickScan(text);
  if (quick.deepAt >= 0) {
    return { path: '', message: `arrays and objects nest deeper than ${MAX_NESTING} levels (at character ${quick.deepAt + 1}); sailbatch accepts at most ${MAX_NESTING}` };
  }
  if (parsed !== undefined && !quick.longDigits && keysIn(parsed) === quick.keys) return null;
  let i = 0;
  const n = text.length;
  const stack: (string | number)[] = [];

  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0xfeff) i++;
      else break;
    }
  };

  const readString = (): string => {
    const start = ++i;
    let escaped = false;
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      if (c === 0x5c) {
        escaped = true;
        i += 2;
      } else i++;
    }
    const raw = text.slice(start, i++);
    return escaped ? (JSON.parse(`"${raw}"`) as string) : raw;
  };

  const skipString = () => {
    i++;
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      i += c === 0x5c ? 2 : 1;
    }
    i++;
  };

  // Objects of a few keys are the common case, where a Set per object costs more than a scan;
  // past SMALL keys the scan would grow quadratic, so a Set takes over.
  const value = (): JsonScanProblem | null => {
    ws();
    const c = text.charCodeAt(i);
    if (c === 0x7b) {
      i++;
      ws();
      if (text.charCodeAt(i) === 0x7d) {
        i++;
        return null;
      }
      const seen: string[] = [];
      let many: Set<string> | undefined;
      for (;;) {
        ws();
        const key = readString();
        stack.push(key);
        if (many ? many.has(key) : seen.includes(key)) return { path: pathOf(stack), message: `duplicate key "${key}" in one object` };
        if (many) many.add(key);
        else if (seen.push(key) > SMALL) many = new Set(seen);
        ws();
        i++; // ':'
        const p = value();
        if (p) return p;
        stack.pop();
        ws();
        if (text.charCodeAt(i++) === 0x7d) return null;
      }
    }
    if (c === 0x5b) {
      i++;
      ws();
      if (text.charCodeAt(i) === 0x5d) {
        i++;
        return null;
      }
      for (let k = 0; ; k++) {
        stack.push(k);
        const p = value();
        if (p) return p;
        stack.pop();
        ws();
        if (text.charCodeAt(i++) === 0x5d) return null;
      }
    }
    if (c === 0x22) {
      skipString();
      return null;
    }
    const start = i;
    while (i < n && !isDelimiter(text.charCodeAt(i))) i++;
    if (i - start < 16) return null;
    const token = text.slice(start, i);
    if (/^-?\d+$/.test(token) && token.replace('-', '').length >= 16) {
      const big = BigInt(token);
      if (big > MAX_SAFE || big < -MAX_SAFE) {
        return {
          path: pathOf(stack),
          message: `integer ${token} is beyond 2^53 and would lose precision; write it as a string`,
        };
      }
    }
    return null;
  };

  return value();
}
