//! TLS to PostgreSQL over rustls, with libpq's `sslmode` and `sslrootcert` in the URL.
//! tokio-postgres by itself knows `disable`, `prefer` and `require` and verifies nothing, so the
//! two options are taken out of the URL here and enforced by the connector:
//!
//! | `sslmode` | TLS | certificate checked |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (default) | when the server offers it | only with `sslrootcert` (chain, as libpq) |
//! | `require` | always | only with `sslrootcert` (chain, as libpq) |
//! | `verify-ca` | always | chain |
//! | `verify-full` | always | chain and host name |
//!
//! The chain is checked against `sslrootcert` (a PEM file) or, when it is absent or `system`,
//! the Mozilla roots built in (webpki-roots) — where libpq would refuse to start without a file.

use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

use crate::BoxFuture;

/// What the server's certificate must prove.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verify {
    /// Nothing: the connection is encrypted but the server is not authenticated.
    Nothing,
    /// A chain to a trusted root (`verify-ca`).
    Chain,
    /// A chain, and a name that matches the host (`verify-full`).
    Full,
}

/// The URL as tokio-postgres reads it, and the TLS it asked for.
#[derive(Debug)]
pub(super) struct TlsUrl {
    pub url: String,
    pub mode: SslMode,
    pub verify: Verify,
    /// `sslrootcert`, unless absent or `system`.
    pub root_cert: Option<String>,
}

/// Takes `sslmode` and `sslrootcert` out of a PostgreSQL URL (`postgres://…?sslmode=…`) or
/// key-value string (`host=… sslmode=…`). Client certificates are refused by name.
pub(super) fn split(url: &str) -> Result<TlsUrl, String> {
    let (rest, options) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        split_uri(url)
    } else {
        split_key_values(url)?
    };
    let mut mode = None;
    let mut root = None;
    for (key, value) in options {
        match key.as_str() {
            "sslmode" => mode = Some(value),
            "sslrootcert" => root = Some(value),
            _ => {
                return Err(format!(
                    "{key} is not supported: client certificates are not (authenticate with a password in the URL)"
                ));
            }
        }
    }
    let root_cert = root.filter(|r| r != "system");
    let (mode, verify) = match mode.as_deref().unwrap_or("prefer") {
        "disable" => (SslMode::Disable, Verify::Nothing),
        "prefer" => (SslMode::Prefer, if root_cert.is_some() { Verify::Chain } else { Verify::Nothing }),
        "require" => (SslMode::Require, if root_cert.is_some() { Verify::Chain } else { Verify::Nothing }),
        "verify-ca" => (SslMode::Require, Verify::Chain),
        "verify-full" => (SslMode::Require, Verify::Full),
        "allow" => return Err("sslmode=allow (plain first, TLS if refused) is not supported: use prefer".into()),
        other => {
            return Err(format!("sslmode={other} is not one of disable, prefer, require, verify-ca, verify-full"));
        }
    };
    Ok(TlsUrl { url: rest, mode, verify, root_cert })
}

/// The options this module reads (and the client-certificate ones it refuses).
fn ours(key: &str) -> bool {
    matches!(key, "sslmode" | "sslrootcert" | "sslcert" | "sslkey" | "sslpassword")
}

fn split_uri(url: &str) -> (String, Vec<(String, String)>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), Vec::new());
    };
    let mut kept = Vec::new();
    let mut taken = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_encoding::percent_decode_str(key).decode_utf8_lossy().into_owned();
        if ours(&key) {
            taken.push((key, percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned()));
        } else {
            kept.push(pair);
        }
    }
    let url = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    (url, taken)
}

/// libpq's key-value form: `key = value` pairs apart by spaces, a value in single quotes with
/// `\'` and `\\` escapes where it holds spaces.
fn split_key_values(s: &str) -> Result<(String, Vec<(String, String)>), String> {
    let mut kept = String::new();
    let mut taken = Vec::new();
    let mut chars = s.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else { break };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        if chars.next_if(|(_, c)| *c == '=').is_none() {
            return Err(format!("`{key}` in the connection string has no value (key=value expected)"));
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if(|(_, c)| *c == '\'').is_some() {
            loop {
                match chars.next() {
                    Some((_, '\'')) => break,
                    Some((_, '\\')) => value.extend(chars.next().map(|(_, c)| c)),
                    Some((_, c)) => value.push(c),
                    None => return Err(format!("the value of `{key}` in the connection string has no closing quote")),
                }
            }
        } else {
            while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace()) {
                value.push(c);
            }
        }
        let end = chars.peek().map_or(s.len(), |&(i, _)| i);
        if ours(&key) {
            taken.push((key, value));
        } else {
            kept.push_str(&s[start..end]);
            kept.push(' ');
        }
    }
    Ok((kept.trim_end().to_owned(), taken))
}

/// The URL for tokio-postgres, its `sslmode` as tokio-postgres knows it, and the connector that
/// enforces the rest; an error names what cannot work.
pub(super) fn prepare(url: &str) -> Result<(String, SslMode, MakeRustls), String> {
    let tls = split(url)?;
    let connector = MakeRustls::new(tls.verify, tls.root_cert.as_deref())?;
    Ok((tls.url, tls.mode, connector))
}

/// The connector the pool hands tokio-postgres: rustls with the verification `Verify` names.
#[derive(Clone)]
pub(super) struct MakeRustls {
    config: Arc<ClientConfig>,
    verify: Verify,
}

impl MakeRustls {
    /// Reads the roots (when the check needs them); an unreadable file or one without a
    /// certificate is an error here, at start-up, not at the first connection.
    pub fn new(verify: Verify, root_cert: Option<&str>) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let algorithms = provider.signature_verification_algorithms;
        let verifier: Arc<dyn ServerCertVerifier> = match verify {
            Verify::Nothing => Arc::new(Lenient { chain: None, algorithms }),
            Verify::Chain | Verify::Full => {
                let roots = Arc::new(roots(root_cert)?);
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                    .build()
                    .map_err(|e| format!("cannot check PostgreSQL's certificates: {e}"))?;
                if verify == Verify::Full { webpki } else { Arc::new(Lenient { chain: Some(webpki), algorithms }) }
            }
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(Self { config: Arc::new(config), verify })
    }
}

fn roots(root_cert: Option<&str>) -> Result<RootCertStore, String> {
    let Some(path) = root_cert else {
        return Ok(RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() });
    };
    let certs = CertificateDer::pem_file_iter(Path::new(path))
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("sslrootcert {path} cannot be read as PEM certificates: {e}"))?;
    let mut store = RootCertStore::empty();
    let (added, _) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!("sslrootcert {path} holds no certificate this client can use"));
    }
    Ok(store)
}

/// The checks short of `verify-full`: with `chain`, the chain must hold and the name is not
/// looked at (`verify-ca`, libpq's meaning); without, nothing is checked (`require` without a
/// root certificate: encrypted against eavesdropping, the server not authenticated). Either
/// way the handshake's signatures are checked, so the peer holds the certificate's key.
#[derive(Debug)]
struct Lenient {
    chain: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else { return Ok(ServerCertVerified::assertion()) };
        // webpki checks the chain before the name, so a name error means the chain held.
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, host: &str) -> io::Result<RustlsConnect> {
        // tokio-postgres passes "" when the URL names only `hostaddr`; without a name only the
        // checks that do not read it can be made.
        let name = match ServerName::try_from(host.to_owned()) {
            Ok(name) => name,
            Err(_) if self.verify != Verify::Full => {
                ServerName::try_from("postgres.invalid").expect("a valid DNS name")
            }
            Err(e) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("sslmode=verify-full needs a host name to check, and `{host}` is none: {e}"),
                ));
            }
        };
        Ok(RustlsConnect { connector: tokio_rustls::TlsConnector::from(self.config.clone()), name })
    }
}

pub(super) struct RustlsConnect {
    connector: tokio_rustls::TlsConnector,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = BoxFuture<'static, io::Result<RustlsStream<S>>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move { Ok(RustlsStream(self.connector.connect(self.name, stream).await?)) })
    }
}

pub(super) struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    /// SCRAM's channel binding (tls-server-end-point) would need the certificate's signature
    /// algorithm parsed out of its DER; without it the client says it does not bind, which a
    /// server accepts unless the URL sets `channel_binding=require`.
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
