/**
 * `hostile` in TypeScript: the misbehaviours of the Rust fixtures `spin`, `hog` and `offlist`,
 * chosen by the `behaviour` setting, so the host's isolation is proven for plugins built with
 * componentize-js too (their engine, SpiderMonkey, runs inside the component).
 *
 * `list-packages` with `behaviour` =
 * - `spin`: loops without end; the host's deadline must end the call;
 * - `hog`: allocates and fills 1 MiB blocks without end; the host's memory limit must refuse
 *   the growth, and the call fails however the engine reports it;
 * - `offlist`: fetches `target` (a URL), which the product's `allowed_hosts` does not list; the
 *   host must deny the request, and the plugin reports the denial as its error;
 * - anything else: answers one package, `ok`.
 */
import { PluginError, assessmentPackage, definePlugin, http, packageList, settings } from "@assay/plugin-sdk";

function spin(): never {
  let n = 0;
  for (;;) {
    n = (n + 1) | 0;
  }
}

function hog(): never {
  const hoard: Uint8Array[] = [];
  for (;;) {
    hoard.push(new Uint8Array(1 << 20).fill(0xa5));
  }
}

export const product = definePlugin({
  metadata: () => ({
    name: "hostile",
    version: "0.2.0",
    description: "Misbehaves on purpose (spin, hog, offlist)",
    kinds: ["assessment"],
    settings: [
      settings.required("behaviour", "spin, hog, offlist or ok"),
      settings.optional("target", "The URL `offlist` fetches"),
    ],
  }),
  listPackages: async () => {
    switch (settings.get("behaviour")) {
      case "spin":
        spin();
      case "hog":
        hog();
      case "offlist": {
        const target = settings.require("target");
        await new http.Client(target).get("/").send();
        throw PluginError.permanent(`${target} answered, but it is not an allowed host`);
      }
      default:
        return packageList([assessmentPackage("ok", "OK")], 0);
    }
  },
  fulfilOrder: () => {
    throw PluginError.permanent("hostile fulfils nothing");
  },
  handleCallback: () => {
    throw PluginError.invalidInput("hostile takes no callbacks");
  },
  pollResults: () => [],
});
