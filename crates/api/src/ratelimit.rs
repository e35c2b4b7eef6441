//! Rate limits (contract §8): per client IP on every request, stricter per IP on `/auth/*`, and
//! per user on authenticated requests; GCRA with a burst equal to the per-minute count.
//!
//! The client IP is the socket peer, unless the peer is a configured trusted proxy: then it is
//! the right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries to its left
//! are whatever the client claimed, so they are never believed). Every `X-Forwarded-For` line
//! counts, as one list in order: a proxy that appends its own line instead of extending the
//! client's must not let the client's line choose the bucket. IPv6 clients are counted by their
//! /64, the smallest block a single host is normally given, so one host cannot rotate addresses
//! inside its own prefix to multiply its budget. Keyed state is pruned periodically
//! ([`RateLimits::forget_idle`]), so memory stays bounded by the clients of the last minute or
//! so, not by every address ever seen.
//!
//! With Redis configured ([`SharedLimits`]) every instance spends one budget per key; the
//! in-process limiters stay the first line and the fallback when Redis does not answer.
//!
//! The `/auth/*` limit is chosen by the route the request matched, not by its raw path: the
//! router decodes percent-escapes (`/api/v1/%61uth/challenge` reaches the challenge handler), so
//! a test on the raw text would let an encoded path skip the stricter limit.

use std::{
    fmt::Display, hash::Hash, net::IpAddr, num::NonZeroU32, str::FromStr, sync::Arc, time::Duration,
};

use actix_web::{
    HttpMessage,
    body::{BoxBody, EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
    web,
};
use governor::{DefaultKeyedRateLimiter, Quota, clock::Clock};
use ipnet::IpNet;

use j0_domain::UserId;

use crate::{ApiState, BASE_PATH, error::ApiError};

mod shared;

pub use shared::{SharedLimits, Verdict};

/// Requests refused with 429, by the `scope` of the limit that refused them: `ip`, `auth` or
/// `user`.
pub const RATE_LIMITED: &str = "j0_rate_limited_total";

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
    /// `X-Forwarded-For` entry, reading every header line in order as one list. An unparseable
    /// entry ends the walk at the hop that reported it.
    pub fn client_ip<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        if !self.trusts(&peer) {
            return peer;
        }
        let entries: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|line| line.split(','))
            .collect();
        let mut client = peer;
        for entry in entries.into_iter().rev() {
            match forwarded_ip(entry) {
                Some(ip) if self.trusts(&ip) => client = ip,
                Some(ip) => return ip,
                None => return client,
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, with or without a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`, `[2001:db8::1]`), some proxies appending the port they saw.
fn forwarded_ip(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = entry.parse::<std::net::SocketAddr>() {
        return Some(socket.ip());
    }
    entry
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse::<std::net::Ipv6Addr>().ok())
        .map(IpAddr::V6)
}

/// The key a client is counted under: an IPv4 address as it is (an IPv4-mapped IPv6 address as
/// the IPv4 address it maps), an IPv6 address by its /64.
pub fn client_bucket(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
        v4 => v4,
    }
}

type Limiter<K> = DefaultKeyedRateLimiter<K>;

/// One limit: its rate, the instance's own limiter and its name (of its keys in Redis, and the
/// `scope` of its refusals in [`RATE_LIMITED`]).
#[derive(Debug)]
struct Limit<K: Clone + Hash + Eq> {
    kind: &'static str,
    per_minute: NonZeroU32,
    local: Limiter<K>,
}

fn limit<K: Clone + Hash + Eq>(kind: &'static str, per_minute: u32) -> Option<Arc<Limit<K>>> {
    NonZeroU32::new(per_minute).map(|n| {
        Arc::new(Limit {
            kind,
            per_minute: n,
            local: Limiter::keyed(Quota::per_minute(n)),
        })
    })
}

/// The limiters of one server, shared by its workers, and (with Redis) by every instance.
#[derive(Debug, Clone)]
pub struct RateLimits {
    ip: Option<Arc<Limit<IpAddr>>>,
    auth: Option<Arc<Limit<IpAddr>>>,
    user: Option<Arc<Limit<UserId>>>,
    proxies: TrustedProxies,
    shared: Option<SharedLimits>,
}

/// 429 with the wait, rounded up to whole seconds, at least 1.
fn rate_limited(wait: Duration) -> ApiError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::rate_limited(secs.max(1))
}

impl RateLimits {
    /// Limiters at these rates, believing `X-Forwarded-For` from `proxies`.
    pub fn new(rates: RatePerMinute, proxies: TrustedProxies) -> Self {
        Self {
            ip: limit("ip", rates.ip),
            auth: limit("auth", rates.auth),
            user: limit("user", rates.user),
            proxies,
            shared: None,
        }
    }

    /// The same limits, shared with every instance through `shared`.
    pub fn shared_through(self, shared: SharedLimits) -> Self {
        Self {
            shared: Some(shared),
            ..self
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

    /// Counts a request of `key`: first against this instance's limiter (a request it refuses
    /// never reaches Redis), then against the shared budget, whose verdict wins while Redis
    /// answers. Each refusal counts in [`RATE_LIMITED`].
    async fn check<K: Clone + Hash + Eq + Display>(
        &self,
        limit: &Option<Arc<Limit<K>>>,
        key: &K,
    ) -> Result<(), ApiError> {
        let Some(limit) = limit else {
            return Ok(());
        };
        let verdict = self.verdict(limit, key).await;
        if verdict.is_err() {
            metrics::counter!(RATE_LIMITED, "scope" => limit.kind).increment(1);
        }
        verdict
    }

    /// Whether `limit` lets a request of `key` through, locally and then (with Redis) shared.
    async fn verdict<K: Clone + Hash + Eq + Display>(
        &self,
        limit: &Limit<K>,
        key: &K,
    ) -> Result<(), ApiError> {
        limit.local.check_key(key).map_err(|not_until| {
            rate_limited(not_until.wait_time_from(limit.local.clock().now()))
        })?;
        match &self.shared {
            Some(shared) => match shared.check(limit.kind, key, limit.per_minute).await {
                Verdict::Refused(wait) => Err(rate_limited(wait)),
                Verdict::Allowed | Verdict::Unreachable => Ok(()),
            },
            None => Ok(()),
        }
    }

    /// Counts a request from the client counted as `bucket` (see [`client_bucket`]).
    pub async fn check_ip(&self, bucket: IpAddr) -> Result<(), ApiError> {
        self.check(&self.ip, &bucket).await
    }

    /// Counts a request from `bucket` to a route under `/auth/`.
    pub async fn check_auth(&self, bucket: IpAddr) -> Result<(), ApiError> {
        self.check(&self.auth, &bucket).await
    }

    /// Counts an authenticated request of `user`.
    pub async fn check_user(&self, user: UserId) -> Result<(), ApiError> {
        self.check(&self.user, &user).await
    }

    /// Drops the state of keys that are back to a full burst, and returns the memory.
    pub fn forget_idle(&self) {
        if let Some(l) = &self.ip {
            l.local.retain_recent();
            l.local.shrink_to_fit();
        }
        if let Some(l) = &self.auth {
            l.local.retain_recent();
            l.local.shrink_to_fit();
        }
        if let Some(l) = &self.user {
            l.local.retain_recent();
            l.local.shrink_to_fit();
        }
    }

    /// Keys currently tracked, for tests of the bound.
    pub fn tracked_keys(&self) -> usize {
        self.ip.as_ref().map_or(0, |l| l.local.len())
            + self.auth.as_ref().map_or(0, |l| l.local.len())
            + self.user.as_ref().map_or(0, |l| l.local.len())
    }
}

/// The bucket of a request's client, found once by [`limit_by_ip`] for the later checks.
#[derive(Debug, Clone, Copy)]
struct ClientBucket(IpAddr);

/// Answers `req` with `e` instead of calling the next service.
fn refuse<B>(req: ServiceRequest, e: &ApiError) -> ServiceResponse<EitherBody<BoxBody, B>> {
    let response = actix_web::ResponseError::error_response(e);
    req.into_response(response).map_into_left_body()
}

/// Passes `req` on when a limit's `verdict` allows it, else answers the refusal.
async fn proceed<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
    verdict: Result<(), ApiError>,
) -> Result<ServiceResponse<EitherBody<BoxBody, B>>, actix_web::Error> {
    match verdict {
        Ok(()) => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_right_body),
        Err(e) => Ok(refuse(req, &e)),
    }
}

/// Middleware: the per-IP limit, on every request (the WebSocket upgrade and unknown paths
/// included), before routing.
pub async fn limit_by_ip(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<BoxBody, impl MessageBody>>, actix_web::Error> {
    let verdict = match (req.app_data::<web::Data<ApiState>>(), req.peer_addr()) {
        (Some(state), Some(peer)) => {
            let forwarded = req
                .headers()
                .get_all("x-forwarded-for")
                .filter_map(|v| v.to_str().ok());
            let bucket = client_bucket(state.limits.proxies.client_ip(peer.ip(), forwarded));
            req.extensions_mut().insert(ClientBucket(bucket));
            state.limits.check_ip(bucket).await
        }
        _ => Ok(()),
    };
    proceed(req, next, verdict).await
}

/// Whether a matched route pattern is one of the `/auth/*` routes.
fn is_auth_route(pattern: &str) -> bool {
    pattern
        .strip_prefix(BASE_PATH)
        .is_some_and(|rest| rest.starts_with("/auth/"))
}

/// Middleware on each REST resource: the `/auth/*` limit, for requests whose matched route is
/// an auth route, however its path was spelled.
pub async fn limit_by_route(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<BoxBody, impl MessageBody>>, actix_web::Error> {
    let bucket = req.extensions().get::<ClientBucket>().copied();
    let verdict = match (req.app_data::<web::Data<ApiState>>(), bucket) {
        (Some(state), Some(ClientBucket(bucket)))
            if req.match_pattern().is_some_and(|p| is_auth_route(&p)) =>
        {
            state.limits.check_auth(bucket).await
        }
        _ => Ok(()),
    };
    proceed(req, next, verdict).await
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
        assert_eq!(none.client_ip(ip("10.0.0.1"), ["1.2.3.4"]), ip("10.0.0.1"));
        let proxies: TrustedProxies = "10.0.0.0/8, 192.168.1.1".parse().unwrap();
        assert_eq!(
            proxies.client_ip(ip("10.0.0.1"), ["1.2.3.4"]),
            ip("1.2.3.4")
        );
        assert_eq!(
            proxies.client_ip(ip("8.8.8.8"), ["1.2.3.4"]),
            ip("8.8.8.8"),
            "untrusted peer"
        );
        assert_eq!(
            proxies.client_ip(ip("10.0.0.1"), ["6.6.6.6, 1.2.3.4, 192.168.1.1"]),
            ip("1.2.3.4"),
            "the right-most untrusted entry; the spoofed left part is ignored"
        );
        assert_eq!(
            proxies.client_ip(ip("10.0.0.1"), ["10.1.1.1"]),
            ip("10.1.1.1"),
            "all trusted"
        );
        assert_eq!(proxies.client_ip(ip("10.0.0.1"), []), ip("10.0.0.1"));
        assert_eq!(
            proxies.client_ip(ip("10.0.0.1"), ["garbage"]),
            ip("10.0.0.1")
        );
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        assert_eq!("".parse::<TrustedProxies>(), Ok(TrustedProxies::default()));
    }

    #[test]
    fn forwarded_for_lines_are_one_list_read_from_the_right() {
        let proxies: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let peer = ip("10.0.0.1");
        assert_eq!(
            proxies.client_ip(peer, ["6.6.6.6", "1.2.3.4, 10.0.0.2"]),
            ip("1.2.3.4"),
            "the client's own first line does not choose the bucket"
        );
        assert_eq!(
            proxies.client_ip(peer, ["6.6.6.6, 7.7.7.7", "1.2.3.4"]),
            ip("1.2.3.4")
        );
        assert_eq!(
            proxies.client_ip(peer, ["1.2.3.4", "10.0.0.3", "10.0.0.2"]),
            ip("1.2.3.4")
        );
    }

    #[test]
    fn forwarded_for_entries_lose_their_ports() {
        let proxies: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let peer = ip("10.0.0.1");
        assert_eq!(proxies.client_ip(peer, ["1.2.3.4:5678"]), ip("1.2.3.4"));
        assert_eq!(
            proxies.client_ip(peer, ["[2001:db8::1]:443"]),
            ip("2001:db8::1")
        );
        assert_eq!(
            proxies.client_ip(peer, ["[2001:db8::1]"]),
            ip("2001:db8::1")
        );
        assert_eq!(
            proxies.client_ip(peer, ["6.6.6.6, 1.2.3.4:80, 10.0.0.9:1234"]),
            ip("1.2.3.4"),
            "a trusted hop with a port is still trusted"
        );
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        assert_eq!(
            client_bucket(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            client_bucket(ip("2001:db8:1:2::1")),
            client_bucket(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            client_bucket(ip("2001:db8:1:2::1")),
            client_bucket(ip("2001:db8:1:3::1"))
        );
        assert_eq!(client_bucket(ip("1.2.3.4")), ip("1.2.3.4"));
        assert_eq!(client_bucket(ip("::ffff:1.2.3.4")), ip("1.2.3.4"));
    }

    #[tokio::test]
    async fn bursts_then_refuses_with_a_whole_second_wait() {
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
            assert!(limits.check_ip(a).await.is_ok());
        }
        let refused = limits.check_ip(a).await.unwrap_err();
        assert_eq!(refused.code(), crate::error::ErrorCode::RateLimited);
        assert!(refused.retry_after().is_some_and(|s| (1..=20).contains(&s)));
        assert!(limits.check_auth(ip("2.2.2.2")).await.is_ok());
        assert!(
            limits.check_auth(ip("2.2.2.2")).await.is_err(),
            "auth is stricter"
        );
        assert!(limits.check_user(UserId(1)).await.is_ok());
        assert!(limits.check_user(UserId(1)).await.is_ok());
        assert!(limits.check_user(UserId(1)).await.is_err());
        assert!(limits.check_user(UserId(2)).await.is_ok());
        let off = RateLimits::off();
        for _ in 0..1_000 {
            assert!(off.check_ip(a).await.is_ok() && off.check_auth(a).await.is_ok());
        }
    }
}
