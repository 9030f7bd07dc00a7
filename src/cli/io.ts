/** What a command may touch of the process, injectable for tests. */
export interface CliIo {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  /** Set by the command; the entry point turns it into the process exit code. */
  exitCode: number;
  /** Aborted on the first SIGINT/SIGTERM. */
  signal: AbortSignal;
  /** What a command reports under `--json`; `main` prints it once, with the exit code and error. */
  result?: object;
}
