import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A schema with an enum, an integer range and a nested object (and an array inside it). */
export const REVIEW_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['sentiment', 'stars', 'detail'],
  properties: {
    sentiment: { enum: ['positive', 'negative', 'mixed'] },
    stars: { type: 'integer', minimum: 1, maximum: 5 },
    detail: {
      type: 'object',
      additionalProperties: false,
      required: ['topics', 'confidence'],
      properties: {
        topics: { type: 'array', minItems: 1, maxItems: 3, items: { type: 'string', maxLength: 40 } },
        confidence: { type: 'number', minimum: 0, maximum: 1 },
      },
    },
  },
};

export const REVIEW_TEMPLATE = 'Label this review of {{product}} (sku {{sku}}).\n\nReview:\n{{body}}\n';

export interface ReviewRow {
  sku: string;
  product: string;
  body: string;
}

const quote = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/**
 * A CSV of `n` product reviews with a BOM and CRLF line ends, where every third body has a
 * quoted comma, every fifth an embedded newline and every seventh doubled quotes; returns the
 * rows as a reader must see them, and the paths of the CSV, the template and the schema.
 */
export function writeReviews(dir: string, n: number): { csv: string; template: string; schema: string; rows: ReviewRow[] } {
  const rows: ReviewRow[] = [];
  for (let i = 1; i <= n; i++) {
    let body = `Review number ${i} of this thing`;
    if (i % 3 === 0) body += ', with a comma';
    if (i % 5 === 0) body += '\r\nand a second line';
    if (i % 7 === 0) body += ' and a "quoted" word';
    rows.push({ sku: `SKU-${String(i).padStart(5, '0')}`, product: ['kettle', 'toaster', 'blender, large'][i % 3]!, body });
  }
  const csv = join(dir, 'reviews.csv');
  const lines = ['sku,product,body', ...rows.map((r) => [r.sku, r.product, r.body].map(quote).join(','))];
  writeFileSync(csv, `\uFEFF${lines.join('\r\n')}\r\n`);
  const template = join(dir, 'prompt.md');
  writeFileSync(template, REVIEW_TEMPLATE);
  const schema = join(dir, 'label.schema.json');
  writeFileSync(schema, JSON.stringify(REVIEW_SCHEMA, null, 2));
  return { csv, template, schema, rows };
}
