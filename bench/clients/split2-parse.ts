/**
 * The yardstick of the validation pass: stream the file through split2 and JSON.parse each line,
 * nothing else.
 *
 *   node --import tsx bench/clients/split2-parse.ts <input.jsonl>
 */
import { createReadStream } from 'node:fs';
import split2 from 'split2';

let lines = 0;
for await (const line of createReadStream(process.argv[2]!).pipe(split2())) {
  if ((line as string).length === 0) continue;
  JSON.parse(line as string);
  lines++;
}
const cpu = process.cpuUsage();
console.log(JSON.stringify({ lines, cpuMs: (cpu.user + cpu.system) / 1000, maxRssMb: process.resourceUsage().maxRSS / 1024 }));
