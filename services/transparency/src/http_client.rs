//! A small HTTP/1.1 client over the hyper already in the tree: keep-alive connections, a
//! timeout on every request, and a bound on every answer's body.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// An answer: its status, content type and body.
#[derive(Clone, Debug)]
pub struct HttpAnswer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Bytes,
}

/// Why a request got no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HttpError {
    #[error("{url}: not an http:// URL")]
    BadUrl { url: String },
    #[error("{url}: no answer within {seconds} s")]
    Timeout { url: String, seconds: u64 },
    #[error("{url}: {reason}")]
    Failed { url: String, reason: String },
    #[error("{url}: the answer is longer than {max} bytes")]
    TooLong { url: String, max: usize },
}

#[derive(Clone, Debug)]
pub struct HttpClient {
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl HttpClient {
    pub fn new(timeout: Duration) -> HttpClient {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        connector.set_nodelay(true);
        HttpClient { client: Client::builder(TokioExecutor::new()).build(connector), timeout }
    }

    pub async fn get(&self, url: &str, body_bytes_max: usize) -> Result<HttpAnswer, HttpError> {
        self.send(http::Method::GET, url, None, Bytes::new(), body_bytes_max).await
    }

    pub async fn post(
        &self,
        url: &str,
        content_type: &str,
        body: impl Into<Bytes>,
        body_bytes_max: usize,
    ) -> Result<HttpAnswer, HttpError> {
        self.send(http::Method::POST, url, Some(content_type), body.into(), body_bytes_max).await
    }

    async fn send(
        &self,
        method: http::Method,
        url: &str,
        content_type: Option<&str>,
        body: Bytes,
        body_bytes_max: usize,
    ) -> Result<HttpAnswer, HttpError> {
        if !url.starts_with("http://") {
            return Err(HttpError::BadUrl { url: url.into() });
        }
        let failed = |reason: String| HttpError::Failed { url: url.into(), reason };
        let mut request = http::Request::builder().method(method).uri(url);
        if let Some(content_type) = content_type {
            request = request.header(http::header::CONTENT_TYPE, content_type);
        }
        let request = request.body(Full::new(body)).map_err(|e| failed(e.to_string()))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| failed(format!("{e:?}")))?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, body_bytes_max).collect().await.map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    HttpError::TooLong { url: url.into(), max: body_bytes_max }
                } else {
                    failed(e.to_string())
                }
            })?;
            let content_type =
                parts.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
            Ok(HttpAnswer { status: parts.status.as_u16(), content_type, body: body.to_bytes() })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or_else(|_| Err(HttpError::Timeout { url: url.into(), seconds: self.timeout.as_secs() }))
    }
}

/// `base` and `path` joined by exactly one slash.
pub fn join(base: &str, path: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
}
