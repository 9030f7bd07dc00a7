/**
 * Lines drawn among progress bars must fit the terminal: cli-progress turns the terminal's own
 * wrapping off while bars are drawn (a wrapped bar would scroll on every redraw), so a longer line
 * is cut silently at the edge. Fitting it here cuts it visibly, or wraps it where it must be read whole.
 */

/** Width of a terminal whose size is not known (a forced TTY view, an old terminal). */
export const UNKNOWN_COLUMNS = 80;

export function columnsOf(stream: { columns?: number }): number {
  return stream.columns && stream.columns > 0 ? stream.columns : UNKNOWN_COLUMNS;
}

/** `text` on one line of `width` columns: cut with an ellipsis when it is longer. */
export function fitLine(text: string, width: number): string {
  const chars = [...text];
  return chars.length <= width ? text : `${chars.slice(0, Math.max(0, width - 1)).join('')}…`;
}

/** `text` broken into lines of at most `width` columns, at spaces where it can be. */
export function wrapLine(text: string, width: number): string[] {
  const lines: string[] = [];
  let rest = [...text];
  while (rest.length > width) {
    const space = rest.lastIndexOf(' ', width);
    const cut = space > width / 2 ? space : width;
    lines.push(rest.slice(0, cut).join('').trimEnd());
    rest = [...rest.slice(cut).join('').trimStart()];
  }
  lines.push(rest.join(''));
  return lines;
}
