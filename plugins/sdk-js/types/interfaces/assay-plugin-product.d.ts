/// <reference path="./assay-plugin-types.d.ts" />
declare module 'assay:plugin/product@0.2.0' {
  /**
   * Describes the plugin. Called once when the plugin is loaded; it must not make HTTP calls.
   */
  export function metadata(): PluginMetadata;
  /**
   * Answers StackOne's Package's List Endpoint for one customer account, with a freshness
   * hint if the host may reuse the answer.
   */
  export function listPackages(query: PackageQuery): PackageList;
  /**
   * Starts the ordered test or check in the vendor's system. The host calls it at least
   * once per order, and again after a retryable error, so it must be idempotent for the
   * same `order.id` (vendors usually accept an idempotency key or a reference field).
   */
  export function fulfilOrder(order: Order): Fulfilment;
  /**
   * Handles a request from the vendor's system (a webhook or a redirect) and turns it into
   * results. The plugin checks the vendor's signature itself; its secrets are in its
   * settings.
   */
  export function handleCallback(request: CallbackRequest): CallbackOutcome;
  /**
   * Called on the product's schedule (`poll_interval_s`) with the orders still waiting for a
   * result. Plugins of vendors that push callbacks return an empty list.
   */
  export function pollResults(pending: Array<PendingOrder>): Array<OrderResult>;
  export type PluginMetadata = import('assay:plugin/types@0.2.0').PluginMetadata;
  export type PackageList = import('assay:plugin/types@0.2.0').PackageList;
  export type PackageQuery = import('assay:plugin/types@0.2.0').PackageQuery;
  export type Order = import('assay:plugin/types@0.2.0').Order;
  export type Fulfilment = import('assay:plugin/types@0.2.0').Fulfilment;
  export type CallbackRequest = import('assay:plugin/types@0.2.0').CallbackRequest;
  export type CallbackOutcome = import('assay:plugin/types@0.2.0').CallbackOutcome;
  export type PendingOrder = import('assay:plugin/types@0.2.0').PendingOrder;
  export type OrderResult = import('assay:plugin/types@0.2.0').OrderResult;
  export type PluginError = import('assay:plugin/types@0.2.0').PluginError;
}
