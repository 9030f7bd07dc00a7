import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';

interface ProcStat {
  /** One letter: R running, S sleeping, Z zombie, X dead, … */
  state: string;
  /** When the process started, in clock ticks since boot (field 22). */
  started: string;
}

/** Without /proc (not Linux), a missing /proc/<pid> says nothing about the process. */
const HAS_PROC = existsSync('/proc/self/stat');

/** This machine's view of a process: undefined when there is none, null when /proc cannot tell (not Linux). */
function procStat(pid: number): ProcStat | undefined | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' && HAS_PROC ? undefined : null;
  }
  // The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0]!, started: fields[19]! };
}

/**
 * When a process started (Linux; null elsewhere). With the pid it names one process for good:
 * a pid is reused once its process is gone, its start time then differs.
 */
export function processStartTime(pid: number = process.pid): string | null {
  return procStat(pid)?.started ?? null;
}

/**
 * Whether the process (pid, started) of this machine is gone: no such pid, a zombie (dead but
 * not yet reaped by its parent, which a shell, cron, systemd or `timeout` may take a while to
 * do, and a PID 1 that does not reap never does; `kill(pid, 0)` still succeeds on one), or a
 * pid now used by a process that started at another time. Where /proc cannot tell, only a
 * missing pid counts.
 */
export function processGone(pid: number, started: string | null | undefined): boolean {
  const st = procStat(pid);
  if (st === undefined) return true;
  if (st === null) {
    try {
      process.kill(pid, 0);
      return false;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ESRCH';
    }
  }
  if (st.state === 'Z' || st.state === 'X') return true;
  return started !== null && started !== undefined && st.started !== started;
}

/** Whether the process that holds (or held) a lease is known to be gone; one on another machine is not known. */
export function holderGone(holder: { pid: number; host: string; pidStarted?: string | null | undefined }): boolean {
  return holder.host === hostname() && processGone(holder.pid, holder.pidStarted);
}
