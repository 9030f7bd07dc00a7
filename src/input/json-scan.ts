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

export function scanJson(text: string): JsonScanProblem | null {
  let i = 0;
  const n = text.length;

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

  const join = (path: string, key: string | number) =>
    typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key;

  const value = (path: string): JsonScanProblem | null => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const seen = new Set<string>();
      ws();
      if (text[i] === '}') {
        i++;
        return null;
      }
      for (;;) {
        ws();
        const key = readString();
        if (seen.has(key)) return { path: join(path, key), message: `duplicate key "${key}" in one object` };
        seen.add(key);
        ws();
        i++; // ':'
        const p = value(join(path, key));
        if (p) return p;
        ws();
        if (text[i++] === '}') return null;
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return null;
      }
      for (let k = 0; ; k++) {
        const p = value(join(path, k));
        if (p) return p;
        ws();
        if (text[i++] === ']') return null;
      }
    }
    if (c === '"') {
      readString();
      return null;
    }
    const start = i;
    while (i < n && !',]} \t\r\n'.includes(text[i]!)) i++;
    const token = text.slice(start, i);
    if (/^-?\d+$/.test(token) && token.replace('-', '').length >= 16) {
      const big = BigInt(token);
      if (big > MAX_SAFE || big < -MAX_SAFE) {
        return {
          path,
          message: `integer ${token} is beyond 2^53 and would lose precision; write it as a string`,
        };
      }
    }
    return null;
  };

  return value('');
}
