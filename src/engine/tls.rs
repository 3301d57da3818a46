//! TLS for a run: one CA and one server certificate, made per run, written as PEM files,
//! and the rustls configurations that trust them or serve them.
//!
//! Made in process with rcgen (ECDSA P-256 keys, which every broker image's OpenSSL and every
//! client library here accepts); the broker gets the PEM files copied into its container,
//! command clients get the CA file's path (`MATRIX_CA_FILE`), the built-ins and the recording
//! proxy get [`RunTls::client_config`] and [`RunTls::server_config`]. rustls runs on the
//! `ring` provider, named explicitly: other crates of the build enable aws-lc as well, and a
//! process-wide default would then be ambiguous.
//!
//! The server certificate names `localhost`, `127.0.0.1`, `::1` and [`SERVER_NAMES`] (the
//! broker's alias on a per-run network), so one certificate serves the broker, a proxy in
//! front of it and the harness's recording proxy alike. The client configuration trusts the
//! run's CA and nothing else: a certificate from anywhere else is refused.
//!
//! Writes files (into the directory it is given) and reads the system clock (the validity
//! window); nothing else.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// The host names the server certificate names besides `localhost` and the loopback
/// addresses: the broker's alias on a per-run network, and a proxy's.
pub const SERVER_NAMES: &[&str] = &["broker", "proxy"];
/// The CA's file name inside a run's TLS directory.
pub const CA_FILE: &str = "ca.pem";
/// The server certificate's file name (the certificate, then the CA: a full chain).
pub const CERT_FILE: &str = "server.pem";
/// The server key's file name (PKCS#8).
pub const KEY_FILE: &str = "server-key.pem";
/// How long before "now" the certificates are valid: clocks of containers and accelerated
/// clients may differ a little from ours.
const VALID_BEFORE: time::Duration = time::Duration::days(1);
/// How long after "now" they stay valid: an accelerated run at ×10 for an hour is 10 hours.
const VALID_AFTER: time::Duration = time::Duration::days(30);

/// A run's TLS material could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// rcgen could not make a key or a certificate.
    #[error("cannot make the run's {what}: {why}")]
    Generate {
        /// "CA", "server certificate".
        what: &'static str,
        /// rcgen's words.
        why: String,
    },
    /// A file or the directory could not be written.
    #[error("cannot write {path}: {why}")]
    Write {
        /// The path.
        path: PathBuf,
        /// The operating system's words.
        why: String,
    },
    /// A CA file could not be read or holds no certificate.
    #[error("cannot use {path} as the CA to trust: {why}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A server configuration was asked of a client's side only.
    #[error("no server certificate: this TLS side only trusts {ca_file}")]
    NoServer {
        /// The CA it trusts.
        ca_file: PathBuf,
    },
    /// rustls refused the material (it should not: we made it).
    #[error("rustls refused the run's {what}: {why}")]
    Config {
        /// What it refused.
        what: &'static str,
        /// rustls' words.
        why: String,
    },
}

/// One run's CA and server certificate, as PEM files and as rustls configurations.
pub struct RunTls {
    /// The directory that holds the files.
    pub dir: PathBuf,
    /// The CA certificate (PEM): what clients trust.
    pub ca_file: PathBuf,
    /// The server certificate followed by the CA (PEM); empty for [`RunTls::trusting`].
    pub cert_file: PathBuf,
    /// The server's private key (PEM, PKCS#8); empty for [`RunTls::trusting`].
    pub key_file: PathBuf,
    client: Arc<ClientConfig>,
    /// `None` for [`RunTls::trusting`]: a client's side only.
    server: Option<Arc<ServerConfig>>,
    /// Removes `dir` when the last clone is dropped (made by [`RunTls::temporary`]).
    owned: Option<Arc<OwnedDir>>,
}

/// The start of the name of every temporary folder of `run_id`'s files (`mm-tls-<run id>-`).
fn temporary_prefix(run_id: &str) -> String {
    let safe: String = run_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    format!("mm-tls-{safe}-")
}

/// Removes the temporary folders of a run whose harness could not (it was killed); for the
/// run's reaper. Returns how many it removed.
pub fn remove_run_files(run_id: &str) -> usize {
    let prefix = temporary_prefix(run_id);
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return 0 };
    entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with(&prefix)))
        .filter(|e| std::fs::remove_dir_all(e.path()).is_ok())
        .count()
}

/// A directory removed when dropped.
#[derive(Debug)]
struct OwnedDir(PathBuf);

impl Drop for OwnedDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Clones share the files (and, for a temporary run, the directory's removal with the last).
impl Clone for RunTls {
    fn clone(&self) -> Self {
        RunTls {
            dir: self.dir.clone(),
            ca_file: self.ca_file.clone(),
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
            client: Arc::clone(&self.client),
            server: self.server.clone(),
            owned: self.owned.clone(),
        }
    }
}

impl std::fmt::Debug for RunTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunTls").field("dir", &self.dir).finish_non_exhaustive()
    }
}

/// Two runs' TLS are the same when they are the same files.
impl PartialEq for RunTls {
    fn eq(&self, other: &Self) -> bool {
        self.dir == other.dir
    }
}

impl Eq for RunTls {}

/// The rustls provider every configuration here uses.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl RunTls {
    /// Makes a fresh CA and server certificate and writes them into `dir` (created when
    /// missing; the files are replaced). The directory is left in place.
    pub fn generate(dir: &Path) -> Result<RunTls, TlsError> {
        let gen = |what: &'static str| move |e: rcgen::Error| TlsError::Generate { what, why: e.to_string() };
        let now = time::OffsetDateTime::now_utc();

        let ca_key = KeyPair::generate().map_err(gen("CA key"))?;
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(gen("CA"))?;
        ca.distinguished_name = DistinguishedName::new();
        ca.distinguished_name.push(DnType::OrganizationName, "mosquitto-matrix");
        // A name of its own per run: a client that trusts another run's CA must find no issuer
        // of that name, rather than one whose signature does not match.
        ca.distinguished_name.push(DnType::CommonName, format!("mosquitto-matrix run CA {:016x}", rand::random::<u64>()));
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        ca.not_before = now - VALID_BEFORE;
        ca.not_after = now + VALID_AFTER;
        let ca_cert = ca.self_signed(&ca_key).map_err(gen("CA"))?;
        let issuer = Issuer::new(ca, ca_key);

        let key = KeyPair::generate().map_err(gen("server key"))?;
        let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
        names.extend(SERVER_NAMES.iter().map(|n| n.to_string()));
        let mut server = CertificateParams::new(names).map_err(gen("server certificate"))?;
        server.distinguished_name = DistinguishedName::new();
        server.distinguished_name.push(DnType::OrganizationName, "mosquitto-matrix");
        server.distinguished_name.push(DnType::CommonName, "localhost");
        server.is_ca = IsCa::ExplicitNoCa;
        server.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        server.use_authority_key_identifier_extension = true;
        server.not_before = now - VALID_BEFORE;
        server.not_after = now + VALID_AFTER;
        let cert = server.signed_by(&key, &issuer).map_err(gen("server certificate"))?;

        let write = |path: &Path, text: &str| std::fs::write(path, text).map_err(|e| TlsError::Write { path: path.to_path_buf(), why: e.to_string() });
        std::fs::create_dir_all(dir).map_err(|e| TlsError::Write { path: dir.to_path_buf(), why: e.to_string() })?;
        let (ca_file, cert_file, key_file) = (dir.join(CA_FILE), dir.join(CERT_FILE), dir.join(KEY_FILE));
        write(&ca_file, &ca_cert.pem())?;
        write(&cert_file, &format!("{}{}", cert.pem(), ca_cert.pem()))?;
        // The key readable by us only on the host (the container gets its own copy).
        {
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            let opened = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&key_file);
            opened
                .and_then(|mut f| f.write_all(key.serialize_pem().as_bytes()))
                .map_err(|e| TlsError::Write { path: key_file.clone(), why: e.to_string() })?;
        }

        let ca_der: CertificateDer<'static> = ca_cert.der().clone();
        let chain = vec![cert.der().clone(), ca_der.clone()];
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let client = client_config_trusting(&[ca_der])?;
        let server = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config { what: "protocol versions", why: e.to_string() })?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)
            .map_err(|e| TlsError::Config { what: "server certificate", why: e.to_string() })?;
        Ok(RunTls {
            dir: dir.to_path_buf(),
            ca_file,
            cert_file,
            key_file,
            client,
            server: Some(Arc::new(server)),
            owned: None,
        })
    }

    /// [`RunTls::generate`] into a fresh directory under the system's temporary folder
    /// (`mm-tls-<run id>-<random>`), removed when the last clone is dropped.
    pub fn temporary(run_id: &str) -> Result<RunTls, TlsError> {
        let dir = std::env::temp_dir().join(format!("{}{:08x}", temporary_prefix(run_id), rand::random::<u32>()));
        let mut tls = RunTls::generate(&dir)?;
        tls.owned = Some(Arc::new(OwnedDir(dir)));
        Ok(tls)
    }

    /// A client configuration that trusts the run's CA and nothing else.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        Arc::clone(&self.client)
    }

    /// A server configuration that presents the run's server certificate (and the CA); an
    /// error for a client's side only ([`RunTls::trusting`]).
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        self.server.clone().ok_or_else(|| TlsError::NoServer { ca_file: self.ca_file.clone() })
    }

    /// A client's side only: trusts the CA in `ca_file` (PEM, the contract's
    /// `MATRIX_CA_FILE`) and nothing else; it has no server certificate.
    pub fn trusting(ca_file: &Path) -> Result<RunTls, TlsError> {
        let read = |why: String| TlsError::Read { path: ca_file.to_path_buf(), why };
        let pem = std::fs::read(ca_file).map_err(|e| read(e.to_string()))?;
        let roots: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .map_err(|e| read(format!("not PEM certificates: {e}")))?;
        if roots.is_empty() {
            return Err(read("no certificate in it".to_string()));
        }
        Ok(RunTls {
            dir: ca_file.parent().map(Path::to_path_buf).unwrap_or_default(),
            ca_file: ca_file.to_path_buf(),
            cert_file: PathBuf::new(),
            key_file: PathBuf::new(),
            client: client_config_trusting(&roots)?,
            server: None,
            owned: None,
        })
    }
}

impl RunTls {
    /// A client's side only that trusts the Mozilla root programme's CAs (webpki-roots), for
    /// a `wss://` or `mqtts://` endpoint with a public certificate (the probe without `--ca`).
    pub fn public_roots() -> Result<RunTls, TlsError> {
        let mut store = RootCertStore::empty();
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config { what: "protocol versions", why: e.to_string() })?
            .with_root_certificates(store)
            .with_no_client_auth();
        Ok(RunTls {
            dir: PathBuf::new(),
            ca_file: PathBuf::new(),
            cert_file: PathBuf::new(),
            key_file: PathBuf::new(),
            client: Arc::new(config),
            server: None,
            owned: None,
        })
    }

    /// This run's certificate towards a client (its CA file and server side), trusting what
    /// `upstream` trusts on the way out: the recording proxy between a command client and an
    /// endpoint the harness did not start (the probe), whose certificate is not the run's.
    #[must_use]
    pub fn trusting_upstream(mut self, upstream: &RunTls) -> RunTls {
        self.client = Arc::clone(&upstream.client);
        self
    }
}

/// A client configuration (ring provider, no client certificate) that trusts `roots` only.
fn client_config_trusting(roots: &[CertificateDer<'static>]) -> Result<Arc<ClientConfig>, TlsError> {
    let mut store = RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).map_err(|e| TlsError::Config { what: "CA", why: e.to_string() })?;
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config { what: "protocol versions", why: e.to_string() })?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The name a client checks the server's certificate against: the host as an IP address
/// when it is one, else as a DNS name. `None` for a host no certificate can name.
pub fn server_name(host: &str) -> Option<ServerName<'static>> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Some(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(bare.to_string()).ok()
}

/// Whether a failed handshake was TLS itself refusing (a certificate, an alert), rather than
/// the connection ending or resetting under it.
pub fn is_tls_refusal(e: &std::io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>())
}

/// Why a TLS handshake failed, in words a report can carry: rustls' own words for a
/// certificate the client does not trust, the I/O error otherwise.
pub fn handshake_error(e: &std::io::Error) -> String {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(why)) => format!("TLS handshake refused: the server's certificate is not trusted ({why:?})"),
        Some(rustls::Error::AlertReceived(alert)) => format!("TLS handshake refused by the other side (alert {alert:?})"),
        Some(other) => format!("TLS handshake failed: {other}"),
        None => format!("TLS handshake failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio_rustls::{TlsAcceptor, TlsConnector};

    fn scratch(name: &str) -> RunTls {
        RunTls::temporary(name).expect("a run's TLS material is made")
    }

    /// Serves one TLS connection with `server`, echoing what it reads; returns its port and
    /// the acceptor's result.
    async fn echo_server(server: Arc<ServerConfig>) -> (u16, tokio::task::JoinHandle<Result<(), String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("loopback listener");
        let port = listener.local_addr().expect("its address").port();
        let task = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
            let mut tls = TlsAcceptor::from(server).accept(tcp).await.map_err(|e| e.to_string())?;
            let mut buf = [0u8; 5];
            tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
            tls.write_all(&buf).await.map_err(|e| e.to_string())?;
            tls.shutdown().await.map_err(|e| e.to_string())
        });
        (port, task)
    }

    #[tokio::test]
    async fn a_client_trusting_the_runs_ca_completes_a_handshake_with_the_runs_server_and_talks() {
        let tls = scratch("handshake");
        let (port, server) = echo_server(tls.server_config().expect("a server side")).await;
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.expect("connects");
        let name = server_name("127.0.0.1").expect("an IP address is a server name");
        let mut stream = TlsConnector::from(tls.client_config()).connect(name, tcp).await.expect("the handshake succeeds");
        stream.write_all(b"hello").await.expect("writes");
        let mut back = [0u8; 5];
        stream.read_exact(&mut back).await.expect("reads the echo");
        assert_eq!(&back, b"hello");
        server.await.expect("the server task ran").expect("the server side succeeded");
    }

    #[tokio::test]
    async fn the_certificate_also_names_localhost_and_the_brokers_alias() {
        let tls = scratch("names");
        for host in ["localhost", "broker"] {
            let (port, server) = echo_server(tls.server_config().expect("a server side")).await;
            let tcp = TcpStream::connect(("127.0.0.1", port)).await.expect("connects");
            let name = server_name(host).expect("a DNS name");
            let mut stream = TlsConnector::from(tls.client_config()).connect(name, tcp).await.unwrap_or_else(|e| panic!("{host}: {e}"));
            stream.write_all(b"12345").await.expect("writes");
            let mut back = [0u8; 5];
            stream.read_exact(&mut back).await.expect("reads");
            server.await.expect("ran").expect("served");
        }
    }

    #[tokio::test]
    async fn a_client_trusting_another_ca_is_refused_with_a_clear_error() {
        let ours = scratch("ours");
        let theirs = scratch("theirs");
        let (port, server) = echo_server(ours.server_config().expect("a server side")).await;
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.expect("connects");
        let name = server_name("127.0.0.1").expect("a server name");
        let Err(refused) = TlsConnector::from(theirs.client_config()).connect(name, tcp).await else {
            panic!("a client trusting another CA completed the handshake")
        };
        let words = handshake_error(&refused);
        assert!(words.starts_with("TLS handshake refused: the server's certificate is not trusted"), "{words}");
        assert!(words.contains("UnknownIssuer"), "{words}");
        assert!(server.await.expect("ran").is_err(), "the server side sees the refusal too");
    }

    #[test]
    fn the_pem_files_are_written_and_removed_with_a_temporary_run() {
        let tls = scratch("files");
        let dir = tls.dir.clone();
        let ca = std::fs::read_to_string(&tls.ca_file).expect("the CA file");
        let chain = std::fs::read_to_string(&tls.cert_file).expect("the certificate file");
        let key = std::fs::read_to_string(&tls.key_file).expect("the key file");
        assert_eq!(ca.matches("BEGIN CERTIFICATE").count(), 1);
        assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2, "server certificate, then the CA");
        assert!(chain.ends_with(&ca));
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&tls.key_file).expect("the key's metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key is ours only");
        drop(tls);
        assert!(!dir.exists(), "{} is removed with the run", dir.display());
    }

    #[tokio::test]
    async fn a_client_side_read_from_the_ca_file_trusts_the_runs_server_and_has_no_server_side() {
        let tls = scratch("trusting");
        let client = RunTls::trusting(&tls.ca_file).expect("the CA file reads");
        assert!(matches!(client.server_config(), Err(TlsError::NoServer { .. })));
        let (port, server) = echo_server(tls.server_config().expect("a server side")).await;
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.expect("connects");
        let name = server_name("127.0.0.1").expect("a server name");
        let mut stream = TlsConnector::from(client.client_config()).connect(name, tcp).await.expect("trusted");
        stream.write_all(b"abcde").await.expect("writes");
        let mut back = [0u8; 5];
        stream.read_exact(&mut back).await.expect("reads");
        server.await.expect("ran").expect("served");
        let missing = RunTls::trusting(&tls.dir.join("nope.pem")).expect_err("a missing file");
        assert!(missing.to_string().starts_with(&format!("cannot use {}", tls.dir.join("nope.pem").display())), "{missing}");
        let not_pem = tls.dir.join("empty.pem");
        std::fs::write(&not_pem, "hello").expect("written");
        assert!(RunTls::trusting(&not_pem).expect_err("no certificate").to_string().contains("no certificate"));
    }

    #[test]
    fn a_killed_runs_temporary_folder_is_removed_by_its_run_id_and_no_other() {
        let run = format!("reaped-{:08x}", rand::random::<u32>());
        let other = RunTls::temporary(&format!("{run}x")).expect("another run's files");
        let mine = RunTls::temporary(&run).expect("the run's files");
        let dir = mine.dir.clone();
        std::mem::forget(mine); // as a killed harness would: nothing removes it
        assert!(dir.exists());
        assert_eq!(remove_run_files(&run), 1);
        assert!(!dir.exists() && other.dir.exists());
    }

    #[test]
    fn hosts_become_ip_or_dns_server_names() {
        assert!(matches!(server_name("127.0.0.1"), Some(ServerName::IpAddress(_))));
        assert!(matches!(server_name("[::1]"), Some(ServerName::IpAddress(_))));
        assert!(matches!(server_name("broker"), Some(ServerName::DnsName(_))));
        assert!(server_name("not a name").is_none());
    }
}
