//! Why a fetch failed, as variants code branches on (robots.txt by status, a missing image by
//! 404/410, a refused address), each printed the way a page's outcome reads.

use super::guard::Refusal;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The SSRF guard refused the URL or the address its host resolved to.
    #[error("refused: {0}")]
    Refused(Refusal),
    /// The server answered with a status that is no success and no redirect; `retries` is how
    /// often a 429 or 503 was retried first.
    #[error("HTTP {status}{}", retried(*.retries))]
    Status { status: u16, retries: u32 },
    /// A 429 or 503 asking us to wait longer than we do.
    #[error("HTTP {status} with Retry-After {secs}s (too long)")]
    RetryAfterTooLong { status: u16, secs: u64 },
    #[error("HTTP {status} without a usable Location")]
    BadRedirect { status: u16 },
    #[error("redirect loop at {0}")]
    RedirectLoop(String),
    #[error("more than {0} redirects")]
    TooManyRedirects(u32),
    /// No answer, or no complete body, in time.
    #[error("{0}")]
    Timeout(String),
    /// The body is over `crawler.max_body_bytes`.
    #[error("body {0}")]
    TooLarge(String),
    /// Connecting or reading failed (the message carries the whole cause chain).
    #[error("{0}")]
    Network(String),
    /// The browser could not render the page.
    #[error("rendering: {0}")]
    Render(String),
}

fn retried(retries: u32) -> String {
    if retries == 0 { String::new() } else { format!(" after {retries} retries") }
}

impl FetchError {
    /// The HTTP status the server answered with, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } | Self::RetryAfterTooLong { status, .. } | Self::BadRedirect { status } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// The server says the resource is not there (404 Not Found, 410 Gone).
    pub fn is_gone(&self) -> bool {
        matches!(self, Self::Status { status: 404 | 410, .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_the_outcome_a_person_sees_and_keeps_the_status() {
        let e = FetchError::Status { status: 404, retries: 0 };
        assert_eq!(e.to_string(), "HTTP 404");
        assert!(e.is_gone() && e.status() == Some(404));
        let e = FetchError::Status { status: 503, retries: 2 };
        assert_eq!(e.to_string(), "HTTP 503 after 2 retries");
        assert!(!e.is_gone());
        let e = FetchError::RetryAfterTooLong { status: 429, secs: 90 };
        assert_eq!((e.status(), e.to_string().as_str()), (Some(429), "HTTP 429 with Retry-After 90s (too long)"));
        let e = FetchError::Refused(Refusal::NoHost);
        assert_eq!((e.status(), e.to_string().as_str()), (None, "refused: URL has no host"));
    }
}
