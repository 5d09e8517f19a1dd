// Preloaded (`node --import`) into jco's type generator: the WASI shim it runs its WIT parser
// on (preview2-shim 0.26) starts with no preopened directories, so the parser cannot read any
// WIT file ("failed to read path for WIT … os error 44"). Give it the filesystem root, in the
// very module instance jco-transpile imports.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
// The package's main entry is dist/index.js; its root is two levels up.
const transpile = dirname(dirname(require.resolve("@bytecodealliance/jco-transpile")));
const shim = join(
  transpile,
  "node_modules/@bytecodealliance/preview2-shim/dist/nodejs/filesystem.js",
);
const { _setPreopens } = await import(pathToFileURL(shim).href);
_setPreopens({ "/": "/" });
