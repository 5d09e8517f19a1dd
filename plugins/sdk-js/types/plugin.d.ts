/// <reference path="./interfaces/assay-plugin-host.d.ts" />
/// <reference path="./interfaces/assay-plugin-product.d.ts" />
/// <reference path="./interfaces/assay-plugin-state.d.ts" />
/// <reference path="./interfaces/assay-plugin-types.d.ts" />
/// <reference path="./interfaces/wasi-clocks-monotonic-clock.d.ts" />
/// <reference path="./interfaces/wasi-clocks-wall-clock.d.ts" />
/// <reference path="./interfaces/wasi-http-outgoing-handler.d.ts" />
/// <reference path="./interfaces/wasi-http-types.d.ts" />
/// <reference path="./interfaces/wasi-io-error.d.ts" />
/// <reference path="./interfaces/wasi-io-poll.d.ts" />
/// <reference path="./interfaces/wasi-io-streams.d.ts" />
/// <reference path="./interfaces/wasi-keyvalue-store.d.ts" />
declare module 'assay:plugin/plugin@0.2.0' {
  export type * as AssayPluginHost020 from 'assay:plugin/host@0.2.0'; // import assay:plugin/host@0.2.0
  export type * as AssayPluginState020 from 'assay:plugin/state@0.2.0'; // import assay:plugin/state@0.2.0
  export type * as AssayPluginTypes020 from 'assay:plugin/types@0.2.0'; // import assay:plugin/types@0.2.0
  export type * as WasiClocksMonotonicClock0212 from 'wasi:clocks/monotonic-clock@0.2.12'; // import wasi:clocks/monotonic-clock@0.2.12
  export type * as WasiClocksWallClock0212 from 'wasi:clocks/wall-clock@0.2.12'; // import wasi:clocks/wall-clock@0.2.12
  export type * as WasiHttpOutgoingHandler0212 from 'wasi:http/outgoing-handler@0.2.12'; // import wasi:http/outgoing-handler@0.2.12
  export type * as WasiHttpTypes0212 from 'wasi:http/types@0.2.12'; // import wasi:http/types@0.2.12
  export type * as WasiIoError0212 from 'wasi:io/error@0.2.12'; // import wasi:io/error@0.2.12
  export type * as WasiIoPoll0212 from 'wasi:io/poll@0.2.12'; // import wasi:io/poll@0.2.12
  export type * as WasiIoStreams0212 from 'wasi:io/streams@0.2.12'; // import wasi:io/streams@0.2.12
  export type * as WasiKeyvalueStore020Draft from 'wasi:keyvalue/store@0.2.0-draft'; // import wasi:keyvalue/store@0.2.0-draft
  export * as product from 'assay:plugin/product@0.2.0'; // export assay:plugin/product@0.2.0
}
