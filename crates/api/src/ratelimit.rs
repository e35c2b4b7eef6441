//! Rate limits (contract §8): per client IP on every request, stricter per IP on `/auth/*`, and
//! per user on authenticated requests; GCRA with a burst equal to the per-minute count.
//!
//! The client IP is the socket peer, unless the peer is a configured trusted proxy: then it is
//! the right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries to its left
//! are whatever the client claimed, so they are never believed). Keyed state is pruned
//! periodically ([`RateLimits::forget_idle`]), so memory stays bounded by the clients of the
//! last minute or so, not by every address ever seen.

use std::{net::IpAddr, num::NonZeroU32, str::FromStr, sync::Arc, time::Duration};

use actix_web::{
    body::{BoxBody, EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
    web,
};
use governor::{DefaultKeyedRateLimiter, Quota, clock::Clock};
use ipnet::IpNet;

use j0_domain::UserId;

use crate::{ApiState, BASE_PATH, error::ApiError};

/// Requests per minute for each limit; `0` turns that limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RatePerMinute {
    /// Per client IP, every request.
    pub ip: u32,
    /// Per user, authenticated requests.
    pub user: u32,
    /// Per client IP, `/auth/*`.
    pub auth: u32,
}

/// Proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

/// A `J0_TRUSTED_PROXIES` entry that is neither an IP nor a CIDR block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an IP address or CIDR block: {0:?}")]
pub struct InvalidProxy(String);

impl FromStr for TrustedProxies {
    type Err = InvalidProxy;

    /// Comma-separated IPs and CIDR blocks; empty means none.
    fn from_str(s: &str) -> Result<Self, InvalidProxy> {
        s.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| InvalidProxy(entry.to_owned()))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }
}

impl TrustedProxies {
    fn trusts(&self, ip: &IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }

    /// The client's address: `peer`, or behind trusted proxies the right-most untrusted
    /// `X-Forwarded-For` entry. An unparseable entry ends the walk at the hop that reported it.
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !self.trusts(&peer) {
            return peer;
        }
        let mut client = peer;
        for entry in forwarded_for.unwrap_or_default().rsplit(',') {
            match entry.trim().parse::<IpAddr>() {
                Ok(ip) if self.trusts(&ip) => client = ip,
                Ok(ip) => return ip,
                Err(_) => return client,
            }
        }
        client
    }
}

type Limiter<K> = DefaultKeyedRateLimiter<K>;

fn limiter<K: Clone + std::hash::Hash + Eq>(per_minute: u32) -> Option<Arc<Limiter<K>>> {
    NonZeroU32::new(per_minute).map(|n| Arc::new(Limiter::keyed(Quota::per_minute(n))))
}

/// The limiters of one server, shared by its workers.
#[derive(Debug, Clone)]
pub struct RateLimits {
    ip: Option<Arc<Limiter<IpAddr>>>,
    auth: Option<Arc<Limiter<IpAddr>>>,
    user: Option<Arc<Limiter<UserId>>>,
    proxies: TrustedProxies,
}

/// 429 with the wait, rounded up to whole seconds, at least 1.
fn rate_limited(wait: Duration) -> ApiError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::rate_limited(secs.max(1))
}

fn check<K: Clone + std::hash::Hash + Eq>(
    limiter: &Option<Arc<Limiter<K>>>,
    key: &K,
) -> Result<(), ApiError> {
    match limiter {
        Some(limiter) => limiter
            .check_key(key)
            .map_err(|not_until| rate_limited(not_until.wait_time_from(limiter.clock().now()))),
        None => Ok(()),
    }
}

impl RateLimits {
    /// Limiters at these rates, believing `X-Forwarded-For` from `proxies`.
    pub fn new(rates: RatePerMinute, proxies: TrustedProxies) -> Self {
        Self {
            ip: limiter(rates.ip),
            auth: limiter(rates.auth),
            user: limiter(rates.user),
            proxies,
        }
    }

    /// No limits at all.
    pub fn off() -> Self {
        Self::new(
            RatePerMinute {
                ip: 0,
                user: 0,
                auth: 0,
            },
            TrustedProxies::default(),
        )
    }

    /// Counts a request from `ip` to `path`.
    pub fn check_ip(&self, ip: IpAddr, path: &str) -> Result<(), ApiError> {
        check(&self.ip, &ip)?;
        if path.starts_with(&format!("{BASE_PATH}/auth/")) {
            check(&self.auth, &ip)?;
        }
        Ok(())
    }

    /// Counts an authenticated request of `user`.
    pub fn check_user(&self, user: UserId) -> Result<(), ApiError> {
        check(&self.user, &user)
    }

    /// Drops the state of keys that are back to a full burst, and returns the memory.
    pub fn forget_idle(&self) {
        if let Some(l) = &self.ip {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.auth {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.user {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }

    /// Keys currently tracked, for tests of the bound.
    pub fn tracked_keys(&self) -> usize {
        self.ip.as_ref().map_or(0, |l| l.len())
            + self.auth.as_ref().map_or(0, |l| l.len())
            + self.user.as_ref().map_or(0, |l| l.len())
    }
}

/// Middleware: the per-IP limits, on every request (the WebSocket upgrade included).
pub async fn limit_by_ip(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<BoxBody, impl MessageBody>>, actix_web::Error> {
    let verdict = match (req.app_data::<web::Data<ApiState>>(), req.peer_addr()) {
        (Some(state), Some(peer)) => {
            let forwarded = req
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok());
            let ip = state.limits.proxies.client_ip(peer.ip(), forwarded);
            state.limits.check_ip(ip, req.path())
        }
        _ => Ok(()),
    };
    match verdict {
        Ok(()) => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_right_body),
        Err(e) => {
            let response = actix_web::ResponseError::error_response(&e);
            Ok(req.into_response(response).map_into_left_body())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_ip(ip("10.0.0.1"), Some("1.2.3.4")),
            ip("10.0.0.1")
        );
        let proxies: TrustedProxies = "10.0.0.0/8, 192.168.1.1".parse().unwrap();
        assert_eq!(
            proxies.client_ip(ip("10.0.0.1"), Some("1.2.3.4")),
            ip("1.2.3.4")
        );
        assert_eq!(
            proxies.client_ip(ip("8.8.8.8"), Some("1.2.3.4")),
            ip("8.8.8.8"),
            "untrusted peer"
        );
        assert_eq!(
            proxies.client_ip(ip("10.0.0.1"), Some("6.6.6.6, 1.2.3.4, 192.168.1.1")),
            ip("1.2.3.4"),
            "the right-most untrusted entry; the spoofed left part is ignored"
        );
        assert_eq!(
            proxies.client_ip(ip("10.0.0.1"), Some("10.1.1.1")),
            ip("10.1.1.1"),
            "all trusted"
        );
        assert_eq!(proxies.client_ip(ip("10.0.0.1"), None), ip("10.0.0.1"));
        assert_eq!(
            proxies.client_ip(ip("10.0.0.1"), Some("garbage")),
            ip("10.0.0.1")
        );
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        assert_eq!("".parse::<TrustedProxies>(), Ok(TrustedProxies::default()));
    }

    #[test]
    fn bursts_then_refuses_with_a_whole_second_wait() {
        let limits = RateLimits::new(
            RatePerMinute {
                ip: 3,
                user: 2,
                auth: 1,
            },
            TrustedProxies::default(),
        );
        let a = ip("1.1.1.1");
        for _ in 0..3 {
            assert!(limits.check_ip(a, "/api/v1/jobs").is_ok());
        }
        let refused = limits.check_ip(a, "/api/v1/jobs").unwrap_err();
        assert_eq!(refused.code(), "RATE_LIMITED");
        assert!(refused.retry_after().is_some_and(|s| (1..=20).contains(&s)));
        assert!(
            limits
                .check_ip(ip("2.2.2.2"), "/api/v1/auth/challenge")
                .is_ok()
        );
        assert!(
            limits
                .check_ip(ip("2.2.2.2"), "/api/v1/auth/verify")
                .is_err(),
            "auth is stricter"
        );
        assert!(limits.check_user(UserId(1)).is_ok());
        assert!(limits.check_user(UserId(1)).is_ok());
        assert!(limits.check_user(UserId(1)).is_err());
        assert!(limits.check_user(UserId(2)).is_ok());
        let off = RateLimits::off();
        for _ in 0..1_000 {
            assert!(off.check_ip(a, "/api/v1/auth/challenge").is_ok());
        }
    }
}
