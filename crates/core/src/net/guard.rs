//! The SSRF guard: a crawl never reaches loopback, private, link-local (cloud metadata at
//! 169.254.169.254), multicast, broadcast or unspecified addresses unless the settings' allow-list
//! names the host. It checks IP-literal URLs before a request and every DNS answer through the
//! HTTP client's resolver, so redirects and DNS rebinding are covered too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

#[derive(Clone, Debug, Default)]
pub struct Guard {
    /// Lower-case host names and IP literals allowed although they are not public.
    allow: Arc<Vec<String>>,
}

/// Why the guard refused a URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    Scheme(String),
    NoHost,
    Address(IpAddr),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Scheme(s) => write!(f, "scheme `{s}` is not allowed (only http and https)"),
            Self::NoHost => write!(f, "URL has no host"),
            Self::Address(ip) => write!(f, "address {ip} is not public (allow it with crawler.allow_hosts)"),
        }
    }
}

impl std::error::Error for Refusal {}

impl Guard {
    pub fn new(allow_hosts: &[String]) -> Self {
        let allow = allow_hosts.iter().map(|h| h.trim().trim_matches(['[', ']']).to_ascii_lowercase()).collect();
        Self { allow: Arc::new(allow) }
    }

    /// Whether the allow-list names `host` (a name or an IP literal).
    pub fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
        self.allow.contains(&host)
    }

    /// Checks scheme and, for IP literals, the address. Host names are checked when resolved.
    pub fn check_url(&self, url: &Url) -> Result<(), Refusal> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refusal::Scheme(url.scheme().to_string()));
        }
        let host = url.host().ok_or(Refusal::NoHost)?;
        let ip = match host {
            url::Host::Ipv4(ip) => IpAddr::V4(ip),
            url::Host::Ipv6(ip) => IpAddr::V6(ip),
            url::Host::Domain(_) => return Ok(()),
        };
        if is_public(ip) || self.allows_host(&ip.to_string()) { Ok(()) } else { Err(Refusal::Address(ip)) }
    }

    /// Filters resolved addresses of `host`: all of them when the host is allowed, else the
    /// public ones.
    pub fn filter(&self, host: &str, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, Refusal> {
        if self.allows_host(host) {
            return Ok(addrs);
        }
        let first = addrs.first().map(SocketAddr::ip);
        let public: Vec<SocketAddr> = addrs.into_iter().filter(|a| is_public(a.ip())).collect();
        match (public.is_empty(), first) {
            (false, _) => Ok(public),
            (true, Some(ip)) => Err(Refusal::Address(ip)),
            (true, None) => Err(Refusal::NoHost),
        }
    }

    /// A resolver for the HTTP client that applies [`Guard::filter`] to every lookup.
    pub fn resolver(&self) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver { guard: self.clone() })
    }
}

/// Whether an address is on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (64..128).contains(&o[1])) // carrier-grade NAT
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (18..20).contains(&o[1])) // benchmarking
        || o[0] >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x64 && s[1] == 0xff9b)) // NAT64 can reach private v4
}

pub struct GuardedResolver {
    guard: Guard,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            // The refusal itself travels in reqwest's error chain, where the fetcher finds it.
            let allowed = match guard.filter(&host, addrs) {
                Ok(allowed) => allowed,
                Err(refusal) => return Err(Box::new(refusal) as Box<dyn std::error::Error + Send + Sync>),
            };
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(guard: &Guard, url: &str) -> Result<(), Refusal> {
        guard.check_url(&Url::parse(url).unwrap())
    }

    #[test]
    fn non_public_addresses_and_schemes_are_refused() {
        let g = Guard::new(&[]);
        for url in [
            "http://127.0.0.1/",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://0.0.0.0/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://100.64.0.1/",
            "http://[::1]/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::]/",
        ] {
            assert!(matches!(check(&g, url), Err(Refusal::Address(_))), "{url}");
        }
        assert!(matches!(check(&g, "file:///etc/passwd"), Err(Refusal::Scheme(_))));
        assert!(matches!(check(&g, "ftp://example.com/"), Err(Refusal::Scheme(_))));
        assert!(check(&g, "http://93.184.216.34/").is_ok());
        assert!(check(&g, "https://[2606:2800:220:1::1]/").is_ok());
        assert!(check(&g, "http://example.com/").is_ok(), "names are checked at resolution");
    }

    #[test]
    fn the_allow_list_lets_named_hosts_through() {
        let g = Guard::new(&["127.0.0.1".into(), "LocalHost".into(), "[::1]".into()]);
        assert!(check(&g, "http://127.0.0.1:8080/").is_ok());
        assert!(check(&g, "http://[::1]:8080/").is_ok());
        assert!(check(&g, "http://10.0.0.1/").is_err());
        let local: SocketAddr = "127.0.0.1:80".parse().unwrap();
        assert_eq!(g.filter("localhost", vec![local]).unwrap(), vec![local]);
        assert!(g.filter("evil.test", vec![local]).is_err(), "a name resolving to loopback is refused");
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_that_resolve_to_loopback() {
        let resolver = Guard::new(&[]).resolver();
        let name: Name = "localhost".parse().unwrap();
        assert!(resolver.resolve(name).await.is_err());
        let allowed = Guard::new(&["localhost".into()]).resolver();
        let name: Name = "localhost".parse().unwrap();
        assert!(allowed.resolve(name).await.is_ok());
    }
}
