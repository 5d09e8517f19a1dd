declare module 'assay:plugin/types@0.2.0' {
  /**
   * Which StackOne flow an order belongs to. It decides the result endpoint the host uses.
   * # Variants
   * 
   * ## `"assessment"`
   * 
   * Candidate assessments: coding tests, personality tests and the like.
   * ## `"background-check"`
   * 
   * Background checks.
   */
  export type OrderKind = 'assessment' | 'background-check';
  /**
   * A setting the plugin reads from `[products.NAME.settings]`.
   */
  export interface SettingSpec {
    /**
     * The key, e.g. `api_token`.
     */
    name: string,
    /**
     * Whether the product must set it. The host refuses a configuration that leaves a
     * required setting out, when it loads, naming the product and the key.
     */
    required: boolean,
    /**
     * Whether the value is a credential. The host refuses a secret written as a literal in
     * the configuration file: it must be an `env:NAME` or `file:/path` reference.
     */
    secret: boolean,
    /**
     * One line for operators: what the setting is for.
     */
    description: string,
  }
  /**
   * What a plugin tells the host about itself.
   */
  export interface PluginMetadata {
    /**
     * A short machine-friendly name of the product, e.g. `codetest`.
     */
    name: string,
    /**
     * The plugin's own version (semver is recommended); shown in logs and the status page.
     */
    version: string,
    /**
     * A one-line description for operators.
     */
    description: string,
    /**
     * The order kinds this plugin can fulfil. Must not be empty.
     */
    kinds: Array<OrderKind>,
    /**
     * The settings the plugin reads. Names must be unique.
     */
    settings: Array<SettingSpec>,
  }
  /**
   * One test inside a background-check package.
   */
  export interface PackageTest {
    /**
     * The vendor's id of the test.
     */
    id: string,
    /**
     * The name a recruiter sees.
     */
    name: string,
    /**
     * Optional longer text.
     */
    description?: string,
  }
  /**
   * A package a recruiter can pick: one assessment or one background-check bundle.
   */
  export interface Package {
    /**
     * The vendor's id of the package. StackOne sends it back in the order.
     */
    id: string,
    /**
     * The name a recruiter sees.
     */
    name: string,
    /**
     * Optional longer text.
     */
    description?: string,
    /**
     * Tests contained in a background-check package; empty for assessments.
     */
    tests: Array<PackageTest>,
  }
  /**
   * How long the host may answer StackOne's Package's List Endpoint without calling
   * `list-packages` again, for the same product, plugin, settings and account.
   */
  export interface Freshness {
    /**
     * Seconds the list stays fresh: the host answers from its cache meanwhile, and
     * refreshes it in the background before it goes stale.
     */
    maxAgeS: number,
    /**
     * Seconds past `max-age-s` during which the host still answers with the old list when
     * `list-packages` fails (it says so in the `x-assay-cache: stale` header). 0: never.
     */
    staleIfErrorS: number,
  }
  /**
   * What `list-packages` returns.
   */
  export interface PackageList {
    /**
     * The packages a recruiter can pick.
     */
    packages: Array<Package>,
    /**
     * How long the list may be reused; `none`: ask the plugin every time.
     */
    freshness?: Freshness,
  }
  /**
   * The query of StackOne's Package's List Endpoint.
   */
  export interface PackageQuery {
    /**
     * The StackOne linked-account id of the customer asking.
     */
    accountId: string,
    /**
     * The ATS provider key, e.g. `recruitee`.
     */
    provider?: string,
  }
  /**
   * The package an order was placed for, as StackOne sends it.
   */
  export interface OrderPackage {
    /**
     * StackOne's id of the package, when it sends one.
     */
    id?: string,
    /**
     * The vendor's id of the package (what `list-packages` returned as `id`).
     */
    remoteId?: string,
    /**
     * The package name.
     */
    name?: string,
    /**
     * The package description.
     */
    description?: string,
    /**
     * The tests of a background-check package.
     */
    tests: Array<PackageTest>,
  }
  /**
   * An e-mail address of a candidate.
   */
  export interface Email {
    /**
     * The address.
     */
    value: string,
    /**
     * Its kind as StackOne reports it (`personal`, `work`, …), when known.
     */
    emailType?: string,
  }
  /**
   * The candidate who is to take the test or be checked.
   */
  export interface Candidate {
    /**
     * StackOne's candidate id.
     */
    id?: string,
    /**
     * The ATS's own candidate id.
     */
    remoteId?: string,
    /**
     * Given name.
     */
    firstName?: string,
    /**
     * Family name.
     */
    lastName?: string,
    /**
     * E-mail addresses; the first is the preferred one.
     */
    emails: Array<Email>,
    /**
     * The candidate's profile page in the ATS.
     */
    profileUrl?: string,
  }
  /**
   * A member of the hiring team, or the requester of an order.
   */
  export interface HiringTeamMember {
    /**
     * StackOne's user id.
     */
    userId?: string,
    /**
     * The ATS's own user id.
     */
    remoteUserId?: string,
    /**
     * Given name.
     */
    firstName?: string,
    /**
     * Family name.
     */
    lastName?: string,
    /**
     * E-mail address.
     */
    email?: string,
    /**
     * Role on the hiring team (`recruiter`, `hiring_manager`, …).
     */
    role?: string,
  }
  /**
   * The job the candidate applied for.
   */
  export interface Job {
    /**
     * StackOne's job id.
     */
    id?: string,
    /**
     * The ATS's own job id.
     */
    remoteId?: string,
    /**
     * The job title.
     */
    title?: string,
    /**
     * The hiring team.
     */
    hiringTeam: Array<HiringTeamMember>,
  }
  /**
   * The candidate's application to the job.
   */
  export interface Application {
    /**
     * StackOne's application id.
     */
    id?: string,
    /**
     * The ATS's own application id.
     */
    remoteId?: string,
    /**
     * StackOne's normalised application status.
     */
    status?: string,
    /**
     * The ATS's own application status text.
     */
    statusSource?: string,
  }
  /**
   * An order: a recruiter asked for a package for a candidate.
   */
  export interface Order {
    /**
     * StackOne's order id: results are delivered to this id.
     */
    id: string,
    /**
     * Assessment or background check.
     */
    kind: OrderKind,
    /**
     * The StackOne linked account the order came from.
     */
    accountId: string,
    /**
     * The ATS provider key, e.g. `recruitee`.
     */
    provider?: string,
    /**
     * The ATS's own id of the order.
     */
    remoteId?: string,
    /**
     * The package ordered.
     */
    'package': OrderPackage,
    /**
     * The candidate.
     */
    candidate: Candidate,
    /**
     * The application, when StackOne sends it.
     */
    application?: Application,
    /**
     * The job, when StackOne sends it.
     */
    job?: Job,
    /**
     * Who placed the order.
     */
    requester?: HiringTeamMember,
    /**
     * The order object exactly as StackOne sent it, as JSON text, for fields the types
     * above do not carry (for example `passthrough`).
     */
    rawJson: string,
  }
  /**
   * StackOne's normalised result status. `unmapped-value` carries a vendor status that has
   * no StackOne equivalent; the host sends it as `unmapped_value` with the text as
   * `source_value`.
   */
  export type ResultValue = ResultValueInitiated | ResultValueInProgress | ResultValueCancelled | ResultValueCompleted | ResultValueExpired | ResultValueFailed | ResultValuePassed | ResultValueUnmappedValue;
  /**
   * The test was sent to the candidate.
   */
  export interface ResultValueInitiated {
    tag: 'initiated',
  }
  /**
   * The candidate has started.
   */
  export interface ResultValueInProgress {
    tag: 'in-progress',
  }
  /**
   * The order was cancelled.
   */
  export interface ResultValueCancelled {
    tag: 'cancelled',
  }
  /**
   * The candidate finished; see the score.
   */
  export interface ResultValueCompleted {
    tag: 'completed',
  }
  /**
   * The candidate did not finish in time.
   */
  export interface ResultValueExpired {
    tag: 'expired',
  }
  /**
   * The candidate failed, or the check raised concerns.
   */
  export interface ResultValueFailed {
    tag: 'failed',
  }
  /**
   * The candidate passed, or the check came back clear.
   */
  export interface ResultValuePassed {
    tag: 'passed',
  }
  /**
   * A vendor status with no StackOne equivalent.
   */
  export interface ResultValueUnmappedValue {
    tag: 'unmapped-value',
    val: string,
  }
  /**
   * A result status with the vendor's own wording.
   */
  export interface ResultStatus {
    /**
     * The normalised value.
     */
    value: ResultValue,
    /**
     * The vendor's own status text, shown to recruiters where the ATS supports it.
     */
    sourceValue?: string,
  }
  /**
   * A score. StackOne carries every part as a string; the recruiter sees `value` as a
   * percentage next to the package name.
   */
  export interface Score {
    /**
     * A label, e.g. `Overall`.
     */
    label?: string,
    /**
     * The score, e.g. `87`.
     */
    value?: string,
    /**
     * The lowest possible score, e.g. `0`.
     */
    min?: string,
    /**
     * The highest possible score, e.g. `100`.
     */
    max?: string,
  }
  /**
   * The kind of an attachment's content.
   */
  export type ContentType = ContentTypeText | ContentTypePdf | ContentTypeVideo | ContentTypeOther | ContentTypeUnmappedValue;
  /**
   * Plain text.
   */
  export interface ContentTypeText {
    tag: 'text',
  }
  /**
   * A PDF document.
   */
  export interface ContentTypePdf {
    tag: 'pdf',
  }
  /**
   * A video.
   */
  export interface ContentTypeVideo {
    tag: 'video',
  }
  /**
   * Anything else.
   */
  export interface ContentTypeOther {
    tag: 'other',
  }
  /**
   * A vendor content type with no StackOne equivalent.
   */
  export interface ContentTypeUnmappedValue {
    tag: 'unmapped-value',
    val: string,
  }
  /**
   * A file the recruiter can open, such as a full report.
   */
  export interface Attachment {
    /**
     * Where the file is.
     */
    url: string,
    /**
     * What it is.
     */
    contentType?: ContentType,
  }
  /**
   * A result for an order, as StackOne's results update carries it. Every field is optional:
   * send what you know.
   */
  export interface AssessmentResult {
    /**
     * The score.
     */
    score?: Score,
    /**
     * The status.
     */
    status?: ResultStatus,
    /**
     * A link to the vendor's report; the recruiter sees it as an "Open" link.
     */
    resultUrl?: string,
    /**
     * When the candidate started, ISO-8601.
     */
    startDate?: string,
    /**
     * When the candidate submitted, ISO-8601.
     */
    submissionDate?: string,
    /**
     * A short summary for the recruiter.
     */
    summary?: string,
    /**
     * Reports and other files.
     */
    attachments: Array<Attachment>,
    /**
     * The candidate's profile in the vendor's system.
     */
    candidateProfileUrl?: string,
  }
  /**
   * How a plugin names the order a result belongs to.
   */
  export type OrderRef = OrderRefOrderId | OrderRefExternalId;
  /**
   * StackOne's order id (`order.id`).
   */
  export interface OrderRefOrderId {
    tag: 'order-id',
    val: string,
  }
  /**
   * The vendor's id that `fulfil-order` returned as `external-id`.
   */
  export interface OrderRefExternalId {
    tag: 'external-id',
    val: string,
  }
  /**
   * A result for one order.
   */
  export interface OrderResult {
    /**
     * Which order.
     */
    order: OrderRef,
    /**
     * The result.
     */
    result: AssessmentResult,
  }
  /**
   * What `fulfil-order` returns once the vendor has accepted the order.
   */
  export interface Fulfilment {
    /**
     * The vendor's own id for the test or check; callbacks and polls refer to it.
     */
    externalId: string,
    /**
     * The link the candidate uses to take the test, when there is one.
     */
    testUrl?: string,
    /**
     * A first result to deliver right away, typically `initiated` with the test URL.
     */
    firstResult?: AssessmentResult,
  }
  /**
   * An order the host is still waiting for a result on; input of `poll-results`.
   */
  export interface PendingOrder {
    /**
     * StackOne's order id.
     */
    orderId: string,
    /**
     * The vendor's id from `fulfil-order`.
     */
    externalId: string,
    /**
     * Assessment or background check.
     */
    kind: OrderKind,
    /**
     * The StackOne linked account of the order.
     */
    accountId: string,
  }
  /**
   * An HTTP header; values are bytes because HTTP allows non-UTF-8 values.
   */
  export interface Header {
    /**
     * The header name, lower-case.
     */
    name: string,
    /**
     * The raw value.
     */
    value: Uint8Array,
  }
  /**
   * A request from the vendor's system to `/v1/products/{product}/callbacks/{path}`.
   */
  export interface CallbackRequest {
    /**
     * The HTTP method, upper-case.
     */
    method: string,
    /**
     * The part of the path after `/callbacks/`, without a leading slash.
     */
    path: string,
    /**
     * The raw query string, without `?`.
     */
    query?: string,
    /**
     * The request headers.
     */
    headers: Array<Header>,
    /**
     * The raw body (already size-capped by the host).
     */
    body: Uint8Array,
  }
  /**
   * The response the host returns to the vendor's system.
   */
  export interface CallbackResponse {
    /**
     * The HTTP status.
     */
    status: number,
    /**
     * Response headers.
     */
    headers: Array<Header>,
    /**
     * Response body.
     */
    body: Uint8Array,
  }
  /**
   * A callback the plugin handled.
   */
  export interface CallbackHandled {
    /**
     * The response for the caller. The host sends it only after the results are stored.
     */
    response: CallbackResponse,
    /**
     * Results to deliver to StackOne.
     */
    results: Array<OrderResult>,
  }
  /**
   * What `handle-callback` returns.
   */
  export type CallbackOutcome = CallbackOutcomeHandled | CallbackOutcomeUnknown;
  /**
   * The callback was for this plugin: send the response once the results are stored.
   */
  export interface CallbackOutcomeHandled {
    tag: 'handled',
    val: CallbackHandled,
  }
  /**
   * The callback names something this plugin does not know (a session it never
   * created, another tenant's id): the host answers 404 with this reason, counts it,
   * logs it, and stores nothing, so the vendor stops sending it.
   */
  export interface CallbackOutcomeUnknown {
    tag: 'unknown',
    val: string,
  }
  /**
   * A retryable failure of the vendor's system.
   */
  export interface RetryableFailure {
    /**
     * What went wrong.
     */
    message: string,
    /**
     * When to try again, if the vendor said so.
     */
    retryAfterMs?: bigint,
  }
  /**
   * Why a plugin call failed. The host decides what to do from the case, never by parsing
   * the message.
   */
  export type PluginError = PluginErrorInvalidInput | PluginErrorUnauthorized | PluginErrorNotFound | PluginErrorUpstreamRetryable | PluginErrorPermanent | PluginErrorMisconfigured | PluginErrorCancelled;
  /**
   * The input was malformed or incomplete (e.g. an order without a candidate e-mail).
   * Not retried.
   */
  export interface PluginErrorInvalidInput {
    tag: 'invalid-input',
    val: string,
  }
  /**
   * The vendor refused the plugin's credentials. Not retried; the operator must act.
   */
  export interface PluginErrorUnauthorized {
    tag: 'unauthorized',
    val: string,
  }
  /**
   * Something the call named does not exist (a package, an order). Not retried.
   */
  export interface PluginErrorNotFound {
    tag: 'not-found',
    val: string,
  }
  /**
   * A passing failure: the host tries again later.
   */
  export interface PluginErrorUpstreamRetryable {
    tag: 'upstream-retryable',
    val: RetryableFailure,
  }
  /**
   * A failure that retrying will not fix. The order is parked as failed and StackOne
   * is sent a `failed` result with this message, so the recruiter sees it.
   */
  export interface PluginErrorPermanent {
    tag: 'permanent',
    val: string,
  }
  /**
   * The product's settings are missing or wrong (the operator must fix them). Answered
   * 503 naming the product; an order is retried like `upstream-retryable`, since a
   * configuration reload can fix it.
   */
  export interface PluginErrorMisconfigured {
    tag: 'misconfigured',
    val: string,
  }
  /**
   * The vendor cancelled the order. It is parked and StackOne is sent a `cancelled`
   * result with this message.
   */
  export interface PluginErrorCancelled {
    tag: 'cancelled',
    val: string,
  }
}
