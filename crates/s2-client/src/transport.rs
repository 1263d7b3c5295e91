//! Connection management: one multiplexed HTTP/2 connection per endpoint
//! host, opened on first use and re-opened after it fails.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::client::conn::http2::{self, SendRequest};
use s2_core::{
    Error,
    api::{HttpRequest, HttpResponse, MAX_RESPONSE_BODY_BYTES},
    error::ProtocolError,
};

use crate::{
    body::RequestBody,
    config::ClientConfig,
    runtime::{ConnectTarget, HyperExecutor, HyperTimer, Runtime, timeout},
};

/// Scheme and authority of an endpoint host.
type HostKey = (bool, String);

/// The HTTP/2 connections of one client.
pub(crate) struct Transport<R: Runtime> {
    runtime: R,
    config: Arc<ClientConfig>,
    tls: Arc<rustls::ClientConfig>,
    hosts: Mutex<HashMap<HostKey, Arc<HostSlot>>>,
}

/// The connection to one host; the async lock makes concurrent callers share
/// one connection attempt.
#[derive(Default)]
struct HostSlot {
    sender: futures_util::lock::Mutex<Option<SendRequest<RequestBody>>>,
}

impl<R: Runtime> Transport<R> {
    pub(crate) fn new(runtime: R, config: Arc<ClientConfig>) -> Result<Self, Error> {
        let tls = crate::tls::client_config(&config)?;
        Ok(Self {
            runtime,
            config,
            tls,
            hosts: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn runtime(&self) -> &R {
        &self.runtime
    }

    /// A ready sender for the host of `uri`, connecting if needed.
    async fn sender(&self, uri: &http::Uri) -> Result<SendRequest<RequestBody>, Error> {
        let tls = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let authority = uri
            .authority()
            .ok_or_else(|| Error::transport(false, "request URI has no host"))?;
        let slot = {
            let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
            hosts
                .entry((tls, authority.to_string()))
                .or_default()
                .clone()
        };
        let mut sender = slot.sender.lock().await;
        if let Some(existing) = sender.as_ref().filter(|s| !s.is_closed()) {
            return Ok(existing.clone());
        }
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let fresh = self.connect(authority.host(), port, tls).await?;
        *sender = Some(fresh.clone());
        Ok(fresh)
    }

    async fn connect(
        &self,
        host: &str,
        port: u16,
        tls: bool,
    ) -> Result<SendRequest<RequestBody>, Error> {
        let target = ConnectTarget {
            // An IPv6 literal comes bracketed in a URI authority.
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            tls: tls.then(|| self.tls.clone()),
        };
        let connect_timeout = self.config.connect_timeout;
        let handshake = async {
            let io = self
                .runtime
                .connect(target)
                .await
                .map_err(|e| Error::transport(false, e))?;
            let mut builder = http2::Builder::new(HyperExecutor(self.runtime.clone()));
            builder
                .timer(HyperTimer(self.runtime.clone()))
                .adaptive_window(true)
                .max_frame_size(Some(256 * 1024))
                .initial_max_send_streams(Some(100));
            if let Some(interval) = self.config.keepalive_interval {
                builder
                    .keep_alive_interval(Some(interval))
                    .keep_alive_timeout(Duration::from_secs(10))
                    .keep_alive_while_idle(true);
            }
            builder
                .handshake::<_, RequestBody>(io)
                .await
                .map_err(|e| Error::transport(false, e))
        };
        let (sender, connection) = timeout(&self.runtime, connect_timeout, handshake)
            .await
            .ok_or_else(|| {
                Error::transport(false, format!("connecting to {host}:{port} timed out"))
            })??;
        self.runtime.spawn(Box::pin(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "HTTP/2 connection ended");
            }
        }));
        Ok(sender)
    }

    /// Sends `request` with `body` and returns the response head and body
    /// stream.
    pub(crate) async fn send_streaming(
        &self,
        request: &HttpRequest,
        body: RequestBody,
    ) -> Result<http::Response<hyper::body::Incoming>, Error> {
        let mut sender = self.sender(&request.uri).await?;
        sender
            .ready()
            .await
            .map_err(|e| Error::transport(false, e))?;
        let mut http = http::Request::new(body);
        *http.method_mut() = request.method.clone();
        *http.uri_mut() = request.uri.clone();
        *http.headers_mut() = request.headers.clone();
        sender.try_send_request(http).await.map_err(|mut e| {
            // hyper hands the request back when it was never sent.
            let sent = e.take_message().is_none();
            Error::transport(sent, e.into_error())
        })
    }

    /// Sends a unary request and collects its response within the request
    /// timeout.
    pub(crate) async fn send(&self, request: &HttpRequest) -> Result<HttpResponse, Error> {
        let request_timeout = self.config.request_timeout;
        let exchange = async {
            let response = self
                .send_streaming(request, RequestBody::full(request.body.clone()))
                .await?;
            let (parts, body) = response.into_parts();
            let body = collect_limited(body).await?;
            Ok(HttpResponse {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        timeout(&self.runtime, request_timeout, exchange)
            .await
            .unwrap_or(Err(Error::Timeout(request_timeout)))
    }
}

/// Reads a whole response body, refusing more than the response limit.
pub(crate) async fn collect_limited(body: hyper::body::Incoming) -> Result<Bytes, Error> {
    match Limited::new(body, MAX_RESPONSE_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ProtocolError::BodyTooLarge {
            limit: MAX_RESPONSE_BODY_BYTES,
        }
        .into()),
        Err(e) => Err(Error::transport(true, e)),
    }
}
