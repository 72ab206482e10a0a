/**
 * npm run gate:merge -- --blobs <shard dir> [<shard dir> ...] [--node <node-only run dir>] [gate options]
 * Merges Playwright shard runs (blob reports + their checks.jsonl) into one run folder and computes the
 * verdict from the merged results exactly as for a single run. Same as `tsx scripts/gate.ts merge ...`.
 */
process.argv.splice(2, 0, 'merge');
await import('./gate.js');
