//! Serves a mirrored site from a folder (e.g. `shared/data/sites/sanctuaries.marinebon.org/`),
//! rewriting the site's own absolute origin in text responses to the server's address, so its
//! absolute links stay on this machine.

use std::path::{Component, Path, PathBuf};

#[derive(Clone, Debug)]
pub struct FolderSite {
    root: PathBuf,
    /// The host the mirror's absolute links name, e.g. `sanctuaries.marinebon.org`.
    host: String,
}

#[derive(Debug, PartialEq, Eq)]
pub struct FolderResponse {
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

impl FolderSite {
    /// `origin` is the mirrored site's origin (`https://sanctuaries.marinebon.org`) or bare host.
    pub fn new(root: impl Into<PathBuf>, origin: &str) -> Result<Self, String> {
        let root = root.into();
        if !root.is_dir() {
            return Err(format!("{} is not a folder", root.display()));
        }
        let host = origin.split("://").last().unwrap_or(origin).trim_end_matches('/').to_string();
        if host.is_empty() || host.contains('/') {
            return Err(format!("origin {origin:?} must be like https://example.org"));
        }
        Ok(Self { root, host })
    }

    /// The host of the mirror, guessed from the folder name (wget names mirrors after the host).
    pub fn host_from_folder(root: &Path) -> Option<String> {
        root.file_name()?.to_str().filter(|n| n.contains('.')).map(str::to_string)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file a request path names (`/a/` -> `a/index.html`); `None` when absent or outside
    /// the root.
    pub fn resolve(&self, path: &str) -> Option<PathBuf> {
        let decoded = percent_decode(path)?;
        let relative = Path::new(decoded.trim_start_matches('/'));
        if relative.components().any(|c| !matches!(c, Component::Normal(_))) {
            return None;
        }
        let mut file = self.root.join(relative);
        if decoded.ends_with('/') || file.is_dir() {
            file = file.join("index.html");
        }
        file.is_file().then_some(file)
    }

    pub fn serve(&self, path: &str, origin: &str) -> Option<FolderResponse> {
        let file = self.resolve(path)?;
        let bytes = std::fs::read(&file).ok()?;
        let content_type = content_type(&file, &bytes);
        let bytes = if is_text(content_type) { self.rewrite(&bytes, origin) } else { bytes };
        Some(FolderResponse { content_type, bytes })
    }

    /// Replaces `https://HOST`, `http://HOST`, their JSON-escaped and URL-encoded forms and
    /// `//HOST` with the local origin (`http://127.0.0.1:PORT`).
    pub fn rewrite(&self, bytes: &[u8], origin: &str) -> Vec<u8> {
        let host = &self.host;
        let local_host = origin.split("://").last().unwrap_or(origin);
        let pairs = [
            (format!("https://{host}"), origin.to_string()),
            (format!("http://{host}"), origin.to_string()),
            (format!("https:\\/\\/{host}"), origin.replace('/', "\\/")),
            (format!("http:\\/\\/{host}"), origin.replace('/', "\\/")),
            (format!("https%3A%2F%2F{host}"), origin.replace(':', "%3A").replace('/', "%2F")),
            (format!("//{host}"), format!("//{local_host}")),
        ];
        let mut out = bytes.to_vec();
        for (from, to) in pairs {
            out = replace_all(&out, from.as_bytes(), to.as_bytes());
        }
        out
    }
}

fn replace_all(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

fn percent_decode(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn content_type(file: &Path, bytes: &[u8]) -> &'static str {
    let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css",
        "js" => "application/javascript",
        "json" => "application/json",
        "xml" => "application/xml",
        "txt" => "text/plain; charset=utf-8",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        "ttf" => "font/ttf",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        _ => match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') | Some(b'[') => "application/json",
            Some(b'<') => "text/html; charset=utf-8",
            _ => "application/octet-stream",
        },
    }
}

fn is_text(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || content_type.contains("json")
        || content_type.contains("xml")
        || content_type.contains("javascript")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> (tempfile::TempDir, FolderSite) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("about")).unwrap();
        std::fs::write(
            dir.path().join("index.html"),
            "<a href=\"https://ex.org/about/\">a</a> <img src=\"//ex.org/i.png\"> {\"u\":\"https:\\/\\/ex.org\\/x\"} https%3A%2F%2Fex.org%2F",
        )
        .unwrap();
        std::fs::write(dir.path().join("about/index.html"), "about").unwrap();
        std::fs::write(dir.path().join("i.png"), b"\x89PNG https://ex.org").unwrap();
        let site = FolderSite::new(dir.path(), "https://ex.org").unwrap();
        (dir, site)
    }

    #[test]
    fn html_origin_is_rewritten_in_every_form() {
        let (_d, s) = site();
        let r = s.serve("/", "http://127.0.0.1:9").unwrap();
        let text = String::from_utf8(r.bytes).unwrap();
        assert_eq!(
            text,
            "<a href=\"http://127.0.0.1:9/about/\">a</a> <img src=\"//127.0.0.1:9/i.png\"> {\"u\":\"http:\\/\\/127.0.0.1:9\\/x\"} http%3A%2F%2F127.0.0.1%3A9%2F"
        );
    }

    #[test]
    fn binary_files_are_served_untouched() {
        let (_d, s) = site();
        let r = s.serve("/i.png", "http://127.0.0.1:9").unwrap();
        assert_eq!(r.content_type, "image/png");
        assert!(r.bytes.ends_with(b"https://ex.org"));
    }

    #[test]
    fn directories_serve_their_index_and_escapes_are_refused() {
        let (_d, s) = site();
        assert_eq!(s.serve("/about/", "http://h").unwrap().bytes, b"about");
        assert_eq!(s.serve("/about", "http://h").unwrap().bytes, b"about");
        assert!(s.serve("/../etc/passwd", "http://h").is_none());
        assert!(s.serve("/%2e%2e/x", "http://h").is_none());
        assert!(s.serve("/nope.html", "http://h").is_none());
        assert!(s.serve("/%zz", "http://h").is_none());
    }
}
