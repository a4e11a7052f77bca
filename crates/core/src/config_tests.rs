//! The settings' loading (defaults, file, environment), checks and printing.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn defaults_need_no_file_and_no_services() {
    let s = Settings::load_from(None, env(&[])).unwrap();
    assert_eq!(s, Settings::default());
    assert_eq!(s.store.kind, StoreKind::Embedded);
    assert!(s.cache.redis_url.is_none());
    assert!(s.crawler.respect_robots_txt);
}

#[test]
fn file_then_env_override_in_that_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("Leptos.toml");
    std::fs::write(&file, "data_dir = \"/tmp/x\"\n[crawler]\nmax_pages = 50\nmax_depth = 2\n").unwrap();
    let s = Settings::load_from(
        Some(&file),
        env(&[
            ("IMAGE_CHAT__CRAWLER__MAX_PAGES", "75"),
            ("UNRELATED", "1"),
            ("IMAGE_CHAT__SERVER__ADDR", "127.0.0.1:4000"),
        ]),
    )
    .unwrap();
    assert_eq!(s.data_dir, PathBuf::from("/tmp/x"));
    assert_eq!(s.crawler.max_pages, 75);
    assert_eq!(s.crawler.max_depth, 2);
    assert_eq!(s.server.addr, Some("127.0.0.1:4000".parse().unwrap()));
}

#[test]
fn env_values_parse_as_lists_and_booleans() {
    let s = Settings::load_from(
        None,
        env(&[
            ("IMAGE_CHAT__CRAWLER__ALLOW_HOSTS", "[\"127.0.0.1\", \"localhost\"]"),
            ("IMAGE_CHAT__CRAWLER__RESPECT_ROBOTS_TXT", "false"),
            ("IMAGE_CHAT__SESSIONS__DOMAIN_POLICY", "parallel"),
        ]),
    )
    .unwrap();
    assert_eq!(s.crawler.allow_hosts, vec!["127.0.0.1", "localhost"]);
    assert!(!s.crawler.respect_robots_txt);
    assert_eq!(s.sessions.domain_policy, DomainPolicy::Parallel);
}

#[test]
fn a_list_setting_also_reads_as_comma_separated_words() {
    let s = Settings::load_from(
        None,
        env(&[
            ("IMAGE_CHAT__CRAWLER__ALLOW_HOSTS", "127.0.0.1, localhost"),
            ("IMAGE_CHAT__SEARCH__FORMAT_PREFERENCE", "png,jpeg"),
        ]),
    )
    .unwrap();
    assert_eq!(s.crawler.allow_hosts, vec!["127.0.0.1", "localhost"]);
    assert_eq!(s.search.format_preference, vec![crate::model::ImageFormat::Png, crate::model::ImageFormat::Jpeg]);
    let s = Settings::load_from(None, env(&[("IMAGE_CHAT__CRAWLER__ALLOW_HOSTS", "127.0.0.1")])).unwrap();
    assert_eq!(s.crawler.allow_hosts, vec!["127.0.0.1"]);
    let err = Settings::load_from(None, env(&[("IMAGE_CHAT__CRAWLER__ALLOW_HOSTS", "[1, 2]")])).unwrap_err();
    assert!(err.to_string().contains("comma-separated"), "{err}");
}

#[test]
fn a_misspelled_variable_is_an_error_naming_it() {
    let err = Settings::load_from(None, env(&[("IMAGE_CHAT__CRAWLER__MAX_PAGE", "5")])).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("IMAGE_CHAT__CRAWLER__MAX_PAGE"), "{msg}");
    assert!(msg.contains("max_page"), "{msg}");
}

#[test]
fn redis_url_is_read_below_the_explicit_setting() {
    let s = Settings::load_from(None, env(&[("REDIS_URL", "redis://127.0.0.1:6380/0")])).unwrap();
    assert_eq!(s.cache.redis_url.unwrap().expose(), "redis://127.0.0.1:6380/0");
    let s = Settings::load_from(
        None,
        env(&[("REDIS_URL", "redis://a:1/0"), ("IMAGE_CHAT__CACHE__REDIS_URL", "redis://b:2/0")]),
    )
    .unwrap();
    assert_eq!(s.cache.redis_url.unwrap().expose(), "redis://b:2/0");
}

#[test]
fn a_wrongly_typed_value_is_an_error() {
    let err = Settings::load_from(None, env(&[("IMAGE_CHAT__CRAWLER__MAX_PAGES", "many")])).unwrap_err();
    assert!(err.to_string().contains("invalid settings"), "{err}");
}

#[test]
fn invalid_combinations_are_rejected_with_the_rule() {
    let err = Settings::load_from(None, env(&[("IMAGE_CHAT__CRAWLER__MAX_PAGES", "0")])).unwrap_err();
    assert!(err.to_string().contains("crawler.max_pages must be at least 1"), "{err}");
    // PostgreSQL needs its URL; a URL the embedded store would not read is refused, not ignored.
    let err = Settings::load_from(None, env(&[("IMAGE_CHAT__STORE__KIND", "postgres")])).unwrap_err();
    assert!(err.to_string().contains("store.kind = \"postgres\" needs store.database_url"), "{err}");
    let settings = Settings::load_from(
        None,
        env(&[("IMAGE_CHAT__STORE__KIND", "postgres"), ("IMAGE_CHAT__STORE__DATABASE_URL", "postgres://db/x")]),
    )
    .unwrap();
    assert_eq!(settings.store.kind, crate::config::StoreKind::Postgres);
    let err = Settings::load_from(None, env(&[("IMAGE_CHAT__STORE__POOL_SIZE", "0")])).unwrap_err();
    assert!(err.to_string().contains("store.pool_size must be 1-256"), "{err}");
    let err = Settings::load_from(None, env(&[("IMAGE_CHAT__STORE__OUTAGE_RETRY_MS", "3600001")])).unwrap_err();
    assert!(err.to_string().contains("store.outage_retry_ms must be at most 3600000"), "{err}");
    for lease in ["999", "600001"] {
        let err = Settings::load_from(None, env(&[("IMAGE_CHAT__CRAWLER__LEASE_MS", lease)])).unwrap_err();
        assert!(err.to_string().contains("crawler.lease_ms must be 1000-600000"), "{lease}: {err}");
    }
    let err = Settings::load_from(None, env(&[("IMAGE_CHAT__CRAWLER__DISTRIBUTED", "true")])).unwrap_err();
    assert!(err.to_string().contains("needs cache.redis_url"), "{err}");
    let shared =
        env(&[("IMAGE_CHAT__CRAWLER__DISTRIBUTED", "true"), ("IMAGE_CHAT__CACHE__REDIS_URL", "redis://r:6379/0")]);
    assert!(Settings::load_from(None, shared).unwrap().crawler.distributed);
    let err =
        Settings::load_from(None, env(&[("IMAGE_CHAT__STORE__DATABASE_URL", "postgres://u:pw@db/x")])).unwrap_err();
    assert!(err.to_string().contains("nothing would use that database"), "{err}");
    assert!(!err.to_string().contains("pw@"), "{err}");
    let endpoint_int8 = env(&[
        ("IMAGE_CHAT__MODEL__BACKEND", "open_ai"),
        ("IMAGE_CHAT__MODEL__OPENAI__BASE_URL", "http://127.0.0.1:9/v1"),
        ("IMAGE_CHAT__MODEL__INT8_ACTIVATIONS", "true"),
    ]);
    let err = Settings::load_from(None, endpoint_int8).unwrap_err();
    assert!(err.to_string().contains("model.int8_activations applies to the local model"), "{err}");
    assert!(
        Settings::load_from(None, env(&[("IMAGE_CHAT__MODEL__INT8_ACTIVATIONS", "true")]))
            .unwrap()
            .model
            .int8_activations
    );
    let err = Settings::load_from(None, env(&[("IMAGE_CHAT__SEARCH__PARSER", "chat")])).unwrap_err();
    assert!(err.to_string().contains("search.chat.base_url is required"), "{err}");
    let err = Settings::load_from(None, env(&[("IMAGE_CHAT__SEARCH__FORMAT_PREFERENCE", "[\"bmp\"]")])).unwrap_err();
    assert!(err.to_string().contains("unknown format"), "{err}");
    for (key, value) in [("IMAGE_CHAT__STORE__ANN_EXPANSION", "0"), ("IMAGE_CHAT__STORE__ANN_MIN_VECTORS", "0")] {
        let err = Settings::load_from(None, env(&[(key, value)])).unwrap_err();
        assert!(err.to_string().contains("store.ann_expansion 1-4096"), "{key}: {err}");
    }
    let err = Settings::load_from(None, env(&[("IMAGE_CHAT__CRAWLER__ANALYZE_IMAGES", "maybe")])).unwrap_err();
    assert!(err.to_string().contains("ANALYZE_IMAGES"), "{err}");
}

#[test]
fn a_missing_file_is_reported_with_its_path() {
    let err = Settings::load_from(Some(Path::new("/nonexistent/Leptos.toml")), env(&[])).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/Leptos.toml"), "{err}");
}

#[test]
fn printed_settings_never_show_secrets() {
    let s = Settings::load_from(
        None,
        env(&[
            ("IMAGE_CHAT__CACHE__REDIS_URL", "redis://:hunter2@127.0.0.1:6379/0"),
            ("IMAGE_CHAT__MODEL__OPENAI__API_KEY", "sk-topsecret"),
        ]),
    )
    .unwrap();
    let printed = s.to_redacted_toml();
    assert!(!printed.contains("hunter2") && !printed.contains("topsecret"), "{printed}");
    assert!(printed.contains("127.0.0.1:6379"), "{printed}");
    assert!(!format!("{s:?}").contains("hunter2"));
    assert_eq!(s.cache.redis_url.unwrap().expose(), "redis://:hunter2@127.0.0.1:6379/0");
}

#[test]
fn the_shipped_settings_file_is_valid() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Leptos.toml");
    let s = Settings::load_from(Some(&file), env(&[])).unwrap();
    assert_eq!(s.crawler.max_pages, Settings::default().crawler.max_pages);
}
