/** Where requests go unless `--base-url` (or SAIL_BASE_URL) says otherwise. */
export const DEFAULT_BASE_URL = 'https://api.sailresearch.com/v1';
