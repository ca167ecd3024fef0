// package.json's "exports" as Bun resolves them: each subpath ("." and
// "./native", ...) to the absolute path of its "bun" condition's file under src/.
import { readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..");

/** Subpath -> absolute file, under the "bun" condition. */
export const BUN_EXPORTS: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).exports as Record<string, Record<string, string>>).map(([sub, conditions]) => {
    if (conditions.bun === undefined) throw new Error(`package.json exports ${sub} without a "bun" condition`);
    return [sub, join(ROOT, conditions.bun)];
  }),
);
