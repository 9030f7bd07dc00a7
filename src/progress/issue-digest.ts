import { createWriteStream, openSync, type WriteStream } from 'node:fs';
import { UsageError, formatIssue, type InputIssue } from '../errors.ts';
import { formatCount } from '../human-format.ts';

/** Bad lines listed one by one on the terminal; past these, a summary by field and reason. */
export const LISTED_ISSUES = 20;

export interface IssueGroup {
  field: string;
  reason: string;
  count: number;
  firstLine: number;
}

/** Opened before anything starts, so a bad path is a usage error rather than a failure after the run. */
function openErrorsFile(path: string): number {
  try {
    return openSync(path, 'w');
  } catch (e) {
    throw new UsageError(`--errors-file ${path}: cannot write it (${(e as NodeJS.ErrnoException).code}); choose another path`, { cause: e });
  }
}

/** "must be <= 2 (got 3)" and "must be <= 2 (got 7)" are one reason: the value given is dropped. */
function reasonOf(message: string): string {
  return message
    .replace(/\s*\((?:got|at character) [^)]*\)/g, '')
    .replace(/ in JSON at position \d+(?: \(line \d+ column \d+\))?/g, '')
    .replace(/"[^"]*"/g, '"…"')
    .replace(/\bline \d+\b/g, 'line …');
}

/**
 * What a person sees of a file's bad lines: the first LISTED_ISSUES as they are found, then one
 * summary grouped by field and reason, so 100,000 bad lines print a screenful, not 100,000
 * lines. Every line still goes to the errors file when one is given, and is kept for --json.
 */
export class IssueDigest {
  private readonly groups = new Map<string, IssueGroup>();
  private readonly file: WriteStream | undefined;
  private seen = 0;
  private finished = false;
  /** Every issue, when the caller wants them all (--json). */
  readonly all: InputIssue[] | undefined;

  constructor(
    private readonly stream: NodeJS.WritableStream,
    private readonly o: { errorsFile?: string | undefined; keepAll?: boolean } = {},
  ) {
    this.file = o.errorsFile ? createWriteStream(o.errorsFile, { fd: openErrorsFile(o.errorsFile) }) : undefined;
    this.all = o.keepAll ? [] : undefined;
  }

  add(issue: InputIssue): void {
    this.seen++;
    this.all?.push(issue);
    const line = `${formatIssue(issue)}\n`;
    this.file?.write(line);
    if (this.seen <= LISTED_ISSUES) this.stream.write(line);
    const reason = reasonOf(issue.message);
    const key = `${issue.field}\u0000${reason}`;
    const g = this.groups.get(key);
    if (g) g.count++;
    else this.groups.set(key, { field: issue.field, reason, count: 1, firstLine: issue.line });
  }

  get count(): number {
    return this.seen;
  }

  /** Most frequent first. */
  summary(): IssueGroup[] {
    return [...this.groups.values()].sort((a, b) => b.count - a.count || a.firstLine - b.firstLine);
  }

  /** For --json: every issue and the summary, when there were any and all were kept. */
  asJson(): { invalidLines: { count: number; byReason: IssueGroup[]; lines: InputIssue[] } } | undefined {
    return this.all && this.seen > 0 ? { invalidLines: { count: this.seen, byReason: this.summary(), lines: this.all } } : undefined;
  }

  /** Prints the summary once, if anything was left unlisted; closes the errors file. */
  async finish(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    if (this.seen > LISTED_ISSUES) {
      const where = this.o.errorsFile ? `all of them are in ${this.o.errorsFile}` : 'pass --errors-file <file> to get every one';
      const rows = this.summary().map((g) => `  ${formatCount(g.count).padStart(9)}  ${g.field ? `${g.field}: ` : ''}${g.reason} (first on line ${g.firstLine})`);
      this.stream.write(`… and ${formatCount(this.seen - LISTED_ISSUES)} more invalid lines (${where}). All ${formatCount(this.seen)} by field and reason:\n${rows.join('\n')}\n`);
    }
    if (this.file) await new Promise<void>((resolve, reject) => this.file!.end((e?: Error | null) => (e ? reject(e) : resolve())));
  }
}
