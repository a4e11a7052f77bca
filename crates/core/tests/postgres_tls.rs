//! TLS to PostgreSQL (libpq's `sslmode` and `sslrootcert` in `store.database_url`), against a
//! real PostgreSQL of the test's own that takes TCP connections over TLS only, with a password:
//! a connection that succeeds went over TLS. Certificates: `tests/data/pg-tls` (see make.sh).
//!
//! The PostgreSQL is the distribution's (the wheel's has no OpenSSL), which has no pgvector: the
//! store's first use connects, then stops at the migration's `CREATE EXTENSION vector`. Getting
//! that far is the proof of a connection.

use std::path::PathBuf;

use image_chat_core::config::{Secret, StoreKind, StoreSettings};
use image_chat_core::index::{ImageIndex, PostgresIndex};
use image_chat_fixtures::postgres_server::{self, PostgresServer};
use image_chat_fixtures::skip::{Need, skip};

fn certificate(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/pg-tls").join(name)
}

fn tls_only_or_skip(leaf: &str) -> Option<PostgresServer> {
    if !postgres_server::tls_available() {
        skip(
            Need::Service,
            "IMAGE_CHAT_TEST_PG_TLS_BIN unset (scripts/test.sh names the distribution's PostgreSQL, built with OpenSSL)",
        );
        return None;
    }
    let (cert, key) = (certificate(&format!("{leaf}.pem")), certificate(&format!("{leaf}.key")));
    Some(PostgresServer::start_tls_only(&cert, &key).expect("a PostgreSQL of this test's own starts with TLS"))
}

/// What the store says when it first uses the database at `url`: Ok, or the error's text.
async fn reach(url: &str) -> Result<(), String> {
    let settings = StoreSettings {
        kind: StoreKind::Postgres,
        database_url: Some(Secret::new(url.to_owned())),
        ..StoreSettings::default()
    };
    let index = PostgresIndex::connect(&settings).map_err(|e| e.to_string())?;
    match index.stats(None).await {
        Ok(_) => Ok(()),
        Err(e) if e.to_string().contains("extension \"vector\" is not available") => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

fn with(base: &str, options: &str) -> String {
    let ca = certificate("ca.pem").display().to_string();
    let stranger = certificate("stranger-ca.pem").display().to_string();
    format!("{base}?{}", options.replace("{ca}", &ca).replace("{stranger}", &stranger))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sslmode_does_what_libpq_says_against_a_server_that_takes_tls_only() {
    let Some(pg) = tls_only_or_skip("server") else { return };
    let base = pg.url();

    let refused = reach(&with(&base, "sslmode=disable")).await.expect_err("no TLS, and the server wants it");
    assert!(refused.contains("no encryption"), "the server's reason reaches the message: {refused}");

    // Encrypted, the server not authenticated: the default, and require without a root file.
    for options in ["", "sslmode=prefer", "sslmode=require"] {
        reach(&with(&base, options)).await.unwrap_or_else(|e| panic!("{options:?}: {e}"));
    }
    // The chain checked against the CA that signed it; the name (127.0.0.1) checked too.
    for options in [
        "sslmode=require&sslrootcert={ca}",
        "sslmode=verify-ca&sslrootcert={ca}",
        "sslmode=verify-full&sslrootcert={ca}",
    ] {
        reach(&with(&base, options)).await.unwrap_or_else(|e| panic!("{options}: {e}"));
    }
    // A CA that did not sign it, or the built-in public roots: refused, saying why.
    for options in [
        "sslmode=require&sslrootcert={stranger}",
        "sslmode=verify-ca&sslrootcert={stranger}",
        "sslmode=verify-full&sslrootcert={stranger}",
        "sslmode=verify-full",
        "sslmode=verify-full&sslrootcert=system",
    ] {
        let e = reach(&with(&base, options)).await.expect_err(options);
        assert!(e.contains("UnknownIssuer"), "{options}: {e}");
        assert!(!e.contains("s3cret"), "the password stays out of messages: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_checks_the_host_name_and_verify_ca_does_not() {
    let Some(pg) = tls_only_or_skip("other-name") else { return };
    let base = pg.url();
    // Signed by our CA, for db.invalid only, and reached as 127.0.0.1.
    reach(&with(&base, "sslmode=verify-ca&sslrootcert={ca}")).await.expect("verify-ca reads no name");
    reach(&with(&base, "sslmode=require")).await.expect("require checks nothing");
    let e = reach(&with(&base, "sslmode=verify-full&sslrootcert={ca}")).await.expect_err("another name");
    assert!(e.contains("not valid for name"), "{e}");
}
