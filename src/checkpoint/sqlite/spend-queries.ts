import type Database from 'better-sqlite3';
import { ENDPOINT_KINDS } from '../../api/endpoints.ts';
import { JOB_STATES } from '../job-states.ts';
import type { ModelUsage, WorkToSend } from '../store.ts';
import { tokensOf, type TokenUsage } from '../summary.ts';
import { usageSumsSql } from './usage-sums.ts';

const S = JOB_STATES;

/* What spending reads of the jobs table: usage per model and window (actual cost) and the work
 * still to send per endpoint × model × window (pre-flight models, --max-cost refusals). The model
 * is read from the stored request, as it was sent (the `model` column is only set for fan-out
 * jobs, hence the alias that does not shadow it in TO_SEND_SQL's GROUP BY). */

const USAGE_SQL = usageSumsSql('result IS NOT NULL', { model: "json_extract(body, '$.model')", completionWindow: 'completion_window' });

/** A cap that is not a number is none: the spending cap cannot price it (budget.ts), and PostgreSQL counts it so. */
const CAP_MISSING = `CASE url ${Object.values(ENDPOINT_KINDS)
  .map((k) => `WHEN '${k.url}' THEN COALESCE(json_type(body, '$.${k.maxTokensField}'), 'null') NOT IN ('integer', 'real')`)
  .join(' ')} ELSE 1 END`;

const TO_SEND_SQL = `
  SELECT url, json_extract(body, '$.model') AS sentModel, completion_window AS completionWindow,
    COUNT(*) AS jobs, SUM(${CAP_MISSING}) AS uncapped
  FROM jobs WHERE state IN ('${S.pending}', '${S.not_sent_budget}')
  GROUP BY url, sentModel, completion_window`;

/** @internal */
export class SqliteSpendQueries {
  private readonly usage: Database.Statement;
  private readonly toSend: Database.Statement;

  constructor(db: Database.Database) {
    this.usage = db.prepare(USAGE_SQL);
    this.toSend = db.prepare(TO_SEND_SQL);
  }

  usageByModel(): ModelUsage[] {
    return (this.usage.all() as (TokenUsage & { model: unknown; completionWindow: string | null })[]).map((r) => ({
      model: String(r.model),
      completionWindow: r.completionWindow,
      tokens: tokensOf(r),
    }));
  }

  workToSend(): WorkToSend[] {
    return (this.toSend.all() as (Omit<WorkToSend, 'model'> & { sentModel: unknown })[]).map(({ sentModel, ...r }) => ({ ...r, model: String(sentModel) }));
  }
}
