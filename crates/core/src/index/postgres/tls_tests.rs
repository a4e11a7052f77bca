use std::str::FromStr;

use super::*;

fn split_ok(url: &str) -> TlsUrl {
    split(url).unwrap_or_else(|e| panic!("{url}: {e}"))
}

#[test]
fn a_url_without_tls_options_is_kept_and_prefers_tls_without_checking() {
    let t = split_ok("postgres://u:p@db:5432/images?connect_timeout=3");
    assert_eq!(t.url, "postgres://u:p@db:5432/images?connect_timeout=3");
    assert!(matches!(t.mode, SslMode::Prefer));
    assert_eq!(t.verify, Verify::Nothing);
    assert_eq!(t.root_cert, None);
}

#[test]
fn each_sslmode_maps_to_what_libpq_means() {
    let cases = [
        ("disable", "Disable", Verify::Nothing),
        ("prefer", "Prefer", Verify::Nothing),
        ("require", "Require", Verify::Nothing),
        ("verify-ca", "Require", Verify::Chain),
        ("verify-full", "Require", Verify::Full),
    ];
    for (mode, expected, verify) in cases {
        let t = split_ok(&format!("postgresql://db/x?sslmode={mode}"));
        assert_eq!(format!("{:?}", t.mode), expected, "{mode}");
        assert_eq!(t.verify, verify, "{mode}");
        assert_eq!(t.url, "postgresql://db/x", "{mode}: the option is taken out of what tokio-postgres reads");
    }
}

#[test]
fn a_root_certificate_makes_require_check_the_chain_and_system_means_the_built_in_roots() {
    let t = split_ok("postgres://db/x?sslmode=require&sslrootcert=%2Fetc%2Fca%20dir%2Froot.pem&application_name=a");
    assert_eq!(t.verify, Verify::Chain);
    assert_eq!(t.root_cert.as_deref(), Some("/etc/ca dir/root.pem"));
    assert_eq!(t.url, "postgres://db/x?application_name=a");
    let t = split_ok("postgres://db/x?sslmode=verify-full&sslrootcert=system");
    assert_eq!(t.verify, Verify::Full);
    assert_eq!(t.root_cert, None);
}

#[test]
fn the_key_value_form_is_read_too_quotes_and_escapes_included() {
    let t = split_ok(r"host=db  sslmode = verify-ca sslrootcert='/a b/it\'s.pem' dbname=images");
    assert_eq!(t.url, "host=db dbname=images");
    assert_eq!(t.verify, Verify::Chain);
    assert_eq!(t.root_cert.as_deref(), Some("/a b/it's.pem"));
    assert!(tokio_postgres::Config::from_str(&t.url).is_ok());
}

#[test]
fn unsupported_or_broken_options_are_refused_by_name() {
    for (url, needle) in [
        ("postgres://db/x?sslmode=allow", "allow"),
        ("postgres://db/x?sslmode=verify_full", "verify_full"),
        ("postgres://db/x?sslcert=/c.pem", "sslcert"),
        ("host=db sslkey=/k.pem", "sslkey"),
        ("host=db sslrootcert='/never closed", "closing quote"),
        ("host=db sslmode", "no value"),
    ] {
        let e = split(url).expect_err(url);
        assert!(e.contains(needle), "{url}: {e}");
    }
}

#[test]
fn a_root_file_that_is_missing_or_holds_no_certificate_fails_at_start_up() {
    let e = MakeRustls::new(Verify::Chain, Some("/nonexistent/root.pem")).err().expect("a missing file");
    assert!(e.contains("/nonexistent/root.pem"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let e = MakeRustls::new(Verify::Full, Some(empty.to_str().unwrap())).err().expect("no certificate");
    assert!(e.contains("no certificate"), "{e}");
    assert!(MakeRustls::new(Verify::Full, None).is_ok(), "the built-in roots");
    assert!(MakeRustls::new(Verify::Nothing, Some("/nonexistent/root.pem")).is_ok(), "no check reads no file");
}
