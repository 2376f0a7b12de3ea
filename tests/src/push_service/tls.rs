//! The mock push service's TLS: a CA made once per process (its certificate written to a
//! PEM file that gateways are given as `PUSH_EXTRA_ROOTS_PEM`), a server certificate for
//! 127.0.0.1 and localhost signed by it, and the accept loop that serves HTTP/2 when ALPN
//! chose h2 and HTTP/1.1 otherwise.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

use super::{Connection, Shared};

/// The CA and the server certificate every mock of this process serves.
struct TestCa {
    pem_path: PathBuf,
    server: Arc<rustls::ServerConfig>,
}

/// Made on first use; a mutex, not a race of two makers, so that the file on disk is the
/// CA that signed the certificate served.
static CA: Mutex<Option<&'static TestCa>> = Mutex::new(None);

fn test_ca() -> anyhow::Result<&'static TestCa> {
    let mut ca = CA.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(made) = *ca {
        return Ok(made);
    }
    // Leaked once per process: mocks and gateways use it until the process ends.
    let made: &'static TestCa = Box::leak(Box::new(make_ca()?));
    *ca = Some(made);
    Ok(made)
}

fn make_ca() -> anyhow::Result<TestCa> {
    let ca_key = KeyPair::generate().context("the test CA's key")?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(
        DnType::CommonName,
        "race-day gateway tests: push service CA",
    );
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .context("self-signing the test CA")?;
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().context("the push service's key")?;
    // "127.0.0.1" becomes an IP address name, as the gateway checks for an IP host.
    let mut server_params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    server_params
        .distinguished_name
        .push(DnType::CommonName, "mock push service");
    server_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server_params
        .signed_by(&server_key, &issuer)
        .context("signing the push service's certificate")?;

    let pem_path =
        std::env::temp_dir().join(format!("gateway-tests-push-ca-{}.pem", std::process::id()));
    std::fs::write(&pem_path, ca_cert.pem())
        .with_context(|| format!("writing the test CA to {}", pem_path.display()))?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("rustls protocol versions")?
        .with_no_client_auth()
        .with_single_cert(
            vec![
                CertificateDer::from(server_cert.der().to_vec()),
                CertificateDer::from(ca_cert.der().to_vec()),
            ],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        )
        .context("the push service's TLS configuration")?;
    // h2 first, as real push services prefer; http/1.1 for a client without h2.
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TestCa {
        pem_path,
        server: Arc::new(server),
    })
}

/// The PEM file of this process's test CA: a gateway given it as `PUSH_EXTRA_ROOTS_PEM`
/// trusts every mock push service this process starts.
pub fn ca_pem_path() -> anyhow::Result<&'static Path> {
    Ok(&test_ca()?.pem_path)
}

pub(super) fn acceptor() -> anyhow::Result<TlsAcceptor> {
    Ok(TlsAcceptor::from(test_ca()?.server.clone()))
}

/// Accepts connections until the task is dropped: TLS, then HTTP/2 or HTTP/1.1 as the
/// client speaks (hyper-util's auto builder reads the h2 preface).
pub(super) async fn serve(
    listener: tokio::net::TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    shared: Arc<Shared>,
) {
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            // Out of descriptors, say: wait rather than spin.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let (acceptor, app, shared) = (acceptor.clone(), app.clone(), shared.clone());
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else {
                shared.handshake_failures.fetch_add(1, Ordering::Relaxed);
                return;
            };
            let number = shared.connections.fetch_add(1, Ordering::Relaxed) + 1;
            let app = app.layer(axum::Extension(Connection(number)));
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
                .await;
        });
    }
}
