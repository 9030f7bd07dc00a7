import type { Argv, CommandModule } from 'yargs';
import type { CliIo } from './io.ts';

interface SimArgs {
  port: number;
  host: string;
  'api-key'?: string[];
  'latency-asap': number;
  'latency-standard': number;
  'latency-flex': number;
  'status-vocabulary': string;
  'output-shape': string;
  seed: number;
  'rate-limit-rate': number;
  'retry-after': number;
  'max-rps': number;
  'max-in-flight': number;
  'server-error-rate': number;
  'drop-after-create-rate': number;
  'garbage-rate': number;
  'slow-rate': number;
  'slow-ms': number;
  'fail-rate': number;
  'incomplete-rate': number;
  'cancel-rate': number;
  'truncate-rate': number;
  'invalid-answer-rate': number;
  'expire-after-ms': number;
}

const rate = (describe: string) => ({ type: 'number' as const, default: 0, describe });

export function simCommand(io: CliIo): CommandModule<object, SimArgs> {
  return {
    command: 'sim',
    describe: 'serve the Sail simulator on loopback (for demos, tests and benchmarks)',
    builder: (y) =>
      y
        .option('port', { alias: 'p', type: 'number', default: 8787, describe: 'port (0: any free one)' })
        .option('host', { type: 'string', choices: ['127.0.0.1', 'localhost', '::1'], default: '127.0.0.1' })
        .option('api-key', { type: 'string', array: true, describe: 'accepted keys (default: any non-empty Bearer token)' })
        .option('latency-asap', { type: 'number', default: 500, describe: 'ms per inference, asap/priority window' })
        .option('latency-standard', { type: 'number', default: 2_000, describe: 'ms per inference, 15m/standard window' })
        .option('latency-flex', { type: 'number', default: 5_000, describe: 'ms per inference, 24h/flex window' })
        .option('status-vocabulary', { type: 'string', choices: ['sail', 'openai'], default: 'sail', describe: 'pending/running or queued/in_progress' })
        .option('output-shape', { type: 'string', choices: ['string', 'items'], default: 'string', describe: 'output as a string or as message items' })
        .option('seed', { type: 'number', default: 1, describe: 'seed of the fault schedule' })
        .option('rate-limit-rate', rate('share of requests answered 429'))
        .option('retry-after', { type: 'number', default: 1, describe: 'Retry-After of a 429, seconds' })
        .option('max-rps', rate('answer 429 above this many requests per second (0: off)'))
        .option('max-in-flight', rate('answer 429 above this many requests in flight (0: off)'))
        .option('server-error-rate', rate('share of requests answered 500/502/503'))
        .option('drop-after-create-rate', rate('share of POSTs that create the response, then drop the connection'))
        .option('garbage-rate', rate('share of 200 replies whose body is not JSON'))
        .option('slow-rate', rate('share of replies delayed by --slow-ms'))
        .option('slow-ms', { type: 'number', default: 0 })
        .option('fail-rate', rate('share of responses that end failed'))
        .option('incomplete-rate', rate('share of responses that end incomplete'))
        .option('cancel-rate', rate('share of responses that end cancelled'))
        .option('truncate-rate', rate('share of responses that say completed but were cut at the output-token cap'))
        .option('invalid-answer-rate', rate('share of answers to json_schema requests that are not JSON or break the schema'))
        .option('expire-after-ms', rate('forget finished responses this long after they finish (0: never)')) as unknown as Argv<SimArgs>,
    handler: async (a) => {
      const { startSimulator } = await import('../sim/simulator.ts');
      const sim = await startSimulator({
        port: a.port,
        host: a.host as '127.0.0.1',
        apiKeys: a['api-key'] ?? [],
        latencyMs: { asap: a['latency-asap'], standard: a['latency-standard'], flex: a['latency-flex'] },
        statusVocabulary: a['status-vocabulary'] as 'sail',
        outputShape: a['output-shape'] as 'string',
        faults: {
          seed: a.seed,
          rateLimitRate: a['rate-limit-rate'],
          retryAfterS: a['retry-after'],
          maxRequestsPerSecond: a['max-rps'],
          maxInFlight: a['max-in-flight'],
          serverErrorRate: a['server-error-rate'],
          dropAfterCreateRate: a['drop-after-create-rate'],
          garbageRate: a['garbage-rate'],
          slowRate: a['slow-rate'],
          slowMs: a['slow-ms'],
          failRate: a['fail-rate'],
          incompleteRate: a['incomplete-rate'],
          cancelRate: a['cancel-rate'],
          truncateRate: a['truncate-rate'],
          invalidAnswerRate: a['invalid-answer-rate'],
          expireAfterMs: a['expire-after-ms'],
        },
      });
      io.stdout.write(`Sail simulator listening on ${sim.url} (any Bearer token${a['api-key'] ? ' listed with --api-key' : ''}). Ctrl-C stops it.\n`);
      if (!io.signal.aborted) await new Promise((resolve) => io.signal.addEventListener('abort', resolve, { once: true }));
      const s = sim.stats();
      await sim.stop();
      io.stdout.write(`simulator stopped: ${s.posts} POST, ${s.gets} GET, ${s.inferences} inferences, ${s.replays} idempotent replays\n`);
    },
  };
}
