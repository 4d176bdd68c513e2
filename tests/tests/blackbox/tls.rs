//! TLS for gRPC and the public pages (rustls with ring), with certificates made here by
//! rcgen: a client that trusts the CA appends and reads; one without the CA, or talking
//! plain HTTP/2 to the TLS port, gets nothing; with client-certificate verification on, only a
//! client with a certificate from the client CA is served.

use klero_client::{ClientTls, KleroClient};
use klero_tests::*;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};

pub(crate) struct Pki {
    pub(crate) ca_pem: String,
    issuer: CertifiedIssuer<'static, KeyPair>,
}

pub(crate) fn pki(name: &str) -> Pki {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA");
    Pki { ca_pem: issuer.as_ref().pem(), issuer }
}

/// A certificate for 127.0.0.1 and localhost (or a client), signed by `pki`: (cert, key) PEM.
pub(crate) fn leaf(pki: &Pki) -> (String, String) {
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params.subject_alt_names.push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
    let key = KeyPair::generate().expect("key");
    let certificate = params.signed_by(&key, &pki.issuer).expect("signed");
    (certificate.pem(), key.serialize_pem())
}

fn server_tls(server_pki: &Pki, client_ca: Option<&Pki>) -> klero_application::ServerTls {
    let (cert, key) = leaf(server_pki);
    klero_application::ServerTls {
        cert_pem: cert.into_bytes(),
        key_pem: key.into_bytes(),
        client_ca_pem: client_ca.map(|ca| ca.ca_pem.clone().into_bytes()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_and_pages_serve_tls_to_clients_that_trust_the_ca() {
    let server_pki = pki("klero test CA");
    let directory = tempfile::tempdir().expect("temp dir");
    let trust_root = key("trust root").verifying_key().to_bytes();
    let server = start_server_with_tls(directory.path(), trust_root, server_tls(&server_pki, None)).await;
    assert!(server.url.starts_with("https://"));
    let trusted = ClientTls { ca_pem: server_pki.ca_pem.clone().into_bytes(), identity: None };
    let mut client = KleroClient::connect_with_tls(&server.url, Some(&trusted)).await.expect("connects over TLS");
    let cast = Cast::new("tls");
    assembly_with_panel(&mut client, &cast, "tls").await;
    assert!(client.checkpoint().await.expect("checkpoint").tree_size > 0);

    // Without the CA, or with another CA, no connection; plain HTTP/2 to the TLS port fails.
    let stranger = ClientTls { ca_pem: pki("another CA").ca_pem.into_bytes(), identity: None };
    let refused = match KleroClient::connect_with_tls(&server.url, Some(&stranger)).await {
        Ok(mut client) => client.checkpoint().await.err().map(|e| e.to_string()),
        Err(error) => Some(error.to_string()),
    };
    assert!(refused.is_some(), "a client that does not trust the CA is not served");
    assert!(KleroClient::connect_with_tls(&server.url, None).await.is_err(), "https needs a CA");
    let plain = server.url.replacen("https://", "http://", 1);
    let plain_answer = match KleroClient::connect(&plain).await {
        Ok(mut client) => client.checkpoint().await.is_ok(),
        Err(_) => false,
    };
    assert!(!plain_answer, "plain HTTP/2 to the TLS port gets no answer");

    // The pages over HTTPS, read with a rustls client that trusts the CA.
    let pages = server.pages_url.clone().expect("pages");
    assert!(pages.starts_with("https://"));
    let body = https_get(&pages, "/checkpoint", &server_pki.ca_pem).await;
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("klero.test/blackbox"), "{body}");

    // `klero monitor` reads the tiles over HTTPS once `--ca` names the CA, and not before.
    let state = tempfile::tempdir().expect("temp dir");
    let monitor_config = || klero_transparency::MonitorConfig {
        log_url: pages.clone(),
        log_key: klero_ledger::checkpoint::LogSigningKey::new("klero.test/blackbox", key("log key"))
            .expect("log key")
            .verifier(),
        trust_root,
        witness_policy: None,
        witness_urls: Vec::new(),
        state_dir: state.path().to_path_buf(),
        timeout: std::time::Duration::from_secs(10),
    };
    let untrusted = klero_transparency::Monitor::open(monitor_config()).expect("monitor").round().await;
    let untrusted = untrusted.map(|outcome| format!("{outcome:?}")).unwrap_or_else(|error| error.to_string());
    assert!(untrusted.contains("--ca"), "https without a CA is refused, naming --ca: {untrusted}");
    klero_transparency::http_client::trust_ca_for_https(server_pki.ca_pem.as_bytes()).expect("the CA");
    let outcome = klero_transparency::Monitor::open(monitor_config()).expect("monitor").round().await;
    match outcome {
        Ok(klero_transparency::RoundOutcome::Verified { tree_size, .. }) => assert!(tree_size > 0),
        other => panic!("the monitor did not verify the log over HTTPS: {other:?}"),
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_client_verification_only_certified_clients_are_served() {
    let (server_pki, client_pki) = (pki("server CA"), pki("client CA"));
    let directory = tempfile::tempdir().expect("temp dir");
    let trust_root = key("trust root").verifying_key().to_bytes();
    let server = start_server_with_tls(directory.path(), trust_root, server_tls(&server_pki, Some(&client_pki))).await;
    let anonymous = ClientTls { ca_pem: server_pki.ca_pem.clone().into_bytes(), identity: None };
    let served = match KleroClient::connect_with_tls(&server.url, Some(&anonymous)).await {
        Ok(mut client) => client.checkpoint().await.is_ok(),
        Err(_) => false,
    };
    assert!(!served, "a client without a certificate is refused");
    let (cert, key) = leaf(&client_pki);
    let certified = ClientTls {
        ca_pem: server_pki.ca_pem.clone().into_bytes(),
        identity: Some((cert.into_bytes(), key.into_bytes())),
    };
    let mut client = KleroClient::connect_with_tls(&server.url, Some(&certified)).await.expect("connects");
    client.checkpoint().await.expect("a certified client is served");
    server.stop().await;
}

/// One HTTPS GET with rustls (ring), trusting `ca_pem`; the raw answer as text.
async fn https_get(base: &str, path: &str, ca_pem: &str) -> String {
    use rustls_pki_types::pem::PemObject;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;
    let address = base.strip_prefix("https://").expect("https URL");
    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(certificate.expect("PEM")).expect("a CA");
    }
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(address).await.expect("connect");
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").expect("name").to_owned();
    let mut stream = connector.connect(name, tcp).await.expect("TLS handshake");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}
