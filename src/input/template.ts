/**
 * A prompt template: text with `{{column}}` placeholders (`{{a.b}}` reaches into nested JSONL
 * objects). Values are inserted as they are, with no escaping: the result is a prompt, not HTML.
 * Parsed once into literal parts and placeholder paths, so rendering a row is one join.
 */
export interface Template {
  /** The placeholders in order of first use, as written (`a.b`). */
  readonly placeholders: readonly string[];
  /** The text for one row, or which placeholder has no usable value there. */
  render(row: Record<string, unknown>): { text: string } | { placeholder: string; problem: 'missing' | 'empty' };
}

const PLACEHOLDER = /\{\{\s*([^{}]+?)\s*\}\}/g;

/** A row's value for a placeholder: the key as written first (CSV headers may contain dots), then the nested path. */
export function valueAt(row: Record<string, unknown>, path: string): unknown {
  if (path in row) return row[path];
  let at: unknown = row;
  for (const key of path.split('.')) {
    if (typeof at !== 'object' || at === null || Array.isArray(at)) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}

function asText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export function parseTemplate(text: string): Template {
  const literals: string[] = [];
  const paths: string[] = [];
  let last = 0;
  for (const m of text.matchAll(PLACEHOLDER)) {
    literals.push(text.slice(last, m.index));
    paths.push(m[1]!);
    last = m.index + m[0].length;
  }
  literals.push(text.slice(last));
  return {
    placeholders: [...new Set(paths)],
    render(row) {
      let out = literals[0]!;
      for (let i = 0; i < paths.length; i++) {
        const value = valueAt(row, paths[i]!);
        if (value === undefined || value === null) return { placeholder: paths[i]!, problem: 'missing' };
        const s = asText(value);
        if (s.trim() === '') return { placeholder: paths[i]!, problem: 'empty' };
        out += s + literals[i + 1]!;
      }
      return { text: out };
    },
  };
}
