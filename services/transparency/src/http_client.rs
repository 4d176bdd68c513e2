//! A small HTTP/1.1 client over the hyper already in the tree: keep-alive connections, a
//! timeout on every request, and a bound on every answer's body. `https://` URLs are fetched
//! over TLS (rustls with ring, as the servers use), trusting only the CA the command line's
//! `--ca` names ([`trust_ca_for_https`]); the system's roots are not used.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
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
    #[error("{url}: not an http:// or https:// URL")]
    BadUrl { url: String },
    #[error("{url}: an https:// URL needs the CA that signed its certificate (klero … --ca FILE)")]
    NoTrustedCa { url: String },
    #[error("{url}: no answer within {seconds} s")]
    Timeout { url: String, seconds: u64 },
    #[error("{url}: {reason}")]
    Failed { url: String, reason: String },
    #[error("{url}: the answer is longer than {max} bytes")]
    TooLong { url: String, max: usize },
}

static HTTPS_CA: std::sync::OnceLock<tokio_rustls::rustls::RootCertStore> = std::sync::OnceLock::new();

/// Sets, once per process, the CA whose certificates `https://` servers must present to every
/// [`HttpClient`] made after (the command line's `--ca`). Fails if the PEM holds no usable
/// certificate, or if a CA was set already.
pub fn trust_ca_for_https(ca_pem: &[u8]) -> Result<(), String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(ca_pem) {
        let certificate = certificate.map_err(|e| format!("the CA: {e}"))?;
        roots.add(certificate).map_err(|e| format!("the CA: {e}"))?;
    }
    if roots.is_empty() {
        return Err("the CA file holds no certificate".into());
    }
    HTTPS_CA.set(roots).map_err(|_| "a CA for https:// was set already".to_string())
}

#[derive(Clone, Debug)]
pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
    https_trusted: bool,
}

impl HttpClient {
    pub fn new(timeout: Duration) -> HttpClient {
        use tokio_rustls::rustls;
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        connector.set_nodelay(true);
        connector.enforce_http(false);
        let roots = HTTPS_CA.get().cloned();
        let https_trusted = roots.is_some();
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(roots.unwrap_or_else(rustls::RootCertStore::empty))
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        HttpClient { client: Client::builder(TokioExecutor::new()).build(connector), timeout, https_trusted }
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
        if url.starts_with("https://") {
            if !self.https_trusted {
                return Err(HttpError::NoTrustedCa { url: url.into() });
            }
        } else if !url.starts_with("http://") {
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
