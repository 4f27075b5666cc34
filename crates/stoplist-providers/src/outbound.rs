//! Where stoplist may send a request on a user's say-so: a connector's base URL, an account's
//! notification endpoint. Anyone who may edit those settings chooses the host, so without a
//! check they could make the server call its own admin ports, the cloud's metadata service
//! (`169.254.169.254`) or any machine on the private network behind it (SSRF).
//!
//! The rule, unless the operator allows private addresses (`allow_private_urls`, for tests
//! and for a provider on the operator's own network):
//! - the URL is `https`;
//! - its host is neither an address that is not public (loopback, private, link-local,
//!   carrier-grade NAT, multicast, reserved, … see [`non_public`]) nor a name that resolves
//!   to one.
//!
//! It is checked three times: when the URL is saved ([`Outbound::check`], which resolves the
//! name once, for a clear error), when a request is about to be sent to an address literal
//! ([`Outbound::check_form`]: reqwest does not resolve literals), and at every connection,
//! after DNS ([`Outbound::client_builder`]'s resolver), so that a name that resolves to a
//! private address later (DNS rebinding, or a record changed after the save) is refused too.
//! Redirects are never followed, so a public host cannot bounce a request inwards.
//!
//! What it does not cover: with an HTTP proxy configured (`HTTPS_PROXY`), reqwest resolves
//! only the proxy's name, so the per-connection check applies to the proxy and the target
//! is checked at save time only; the proxy's own egress rules must cover the rest.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect;

/// How long a name lookup may take before the check gives up on it.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// The kind of address that is not on the public internet, in words for an error message,
/// or `None` for a public address. IPv4 addresses mapped or embedded in IPv6 (`::ffff:a.b.c.d`,
/// NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by the IPv4 address they carry.
pub fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "unspecified",
        (127, _, _) => "loopback",
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => "private",
        (169, 254, _) => "link-local",
        (100, 64..=127, _) => "carrier-grade NAT",
        (192, 0, 0) => "reserved",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved or broadcast",
        _ => return None,
    })
}

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return non_public_v4(v4);
    }
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s[0] {
        // ::/96 (IPv4-compatible, deprecated) and the rest of ::/8.
        0x0000 => Some("reserved"),
        // NAT64 (64:ff9b::/96) reaches the IPv4 address it embeds; 64:ff9b:1::/48 is local.
        0x0064 if s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] => non_public_v4(embedded(s[6], s[7])),
        0x0064 if s[1] == 0xff9b && s[2] == 1 => Some("private"),
        0x0100 if s[1..4] == [0, 0, 0] => Some("reserved"),
        // Teredo (2001::/32) hides an IPv4 address; documentation (2001:db8::/32).
        0x2001 if s[1] == 0 => Some("tunnel"),
        0x2001 if s[1] == 0x0db8 => Some("documentation"),
        // 6to4 reaches the IPv4 address in its next 32 bits.
        0x2002 => non_public_v4(embedded(s[1], s[2])),
        x if x & 0xfe00 == 0xfc00 => Some("private"),
        x if x & 0xffc0 == 0xfe80 => Some("link-local"),
        x if x & 0xffc0 == 0xfec0 => Some("private"),
        x if x & 0xff00 == 0xff00 => Some("multicast"),
        _ => None,
    }
}

/// Why a URL may not be used. Each reads after the field's name: `base_url: must be https`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not a URL at all.
    #[error("is not a URL ({0})")]
    NotAUrl(String),
    /// A scheme other than http(s).
    #[error("must be an https:// URL")]
    Scheme,
    /// http while private addresses are not allowed.
    #[error("must be https")]
    NotHttps,
    /// No host to connect to.
    #[error("names no server")]
    NoHost,
    /// The host is an address that is not public.
    #[error("is {ip}, a {kind} address; stoplist sends only to public addresses")]
    Address {
        /// The address.
        ip: IpAddr,
        /// What kind of address it is ([`non_public`]).
        kind: &'static str,
    },
    /// The host's name resolves to an address that is not public.
    #[error("{host} resolves to {ip}, a {kind} address; stoplist sends only to public addresses")]
    Resolves {
        /// The name.
        host: String,
        /// The first address refused.
        ip: IpAddr,
        /// What kind of address it is ([`non_public`]).
        kind: &'static str,
    },
}

/// DNS lookups, separate so that tests can give a name any address they like.
pub trait Lookup: Send + Sync + 'static {
    /// The addresses of `host` (a name, never an address literal).
    fn lookup(
        &self,
        host: &str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'static>>;
}

/// The system's resolver (getaddrinfo on a blocking thread, through tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(
        &self,
        host: &str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'static>> {
        let host = host.to_owned();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// The outbound policy and the lookup it resolves names with. Cheap to clone; the default is
/// the strict policy with the system's resolver.
#[derive(Clone)]
pub struct Outbound {
    allow_private: bool,
    lookup: Arc<dyn Lookup>,
}

impl Default for Outbound {
    fn default() -> Self {
        Outbound::new(false)
    }
}

impl fmt::Debug for Outbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbound")
            .field("allow_private", &self.allow_private)
            .finish_non_exhaustive()
    }
}

impl Outbound {
    /// `allow_private`: http and every address are allowed (tests, a provider on the
    /// operator's own network); otherwise only https to public addresses.
    pub fn new(allow_private: bool) -> Outbound {
        Outbound {
            allow_private,
            lookup: Arc::new(SystemLookup),
        }
    }

    /// The same policy, resolving names with `lookup`.
    pub fn with_lookup(self, lookup: Arc<dyn Lookup>) -> Outbound {
        Outbound { lookup, ..self }
    }

    /// Whether http and private addresses are allowed.
    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// Checks what can be checked without DNS: the URL parses, is http(s) with a host, is
    /// https unless private addresses are allowed, and an address literal as its host is
    /// public. (`http://2130706433/` is `127.0.0.1` once parsed, and judged so.)
    pub fn check_form(&self, raw: &str) -> Result<Url, Refused> {
        let url = Url::parse(raw.trim()).map_err(|e| Refused::NotAUrl(e.to_string()))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_private => {}
            "http" => return Err(Refused::NotHttps),
            _ => return Err(Refused::Scheme),
        }
        let ip = match url.host() {
            None => return Err(Refused::NoHost),
            Some(url::Host::Domain("")) => return Err(Refused::NoHost),
            Some(url::Host::Domain(_)) => None,
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        };
        if let Some(ip) = ip {
            self.check_ip(ip)
                .map_err(|kind| Refused::Address { ip, kind })?;
        }
        Ok(url)
    }

    /// [`Outbound::check_form`], then the host's name resolved once and every address checked.
    /// A name that does not resolve now passes (DNS may be down for a moment; every request
    /// checks again at connection time), as does everything when private addresses are
    /// allowed.
    pub async fn check(&self, raw: &str) -> Result<Url, Refused> {
        let url = self.check_form(raw)?;
        if self.allow_private {
            return Ok(url);
        }
        if let Some(url::Host::Domain(host)) = url.host() {
            let found = tokio::time::timeout(LOOKUP_TIMEOUT, self.lookup.lookup(host)).await;
            if let Ok(Ok(ips)) = found {
                self.check_resolved(host, &ips)?;
            }
        }
        Ok(url)
    }

    /// Every address `host` resolved to must be allowed.
    pub fn check_resolved(&self, host: &str, ips: &[IpAddr]) -> Result<(), Refused> {
        for &ip in ips {
            self.check_ip(ip).map_err(|kind| Refused::Resolves {
                host: host.to_owned(),
                ip,
                kind,
            })?;
        }
        Ok(())
    }

    fn check_ip(&self, ip: IpAddr) -> Result<(), &'static str> {
        match non_public(ip) {
            Some(kind) if !self.allow_private => Err(kind),
            _ => Ok(()),
        }
    }

    /// A reqwest client builder that resolves names through this policy (a name with any
    /// address that is not allowed fails to connect, with [`Refused`] in the error's source
    /// chain) and follows no redirect: a provider's send API and a notification endpoint
    /// answer a POST directly, a 3xx from them is an error to report (reqwest would replay
    /// a redirected POST as a GET without its body anyway), and not following is the only
    /// way a public host cannot point a request at an internal one. The caller adds its
    /// timeouts.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                outbound: self.clone(),
            }))
            .redirect(redirect::Policy::none())
    }
}

/// The resolver of [`Outbound::client_builder`]: looks the name up, then refuses the whole
/// answer when any address is not allowed (an answer that mixes public and private addresses
/// is a rebinding attempt, not a host to half-trust).
struct GuardedResolver {
    outbound: Outbound,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let outbound = self.outbound.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let ips = outbound.lookup.lookup(&host).await?;
            outbound
                .check_resolved(&host, &ips)
                .map_err(|e| Box::new(e) as Box<dyn StdError + Send + Sync>)?;
            let addrs: Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The [`Refused`] in a reqwest error's source chain, when the resolver refused the host.
pub fn refusal<'e>(e: &'e (dyn StdError + 'static)) -> Option<&'e Refused> {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(r) = c.downcast_ref::<Refused>() {
            return Some(r);
        }
        cause = c.source();
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Names with the addresses a test gives them; any other name does not resolve.
    struct Names(HashMap<&'static str, Vec<IpAddr>>);

    impl Lookup for Names {
        fn lookup(
            &self,
            host: &str,
        ) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'static>> {
            let found = self.0.get(host).cloned();
            Box::pin(async move {
                found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such name"))
            })
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn names(list: &[(&'static str, &str)]) -> Arc<dyn Lookup> {
        let mut map: HashMap<&'static str, Vec<IpAddr>> = HashMap::new();
        for (name, addr) in list {
            map.entry(name).or_default().push(ip(addr));
        }
        Arc::new(Names(map))
    }

    #[test]
    fn addresses_that_are_not_public_are_named_by_kind() {
        for (addr, kind) in [
            ("127.0.0.1", "loopback"),
            ("10.0.0.5", "private"),
            ("172.31.255.1", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("0.0.0.0", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "reserved or broadcast"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fc00::1", "private"),
            ("fd12:3456::1", "private"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:10.1.2.3", "private"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
            ("2002:0a00:0001::1", "private"),
            ("::127.0.0.1", "reserved"),
        ] {
            assert_eq!(non_public(ip(addr)), Some(kind), "{addr}");
        }
        for addr in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert_eq!(non_public(ip(addr)), None, "{addr}");
        }
    }

    #[test]
    fn the_strict_policy_wants_https_and_refuses_private_literals() {
        let strict = Outbound::new(false);
        assert_eq!(
            strict.check_form("http://127.0.0.1:8080/"),
            Err(Refused::NotHttps)
        );
        assert_eq!(
            strict.check_form("http://169.254.169.254/latest/meta-data/"),
            Err(Refused::NotHttps)
        );
        assert_eq!(
            strict.check_form("https://169.254.169.254/"),
            Err(Refused::Address {
                ip: ip("169.254.169.254"),
                kind: "link-local"
            })
        );
        // Other spellings of an address are read as the address.
        for other in [
            "https://2130706433/",
            "https://0x7f.0.0.1/",
            "https://[::ffff:7f00:1]/",
        ] {
            assert!(
                matches!(
                    strict.check_form(other),
                    Err(Refused::Address {
                        kind: "loopback",
                        ..
                    })
                ),
                "{other}"
            );
        }
        assert_eq!(
            strict.check_form("ftp://example.com/"),
            Err(Refused::Scheme)
        );
        assert!(matches!(
            strict.check_form("api.twilio.com"),
            Err(Refused::NotAUrl(_))
        ));
        assert!(strict.check_form("https://api.twilio.com").is_ok());
        assert!(strict.check_form("https://8.8.8.8/").is_ok());
    }

    #[test]
    fn allowing_private_addresses_allows_http_and_loopback_but_not_other_schemes() {
        let open = Outbound::new(true);
        assert!(open.check_form("http://127.0.0.1:8080/").is_ok());
        assert!(open.check_form("http://169.254.169.254/").is_ok());
        assert_eq!(open.check_form("file:///etc/passwd"), Err(Refused::Scheme));
    }

    #[tokio::test]
    async fn a_public_looking_name_that_resolves_to_a_private_address_is_refused() {
        let lookup = names(&[
            ("api.example.com", "93.184.216.34"),
            ("sneaky.example.com", "10.0.0.5"),
            ("mixed.example.com", "93.184.216.34"),
            ("mixed.example.com", "169.254.169.254"),
        ]);
        let strict = Outbound::new(false).with_lookup(lookup.clone());
        assert!(strict.check("https://api.example.com/v2").await.is_ok());
        let refused = strict
            .check("https://sneaky.example.com/")
            .await
            .unwrap_err();
        assert_eq!(
            refused,
            Refused::Resolves {
                host: "sneaky.example.com".into(),
                ip: ip("10.0.0.5"),
                kind: "private"
            }
        );
        assert_eq!(
            refused.to_string(),
            "sneaky.example.com resolves to 10.0.0.5, a private address; stoplist sends only to public addresses"
        );
        assert!(matches!(
            strict.check("https://mixed.example.com/").await,
            Err(Refused::Resolves {
                kind: "link-local",
                ..
            })
        ));
        // A name that does not resolve now is checked again at connection time.
        assert!(strict.check("https://unknown.example.com/").await.is_ok());
        let open = Outbound::new(true).with_lookup(lookup);
        assert!(open.check("https://sneaky.example.com/").await.is_ok());
    }

    /// A one-request HTTP server on loopback that answers 200 and counts connections.
    async fn counting_server() -> (u16, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let seen = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                seen.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            }
        });
        (port, hits)
    }

    #[tokio::test]
    async fn the_client_refuses_at_connection_time_a_name_that_resolves_to_a_private_address() {
        let (port, hits) = counting_server().await;
        // As if a public name were rebound to loopback after it was saved.
        let lookup = names(&[("provider.example.com", "127.0.0.1")]);
        let url = format!("http://provider.example.com:{port}/");

        let strict = Outbound::new(false).with_lookup(lookup.clone());
        let client = strict.client_builder().build().unwrap();
        let err = client.get(&url).send().await.unwrap_err();
        assert_eq!(
            refusal(&err),
            Some(&Refused::Resolves {
                host: "provider.example.com".into(),
                ip: ip("127.0.0.1"),
                kind: "loopback"
            }),
            "{err:?}"
        );
        assert_eq!(hits.load(Ordering::SeqCst), 0, "no connection was made");

        let open = Outbound::new(true).with_lookup(lookup);
        let client = open.client_builder().build().unwrap();
        let answer = client.get(&url).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }
}
