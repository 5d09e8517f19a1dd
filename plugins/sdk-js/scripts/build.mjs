#!/usr/bin/env node
// assay-plugin-build: TypeScript/JavaScript plugin → WebAssembly component.
//
//   assay-plugin-build [--entry src/plugin.ts] [--out dist/plugin.wasm] [--no-check]
//
// 1. type-checks the project with `tsc --noEmit` (its tsconfig.json), unless --no-check;
// 2. bundles the entry with esbuild into one ES module, leaving the component's imports
//    (`assay:*`, `wasi:*`) to componentize-js;
// 3. makes the component with componentize-js against the WIT this SDK carries (world
//    `plugin` of assay:plugin@0.2.0) and writes it to --out.
import { execFileSync } from "node:child_process";
import { mkdir, writeFile, stat } from "node:fs/promises";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const sdk = dirname(dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);

function usage(message) {
  console.error(`assay-plugin-build: ${message}`);
  console.error("usage: assay-plugin-build [--entry src/plugin.ts] [--out dist/plugin.wasm] [--no-check]");
  process.exit(2);
}

const opts = { entry: "src/plugin.ts", out: "dist/plugin.wasm", check: true };
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === "--entry" || a === "--out") {
    if (args[i + 1] === undefined) usage(`${a} needs a value`);
    opts[a.slice(2)] = args[++i];
  } else if (a === "--no-check") opts.check = false;
  else usage(`unknown argument ${a}`);
}
if (!existsSync(opts.entry)) usage(`no entry file ${resolve(opts.entry)}`);

const t0 = performance.now();
const ms = (t) => `${((performance.now() - t) / 1000).toFixed(1)} s`;

if (opts.check && existsSync("tsconfig.json")) {
  const t = performance.now();
  // TypeScript 7 ships tsc as a native binary behind this script.
  const tsc = join(dirname(require.resolve("typescript/package.json")), "bin", "tsc");
  try {
    execFileSync(process.execPath, [tsc, "--noEmit", "-p", "tsconfig.json"], { stdio: "inherit" });
  } catch {
    console.error("assay-plugin-build: type errors (see above); --no-check skips the check");
    process.exit(1);
  }
  console.error(`checked types in ${ms(t)}`);
}

const outDir = dirname(resolve(opts.out));
await mkdir(outDir, { recursive: true });
const bundle = join(outDir, "bundle.js");
{
  const t = performance.now();
  const esbuild = await import("esbuild");
  await esbuild.build({
    entryPoints: [opts.entry],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    outfile: bundle,
    external: ["assay:*", "wasi:*"],
    logLevel: "warning",
  });
  console.error(`bundled ${opts.entry} in ${ms(t)}`);
}
{
  const t = performance.now();
  // componentize-js runs its WIT reader on the WASI shim, whose 0.26 release starts with no
  // preopened directories ("reading file …/wit … os error 44"): give it the filesystem root,
  // in the module instance componentize-js itself imports (resolved from the same folder).
  const { _setPreopens } = await import("@bytecodealliance/preview2-shim/filesystem");
  _setPreopens({ "/": "/" });
  const { componentize } = await import("@bytecodealliance/componentize-js");
  const { component } = await componentize({
    sourcePath: bundle,
    witPath: join(sdk, "wit"),
    worldName: "plugin",
  });
  await writeFile(opts.out, component);
  const size = (await stat(opts.out)).size;
  console.error(`componentized in ${ms(t)}: ${opts.out} (${(size / 1048576).toFixed(1)} MiB)`);
}
console.error(`built in ${ms(t0)}`);
