//! Small text helpers the UI shares; plain functions so they are tested without a browser.

/// `url` when it is an http(s) link, for `href`/`src`: anything else (`javascript:`, `data:`)
/// from a crawled page is never made clickable.
pub fn safe_link(url: &str) -> Option<String> {
    let lower = url.trim_start().to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://")).then(|| url.trim().to_string())
}

/// Client-side check of the crawl form's URL, before the server's (which has the last word).
pub fn check_url(url: &str) -> Result<(), String> {
    let url = url.trim();
    if url.is_empty() {
        return Err("Enter the address of a site, e.g. https://example.org/".into());
    }
    let Some(rest) = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")) else {
        return Err("The address must start with http:// or https://".into());
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err("The address has no valid host name".into());
    }
    Ok(())
}

/// 1234567 -> "1.2 MB".
pub fn bytes(n: u64) -> String {
    match n {
        0..1_000 => format!("{n} B"),
        1_000..1_000_000 => format!("{:.1} kB", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        _ => format!("{:.1} GB", n as f64 / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_links() {
        assert_eq!(safe_link("https://a.test/x.png").as_deref(), Some("https://a.test/x.png"));
        assert_eq!(safe_link(" HTTP://a.test/").as_deref(), Some("HTTP://a.test/"));
        assert_eq!(safe_link("javascript:alert(1)"), None);
        assert_eq!(safe_link("data:image/png;base64,xx"), None);
        assert_eq!(safe_link("//a.test/x"), None);
    }

    #[test]
    fn url_checks() {
        assert!(check_url("https://example.org").is_ok());
        assert!(check_url("http://127.0.0.1:8080/a").is_ok());
        assert!(check_url("").is_err());
        assert!(check_url("example.org").is_err());
        assert!(check_url("https:///path").is_err());
        assert!(check_url("ftp://x").is_err());
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1_500), "1.5 kB");
        assert_eq!(bytes(2_500_000), "2.5 MB");
    }
}
