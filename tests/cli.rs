//! The `image-chat` command line, run as a user runs it.

use std::process::Command;

use image_chat_fixtures::{FixtureConfig, FixtureServer, SiteSpec};

fn image_chat(args: &[&str]) -> std::process::Output {
    image_chat_env(args, &[])
}

/// The binary with the repository's settings and no `RUST_LOG`, then each of `envs` set (`Some`)
/// or removed (`None`).
fn image_chat_env(args: &[&str], envs: &[(&str, Option<&str>)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_image-chat"));
    cmd.args(args)
        .env("IMAGE_CHAT_SETTINGS", concat!(env!("CARGO_MANIFEST_DIR"), "/Leptos.toml"))
        .env_remove("RUST_LOG");
    for (key, value) in envs {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    cmd.output().expect("the binary runs")
}

#[test]
fn crawl_rejects_bad_input_with_a_clear_message() {
    for (args, needle) in [
        (vec!["crawl", "not a url"], "is not a URL"),
        (vec!["crawl", "ftp://example.org/"], "is not an http(s) URL"),
        (vec!["crawl", "http://example.org/", "--max-pages", "0"], "--max-pages must be between 1 and"),
        (vec!["crawl", "http://example.org/", "--max-pages", "999999999"], "--max-pages must be between 1 and"),
        (vec!["crawl", "http://example.org/", "--depth", "1000"], "--depth must be at most"),
    ] {
        let out = image_chat(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn crawl_prints_json_records_and_a_summary() {
    let server =
        FixtureServer::start(FixtureConfig::generated(SiteSpec { pages: 12, seed: 5, traps: false })).await.unwrap();
    let url = server.url("/");
    let out = tokio::task::spawn_blocking(move || {
        image_chat(&["crawl", &url, "--max-pages", "50", "--allow-host", "127.0.0.1", "--json"])
    })
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("pages: ") && err.contains("images: "), "{err}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let records: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(records.len() > 30, "{} records", records.len());
    assert!(records.iter().all(|r| r["url"].as_str().is_some_and(|u| u.starts_with("http://127.0.0.1:"))));
    assert!(records.iter().any(|r| r["context"]["alt"].as_str().is_some_and(|a| !a.is_empty())));
}

#[tokio::test(flavor = "multi_thread")]
async fn crawl_of_a_loopback_site_is_refused_unless_allowed() {
    let server =
        FixtureServer::start(FixtureConfig::generated(SiteSpec { pages: 3, seed: 5, traps: false })).await.unwrap();
    let url = server.url("/");
    let out = tokio::task::spawn_blocking(move || image_chat(&["crawl", &url])).await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not public"), "{err}");
    assert!(server.requests().is_empty());
}

#[test]
fn settings_prints_the_effective_values() {
    let out = image_chat(&["settings"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("[crawler]") && text.contains("max_pages = 200"), "{text}");
}

/// A one-shot crawl switches transparent huge pages off for its process (`huge_pages`) unless
/// `MIMALLOC_ALLOW_THP` says which way; other commands (the server) keep them. The debug log says
/// what was done.
#[cfg(target_os = "linux")]
#[test]
fn a_crawl_turns_transparent_huge_pages_off_unless_the_environment_says_otherwise() {
    const OFF: &str = "transparent huge pages off for this process";
    let log_of = |args: &[&str], allow: Option<&str>| {
        let out = image_chat_env(args, &[("RUST_LOG", Some("debug")), ("MIMALLOC_ALLOW_THP", allow)]);
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // The crawl is refused (no such URL) after the switch: nothing is fetched.
    let crawl = log_of(&["crawl", "not a url"], None);
    assert!(crawl.contains(OFF) && crawl.contains("is not a URL"), "{crawl}");
    let kept = log_of(&["crawl", "not a url"], Some("1"));
    assert!(kept.contains("transparent huge pages: MIMALLOC_ALLOW_THP=1 decides"), "{kept}");
    assert!(!kept.contains(OFF), "{kept}");
    let settings = log_of(&["settings"], None);
    assert!(!settings.contains("transparent huge pages"), "{settings}");
}

fn image_chat_in(data: &std::path::Path, args: &[&str]) -> std::process::Output {
    image_chat_with(data, args, &[])
}

/// The binary on a data dir, with more settings as environment variables.
fn image_chat_with(data: &std::path::Path, args: &[&str], envs: &[(String, String)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_image-chat"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("IMAGE_CHAT_SETTINGS", concat!(env!("CARGO_MANIFEST_DIR"), "/Leptos.toml"))
        .env("IMAGE_CHAT__DATA_DIR", data)
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs")
}

#[test]
fn search_without_an_index_says_how_to_make_one() {
    let data = tempfile::tempdir().unwrap();
    let out = image_chat_in(data.path(), &["search", "kayaks"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("image-chat crawl URL --index"));
}

#[test]
fn a_store_setting_that_cannot_work_is_refused_naming_it() {
    let data = tempfile::tempdir().unwrap();
    for (key, value, says) in [
        ("IMAGE_CHAT__STORE__KIND", "postgres", "store.kind = \"postgres\" needs store.database_url"),
        ("IMAGE_CHAT__STORE__DATABASE_URL", "postgres://127.0.0.1:1/x", "nothing would use that database"),
    ] {
        for args in [&["search", "kayaks"][..], &["crawl", "http://127.0.0.1:1/", "--index"][..]] {
            let out = image_chat_with(data.path(), args, &[(key.to_string(), value.to_string())]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?} {key}: {err}");
            assert!(err.contains(says), "{args:?} {key}: {err}");
        }
    }
    assert!(!data.path().join("index.sqlite").exists(), "nothing was stored anywhere");
}

#[test]
fn tls_options_in_the_database_url_that_cannot_work_are_refused_at_start_up() {
    let data = tempfile::tempdir().unwrap();
    for (url, says) in [
        ("postgres://127.0.0.1:1/x?sslmode=verify_full", "sslmode=verify_full is not one of"),
        ("postgres://127.0.0.1:1/x?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem", "/nonexistent/ca.pem"),
        ("postgres://127.0.0.1:1/x?sslcert=/client.pem", "sslcert is not supported"),
        ("postgres://127.0.0.1:1/x?sslmode=allow", "use prefer"),
    ] {
        let envs = [
            ("IMAGE_CHAT__STORE__KIND".to_string(), "postgres".to_string()),
            ("IMAGE_CHAT__STORE__DATABASE_URL".to_string(), url.to_string()),
        ];
        let out = image_chat_with(data.path(), &["search", "kayaks"], &envs);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{url}: {err}");
        assert!(err.contains(says) && err.contains("store.database_url"), "{url}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn crawl_index_then_search_finds_an_image_by_its_words() {
    crawl_index_then_search(Vec::new()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn crawl_index_then_search_with_the_index_in_postgres() {
    let Some(database_url) = image_chat_fixtures::postgres_db::fresh_database().await else { return };
    crawl_index_then_search(vec![
        ("IMAGE_CHAT__STORE__KIND".into(), "postgres".into()),
        ("IMAGE_CHAT__STORE__DATABASE_URL".into(), database_url),
    ])
    .await;
}

/// `crawl --index` of a fixture site, then `search` for one image's words, with the store the
/// environment variables name.
async fn crawl_index_then_search(envs: Vec<(String, String)>) {
    let server =
        FixtureServer::start(FixtureConfig::generated(SiteSpec { pages: 20, seed: 9, traps: false })).await.unwrap();
    let truth = server.site().unwrap().truth(3).unwrap();
    let wanted = truth
        .images
        .iter()
        .find(|i| i.alt.split_whitespace().count() >= 4 && !i.repeated)
        .expect("a described image")
        .clone();
    let url = server.url("/");
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_path_buf();
    let crawl_envs = envs.clone();
    let out = tokio::task::spawn_blocking(move || {
        image_chat_with(
            &dir,
            &[
                "crawl",
                &url,
                "--max-pages",
                "40",
                "--allow-host",
                "127.0.0.1",
                "--index",
                "--namespace",
                "fixture",
                "--timings",
            ],
            &crawl_envs,
        )
    })
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.contains("indexed"), "{err}");
    // --timings: the stage table, the image analysis and the index writes in it.
    assert!(err.contains("politeness floor") && err.contains("on 127.0.0.1"), "{err}");
    for stage in ["fetch_pages", "extract", "fetch_images", "decode", "embed", "index_write", "images_to_analyse"] {
        assert!(err.lines().any(|l| l.contains(stage)), "no {stage} in {err}");
    }
    let analysed = err.lines().find(|l| l.starts_with("fetch_images")).unwrap();
    let items: u64 = analysed.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(items > 0, "images were fetched for analysis: {analysed}");
    let dir = data.path().to_path_buf();
    let alt = wanted.alt.clone();
    let search_envs = envs.clone();
    let out = tokio::task::spawn_blocking(move || {
        image_chat_with(&dir, &["search", &alt, "--namespace", "fixture", "--json"], &search_envs)
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let response: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "search --json printed no JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let urls: Vec<&str> =
        response["results"].as_array().unwrap().iter().map(|r| r["url"].as_str().unwrap()).take(3).collect();
    assert!(urls.iter().any(|u| u.ends_with(&wanted.url)), "{} not in the top 3: {urls:?}", wanted.url);
    let bad = image_chat_with(data.path(), &["search", ""], &envs);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("empty"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_stats_reads_a_running_servers_metrics() {
    let data = tempfile::tempdir().unwrap();
    let mut settings = image_chat_core::Settings { data_dir: data.path().join("data"), ..Default::default() };
    settings.server.addr = Some("127.0.0.1:0".parse().unwrap());
    let options = leptos::config::LeptosOptions::builder().output_name("image-chat").site_root("target/site").build();
    let app = image_chat::server::startup::Application::build(settings, options).await.unwrap();
    let server = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until_stopped());
    let s = server.clone();
    let out = tokio::task::spawn_blocking(move || image_chat(&["cache", "stats", "--server", &s])).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8(out.stdout).unwrap();
    for layer in ["parser", "query", "embedding", "html"] {
        assert!(table.lines().any(|l| l.starts_with(layer)), "{table}");
    }
    let s = server.clone();
    let out =
        tokio::task::spawn_blocking(move || image_chat(&["cache", "stats", "--json", "--server", &s])).await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["layers"].as_array().unwrap().len(), 4);

    let (_reserved, closed) = image_chat_fixtures::refused_port();
    let out = image_chat(&["cache", "stats", "--server", &format!("http://127.0.0.1:{closed}")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is the server running?"));
}

/// What an index holds, in a form two indexes can be compared by: (url, page, format, size, alt).
fn stored_records(data: &std::path::Path) -> Vec<String> {
    use image_chat_core::index::{Filters, SearchRequest, SqliteIndex};
    let index = SqliteIndex::open(&data.join("index.sqlite")).unwrap();
    let filters = Filters::default();
    let hits = index.list(&SearchRequest { namespaces: &[], filters: &filters, limit: 10_000 }).unwrap();
    let mut out: Vec<String> = hits
        .iter()
        .map(|h| {
            let i = &h.image;
            // The page by its crawl key: which of `/page/11` and `/page/11/` (one page) a crawl
            // meets first depends on when its sitemap arrives beside the links.
            let page = image_chat_core::crawl::normalize::page_key(&i.record.page_url);
            format!(
                "{} {:?} {:?} {:?}x{:?} {:?}",
                i.record.url, page, i.format, i.width, i.height, i.record.context.alt
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_and_the_server_store_the_same_images() {
    let server =
        FixtureServer::start(FixtureConfig::generated(SiteSpec { pages: 15, seed: 4, traps: false })).await.unwrap();
    let url = server.url("/");
    // One page at a time, so both crawls meet each picture first on the same page.
    let one_at_a_time = [("IMAGE_CHAT__CRAWLER__CONCURRENCY", "1"), ("IMAGE_CHAT__CRAWLER__PER_HOST_CONCURRENCY", "1")];

    let cli_data = tempfile::tempdir().unwrap();
    let (dir, start) = (cli_data.path().to_path_buf(), url.clone());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_image-chat"))
            .args(["crawl", &start, "--max-pages", "50", "--allow-host", "127.0.0.1", "--index"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("IMAGE_CHAT_SETTINGS", concat!(env!("CARGO_MANIFEST_DIR"), "/Leptos.toml"))
            .env("IMAGE_CHAT__DATA_DIR", &dir)
            .envs(one_at_a_time)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // The images are fetched for analysis through the allowed host, as the pages were.
    assert!(err.contains("analysed ") && !err.contains("analysed 0 images"), "{err}");

    let server_data = tempfile::tempdir().unwrap();
    let mut settings = image_chat_core::Settings {
        data_dir: server_data.path().to_path_buf(),
        ..image_chat_core::Settings::default()
    };
    settings.server.addr = Some("127.0.0.1:0".parse().unwrap());
    settings.crawler.allow_hosts = vec!["127.0.0.1".into()];
    settings.crawler.concurrency = 1;
    settings.crawler.per_host_concurrency = 1;
    let options = leptos::config::LeptosOptions::builder().output_name("image-chat").site_root("target/site").build();
    let app = image_chat::server::startup::Application::build(settings, options).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let res = client.post(format!("{base}/crawl")).json(&serde_json::json!({"url": url, "max_pages": 50})).send();
    assert_eq!(res.await.unwrap().status(), 202);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let list: serde_json::Value =
            client.get(format!("{base}/sessions")).send().await.unwrap().json().await.unwrap();
        let status = list["sessions"][0]["status"].as_str().unwrap_or("").to_string();
        if status != "running" && status != "queued" {
            assert_eq!(status, "finished", "{list}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the server's crawl did not end: {list}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let (by_cli, by_server) = (stored_records(cli_data.path()), stored_records(server_data.path()));
    assert!(by_cli.len() >= 10, "{by_cli:?}");
    assert_eq!(by_cli, by_server);

    // And the same answers: `image-chat search` against `/chat`, for a few descriptions.
    let alts: Vec<String> = by_cli
        .iter()
        .filter_map(|r| r.rsplit_once(" \"").map(|(_, alt)| alt.trim_end_matches('"').to_string()))
        .filter(|alt| alt.split_whitespace().count() >= 4)
        .take(3)
        .collect();
    assert_eq!(alts.len(), 3, "{by_cli:?}");
    for alt in alts {
        let (dir, query) = (cli_data.path().to_path_buf(), alt.clone());
        let out =
            tokio::task::spawn_blocking(move || image_chat_in(&dir, &["search", &query, "--json"])).await.unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let by_cli: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let answer = client.post(format!("{base}/chat")).json(&serde_json::json!({"message": alt})).send();
        let by_server: serde_json::Value = answer.await.unwrap().json().await.unwrap();
        let urls = |v: &serde_json::Value| -> Vec<String> {
            v["results"].as_array().unwrap().iter().map(|r| r["url"].as_str().unwrap().to_string()).collect()
        };
        assert!(!urls(&by_cli).is_empty(), "{alt}: {by_cli}");
        assert_eq!(urls(&by_cli), urls(&by_server), "{alt}");
    }
}

#[test]
fn a_distributed_crawl_without_redis_is_refused_naming_the_setting() {
    let out = Command::new(env!("CARGO_BIN_EXE_image-chat"))
        .args(["crawl", "http://example.org/"])
        .env("IMAGE_CHAT_SETTINGS", concat!(env!("CARGO_MANIFEST_DIR"), "/Leptos.toml"))
        .env("IMAGE_CHAT__CRAWLER__DISTRIBUTED", "true")
        .env_remove("IMAGE_CHAT__CACHE__REDIS_URL")
        .env_remove("REDIS_URL")
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("crawler.distributed") && err.contains("cache.redis_url"), "{err}");
}
