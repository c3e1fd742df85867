//! The URL policy: which endpoint URLs an INC deployment may call (contract
//! section 6) — a merchant's endpoints, its alerts URL, its SMS gateway.

use std::net::IpAddr;

use url::{Host, Url};

use crate::error::{Error, Result};

/// Longest endpoint URL accepted.
pub const MAX_URL_LEN: usize = 2_048;

/// Which endpoint URLs an INC deployment may call.
///
/// A deployed stack calls only `https` URLs on public hosts; the local stack
/// also allows `http` and loopback, so a merchant can test on a laptop. This
/// checks the URL as written (scheme, literal addresses, `localhost`); the
/// delivery worker checks the addresses a name resolves to as well.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointPolicy {
    pub allow_private: bool,
}

impl EndpointPolicy {
    pub fn check(&self, raw: &str) -> Result<Url> {
        self.check_field(raw, "endpoint_url")
    }

    /// The same check, its errors naming `field` (`url` on an endpoint).
    pub fn check_field(&self, raw: &str, field: &str) -> Result<Url> {
        let invalid = |why: String| {
            Error::unprocessable(
                "invalid_endpoint_url",
                format!("{field}: {why}"),
                Some(field),
            )
        };
        if raw.len() > MAX_URL_LEN {
            return Err(invalid(format!("must be at most {MAX_URL_LEN} characters")));
        }
        let url = Url::parse(raw).map_err(|e| invalid(format!("not a valid URL ({e})")))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_private => {}
            "http" => return Err(invalid("must use https".into())),
            other => {
                return Err(invalid(format!(
                    "scheme `{other}` is not supported; use https"
                )));
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("must not contain credentials".into()));
        }
        if url.fragment().is_some() {
            return Err(invalid("must not contain a #fragment".into()));
        }
        let internal = match url.host() {
            None => return Err(invalid("must name a host".into())),
            Some(Host::Domain(d)) => {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                d == "localhost" || d.ends_with(".localhost") || d.ends_with(".internal")
            }
            Some(Host::Ipv4(ip)) => is_internal(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => is_internal(IpAddr::V6(ip)),
        };
        if internal && !self.allow_private {
            return Err(invalid(
                "must not point to a private, loopback or internal address".into(),
            ));
        }
        Ok(url)
    }
}

/// Addresses a deployed INC must never call.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
                || v4.is_multicast()
                || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18/15
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (seg[0] & 0xffc0) == 0xfe80 // link local fe80::/10
                || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
                // Prefixes that can carry an IPv4 address inside: NAT64
                // 64:ff9b::/96, 6to4 2002::/16, Teredo 2001::/32.
                || (seg[0] == 0x0064 && seg[1] == 0xff9b && seg[2..6] == [0, 0, 0, 0])
                || seg[0] == 0x2002
                || (seg[0] == 0x2001 && seg[1] == 0)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const DEPLOYED: EndpointPolicy = EndpointPolicy {
        allow_private: false,
    };
    pub(crate) const LOCAL: EndpointPolicy = EndpointPolicy {
        allow_private: true,
    };

    #[test]
    fn deployed_policy_accepts_only_public_https() {
        assert!(DEPLOYED.check("https://shop.example/ipn").is_ok());
        for bad in [
            "http://shop.example/ipn",
            "ftp://shop.example/ipn",
            "https://localhost/ipn",
            "https://127.0.0.1/ipn",
            "https://10.0.0.8/ipn",
            "https://169.254.169.254/latest",
            "https://100.64.1.1/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[fd00::1]/",
            "https://user:pw@shop.example/",
            "not a url",
            "https://shop.example/#x",
        ] {
            let e = DEPLOYED.check(bad).expect_err(bad);
            assert_eq!(
                (e.status(), e.field()),
                (422, Some("endpoint_url")),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_ssrf_corpus() {
        let internal = [
            "127.0.0.1",
            "127.8.9.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "240.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "198.19.255.1",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "2001:0:4136:e378::1",
        ];
        for ip in internal {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(is_internal(ip), "{ip} should be refused");
            let host = match ip {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => format!("[{v6}]"),
            };
            assert!(
                DEPLOYED.check(&format!("https://{host}/ipn")).is_err(),
                "{host}"
            );
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip} is public");
        }
        for url in [
            "https://localhost./",
            "https://app.localhost/",
            "https://db.internal/x",
            "https://LOCALHOST/",
        ] {
            assert!(DEPLOYED.check(url).is_err(), "{url}");
        }
    }

    #[test]
    fn local_policy_also_accepts_loopback_http() {
        assert!(LOCAL.check("http://127.0.0.1:8000/ipn").is_ok());
        assert!(LOCAL.check("http://localhost:8000/ipn").is_ok());
        assert!(LOCAL.check("ftp://127.0.0.1/").is_err());
    }
}
