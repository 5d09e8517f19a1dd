//! Sending a [`Request`] through `wasi:http/outgoing-handler`, and what transport failures mean.

use std::time::Duration;

use super::request::Request;
use super::response::Response;
use super::url::split_url;
use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    ErrorCode, Fields, IncomingBody, OutgoingBody, OutgoingRequest, RequestOptions, http_error_code,
};
use crate::bindings::wasi::io::streams::{Error as IoError, StreamError};
use crate::{PluginError, RetryableFailure};

/// The most bytes `blocking-write-and-flush` accepts at once.
const WRITE_CHUNK: usize = 4096;
/// The largest chunk asked for when reading the response body.
const READ_CHUNK: u64 = 64 * 1024;

/// Sends `request` and reads the whole response.
pub(super) fn send(request: Request) -> Result<Response, PluginError> {
    let url = request.url.as_str();
    let (scheme, authority, path) = split_url(url)?;
    let fields = Fields::new();
    for (name, value) in &request.headers {
        fields.append(name, value.as_bytes()).map_err(|e| {
            PluginError::Permanent(format!(
                "the header `{name}` of the request to {url} was refused: {e:?}"
            ))
        })?;
    }
    if !request.body.is_empty() {
        // A length lets the vendor's server read the body without chunked encoding, which
        // some API gateways refuse.
        fields
            .append("content-length", request.body.len().to_string().as_bytes())
            .map_err(|e| PluginError::Permanent(format!("content-length refused: {e:?}")))?;
    }
    let outgoing = OutgoingRequest::new(fields);
    let refused = |what: &str| PluginError::Permanent(format!("{what} of {url} was refused"));
    outgoing
        .set_method(&request.method)
        .map_err(|()| refused("the method"))?;
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| refused("the scheme"))?;
    outgoing
        .set_authority(Some(authority))
        .map_err(|()| refused("the host"))?;
    outgoing
        .set_path_with_query(Some(path))
        .map_err(|()| refused("the path"))?;
    let body = outgoing.body().map_err(|()| refused("the body"))?;
    let options = request.timeout.map(options).transpose()?;

    let future =
        outgoing_handler::handle(outgoing, options).map_err(|code| transport_error(url, &code))?;
    write_body(&body, &request.body, url)?;
    OutgoingBody::finish(body, None).map_err(|code| transport_error(url, &code))?;

    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(transport_error(url, &code)),
        Some(Err(())) | None => {
            return Err(PluginError::retryable(format!("no response from {url}")));
        }
    };
    let status = response.status();
    let headers = response.headers().entries();
    let incoming = response
        .consume()
        .map_err(|()| PluginError::Permanent("the response body was already taken".into()))?;
    let body = read_body(&incoming, url)?;
    // The body is a child of the response: it goes first.
    drop(incoming);
    drop(response);
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn options(limit: Duration) -> Result<RequestOptions, PluginError> {
    let nanos = u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX);
    let options = RequestOptions::new();
    let refused = |what: &str| PluginError::Permanent(format!("the {what} timeout was refused"));
    options
        .set_connect_timeout(Some(nanos))
        .map_err(|()| refused("connect"))?;
    options
        .set_first_byte_timeout(Some(nanos))
        .map_err(|()| refused("first-byte"))?;
    options
        .set_between_bytes_timeout(Some(nanos))
        .map_err(|()| refused("between-bytes"))?;
    Ok(options)
}

/// Streams `bytes` into the request body, a chunk at a time.
fn write_body(body: &OutgoingBody, bytes: &[u8], url: &str) -> Result<(), PluginError> {
    if bytes.is_empty() {
        return Ok(());
    }
    let stream = body
        .write()
        .map_err(|()| PluginError::Permanent("the request body stream was already taken".into()))?;
    for chunk in bytes.chunks(WRITE_CHUNK) {
        stream
            .blocking_write_and_flush(chunk)
            .map_err(|e| stream_error(url, "sending the request body", e))?;
    }
    Ok(())
}

/// Reads the response body to its end, a chunk at a time.
fn read_body(body: &IncomingBody, url: &str) -> Result<Vec<u8>, PluginError> {
    let stream = body.stream().map_err(|()| {
        PluginError::Permanent("the response body stream was already taken".into())
    })?;
    let mut out = Vec::new();
    loop {
        match stream.blocking_read(READ_CHUNK) {
            Ok(chunk) => out.extend_from_slice(&chunk),
            Err(StreamError::Closed) => return Ok(out),
            Err(e) => return Err(stream_error(url, "reading the response", e)),
        }
    }
}

fn stream_error(url: &str, doing: &str, error: StreamError) -> PluginError {
    match error {
        StreamError::LastOperationFailed(e) => match http_error_code(&e) {
            Some(code) => transport_error(url, &code),
            None => io_error(url, doing, &e),
        },
        StreamError::Closed => {
            PluginError::retryable(format!("{doing} of {url} failed: the stream closed early"))
        }
    }
}

fn io_error(url: &str, doing: &str, error: &IoError) -> PluginError {
    PluginError::retryable(format!(
        "{doing} of {url} failed: {}",
        error.to_debug_string()
    ))
}

/// What a `wasi:http` error code means for the host: the plugin's own mistakes and refusals
/// by the host's policy are [`PluginError::Permanent`] (retrying cannot help), everything on
/// the network's or the vendor's side is [`PluginError::UpstreamRetryable`].
pub fn transport_error(url: &str, code: &ErrorCode) -> PluginError {
    let permanent = |why: &str| PluginError::Permanent(format!("request to {url}: {why}"));
    match code {
        ErrorCode::HttpRequestDenied => permanent(
            "the host refused it: its scheme, host and port are not in the product's \
             allowed_hosts (add them to [products.NAME] allowed_hosts)",
        ),
        ErrorCode::DestinationIpProhibited => permanent(
            "the host refused it: the name resolves to an internal address that allowed_hosts \
             does not name",
        ),
        ErrorCode::HttpRequestMethodInvalid
        | ErrorCode::HttpRequestUriInvalid
        | ErrorCode::HttpRequestUriTooLong
        | ErrorCode::HttpRequestLengthRequired
        | ErrorCode::HttpRequestBodySize(_)
        | ErrorCode::HttpRequestHeaderSectionSize(_)
        | ErrorCode::HttpRequestHeaderSize(_)
        | ErrorCode::HttpRequestTrailerSectionSize(_)
        | ErrorCode::HttpRequestTrailerSize(_) => {
            permanent(&format!("the request is malformed ({code:?})"))
        }
        ErrorCode::HttpResponseBodySize(_) => {
            permanent("the answer is larger than the host lets a plugin read")
        }
        ErrorCode::ConfigurationError | ErrorCode::LoopDetected => permanent(&format!("{code:?}")),
        other => PluginError::UpstreamRetryable(RetryableFailure {
            message: format!("request to {url} failed: {other:?}"),
            retry_after_ms: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_outside_allowed_hosts_is_permanent_and_says_so() {
        let error = transport_error("https://evil.example/x", &ErrorCode::HttpRequestDenied);
        assert!(
            matches!(&error, PluginError::Permanent(m) if m.contains("allowed_hosts") && m.contains("evil.example")),
            "{error:?}"
        );
    }

    #[test]
    fn network_trouble_is_retryable() {
        for code in [
            ErrorCode::ConnectionRefused,
            ErrorCode::ConnectionTimeout,
            ErrorCode::ConnectionTerminated,
            ErrorCode::DnsTimeout,
            ErrorCode::HttpResponseTimeout,
            ErrorCode::HttpResponseIncomplete,
            ErrorCode::TlsCertificateError,
            ErrorCode::InternalError(None),
        ] {
            let error = transport_error("https://h/", &code);
            assert!(
                matches!(error, PluginError::UpstreamRetryable(_)),
                "{code:?}"
            );
        }
    }

    #[test]
    fn malformed_requests_and_huge_answers_are_permanent() {
        for code in [
            ErrorCode::HttpRequestUriInvalid,
            ErrorCode::HttpRequestMethodInvalid,
            ErrorCode::HttpResponseBodySize(Some(9 << 20)),
            ErrorCode::DestinationIpProhibited,
        ] {
            let error = transport_error("https://h/", &code);
            assert!(matches!(error, PluginError::Permanent(_)), "{code:?}");
        }
    }
}
