#!/usr/bin/env node
import { EXIT } from '../errors.ts';
import { cliArgs, main } from './main.ts';

const controller = new AbortController();
let signals = 0;
const onSignal = (name: NodeJS.Signals) => {
  signals++;
  if (signals === 1) {
    process.stderr.write(`\nsailbatch: ${name}: stopping (finishing requests in flight, saving the checkpoint). Press Ctrl-C again to quit at once.\n`);
    controller.abort();
  } else {
    // Every checkpoint write is a committed transaction, so quitting here loses nothing durable.
    process.stderr.write('sailbatch: quitting now. Rerun the same command to resume.\n');
    process.exit(EXIT.interrupted);
  }
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const io = { stdout: process.stdout, stderr: process.stderr, exitCode: 0, signal: controller.signal };
process.exitCode = await main(cliArgs(), io);
// The command is over: from here a signal must end the process at once, not abort a run that is gone.
process.off('SIGINT', onSignal);
process.off('SIGTERM', onSignal);
