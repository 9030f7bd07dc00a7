import { EXIT } from '../errors.ts';
import { exportResults } from '../output/export.ts';
import { STDIO } from '../options.ts';
import { formatCount } from '../human-format.ts';
import type { ExportArgs } from './export-command.ts';
import type { CliIo } from './io.ts';

export async function executeExport(args: ExportArgs, io: CliIo): Promise<number> {
  const r = await exportResults(args.db, args.output, { errors: args.errors, format: args.format as 'jsonl' | 'csv' | undefined, batch: args.batch });
  const where = (path: string) => (path === STDIO ? 'stdout' : path);
  const errors = args.errors ? `; ${formatCount(r.errorLines ?? 0)} lines that did not complete to ${where(args.errors)}` : '';
  if (r.unfinished === 0) {
    io.stderr.write(`sailbatch: exported ${formatCount(r.lines)} lines to ${where(args.output)}${errors}\n`);
    return EXIT.ok;
  }
  io.stderr.write(
    `sailbatch: partial export: ${formatCount(r.unfinished)} of ${formatCount(r.lines)} jobs are not finished yet; ` +
      `their lines in ${where(args.output)} have error code "not_finished"${errors}. ` +
      `Export again when the run is done (rerun \`sailbatch run\` with the same arguments if none is going).\n`,
  );
  return EXIT.someJobsFailed;
}
