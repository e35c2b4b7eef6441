//! Wallet sign-in (contract §3): challenges, signatures, tokens, the cookie and logout. The
//! challenge and verify exchanges are raw: they are checked to the header and the byte, and the
//! client only ever sends them well signed.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::{Method, header};
use serde_json::{Value, json};
use time::Duration;

use j0_client::JobStatus;
use j0_domain::Cents;
use j0_testkit::{
    FixedRandomness, Response, TestApp, Wallet, assert_refused, at_once, opus, spawn_app,
    spawn_app_with,
};

/// The DEPENDENCIES.md vector: this key is this address.
const KNOWN_KEY: &str = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
const KNOWN_ADDRESS: &str = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23";

async fn challenge(app: &TestApp, address: &str) -> Value {
    let body = json!({ "public_key": address });
    app.raw().post("/auth/challenge", &body).await.ok()
}

async fn verify(app: &TestApp, address: &str, nonce: &Value, signature: &str) -> Response {
    let body = json!({ "public_key": address, "challenge_nonce": nonce, "signature": signature });
    app.raw().post("/auth/verify", &body).await
}

/// A challenge for a new wallet, and the wallet's signature of it.
struct Signed {
    wallet: Wallet,
    address: String,
    challenge: Value,
    signature: String,
}

impl Signed {
    async fn new(app: &TestApp) -> Self {
        let wallet = Wallet::random();
        let address = wallet.address().to_string();
        let challenge = challenge(app, &address).await;
        let signature = wallet.sign_personal(challenge["message_to_sign"].as_str().unwrap());
        Self {
            wallet,
            address,
            challenge,
            signature,
        }
    }

    fn message(&self) -> &str {
        self.challenge["message_to_sign"].as_str().unwrap()
    }

    fn nonce(&self) -> &Value {
        &self.challenge["challenge"]["nonce"]
    }

    /// Verifies with `signature` instead of the wallet's own.
    async fn verify_with(&self, app: &TestApp, signature: &str) -> Response {
        verify(app, &self.address, self.nonce(), signature).await
    }

    async fn verify(&self, app: &TestApp) -> Response {
        self.verify_with(app, &self.signature).await
    }

    /// Verifies, and asserts the 401 `code` that refuses it.
    async fn assert_refused(&self, app: &TestApp, code: &str) {
        self.verify(app).await.assert_error(401, code);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_challenge_carries_the_exact_message_and_lives_sixty_seconds() {
    let app = spawn_app().await;
    let c = challenge(&app, KNOWN_ADDRESS).await;
    let nonce = c["challenge"]["nonce"].as_str().unwrap();
    assert!(
        nonce.len() >= 32 && nonce.bytes().all(|b| b.is_ascii_hexdigit()),
        "{nonce}"
    );
    let timestamp = c["challenge"]["timestamp"].as_i64().unwrap();
    assert_eq!(c["challenge"]["expires_at"].as_i64(), Some(timestamp + 60));
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((timestamp - now).abs() <= 5);
    assert_eq!(
        c["message_to_sign"],
        format!("j0.com authentication\nNonce: {nonce}\nTimestamp: {timestamp}")
    );
    let other = challenge(&app, KNOWN_ADDRESS).await;
    assert_ne!(other["challenge"]["nonce"], c["challenge"]["nonce"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_auth_domain_is_configurable() {
    let app = spawn_app_with(|c| c.auth.domain = "agents.example".into()).await;
    let c = challenge(&app, KNOWN_ADDRESS).await;
    assert!(
        c["message_to_sign"]
            .as_str()
            .unwrap()
            .starts_with("agents.example authentication\n")
    );
    let session = app.sign_in(Wallet::random()).await;
    let claims = decode_claims(&session.token);
    assert_eq!(claims["iss"], "agents.example");
}

#[tokio::test(flavor = "multi_thread")]
async fn addresses_are_accepted_in_any_case_but_a_bad_checksum_is_refused() {
    let app = spawn_app().await;
    for address in [
        KNOWN_ADDRESS.to_lowercase(),
        format!("0x{}", KNOWN_ADDRESS[2..].to_uppercase()),
    ] {
        challenge(&app, &address).await;
    }
    let broken = "0x2c7536E3605D9C16a7a3D7b1898e529396a65C23";
    for (address, names_the_field) in [(broken, true), ("0x12", false)] {
        let body = json!({ "public_key": address });
        let r = app.raw().post("/auth/challenge", &body).await;
        r.assert_error(400, "VALIDATION_ERROR");
        if names_the_field {
            assert!(r.body["error"].as_str().unwrap().contains("public_key"));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_in_with_a_known_key_creates_the_user_once_and_sets_the_cookie() {
    let app = spawn_app().await;
    let wallet = Wallet::from_private_key(KNOWN_KEY).unwrap();
    assert_eq!(wallet.address().to_string(), KNOWN_ADDRESS);
    let c = challenge(&app, &KNOWN_ADDRESS.to_lowercase()).await;
    let signature = wallet.sign_personal(c["message_to_sign"].as_str().unwrap());
    let r = verify(
        &app,
        &KNOWN_ADDRESS.to_lowercase(),
        &c["challenge"]["nonce"],
        &signature,
    )
    .await;
    let cookie = set_cookie(&r);
    let body = r.ok();
    let token = body["token"].as_str().unwrap();
    let user = &body["user"];
    assert_eq!(user["public_key"], KNOWN_ADDRESS);
    assert_eq!(user["identity_type"], "ethereum_wallet");
    assert_eq!(user["reputation_score"], 0.0);
    assert!(user["created_at"].as_str().unwrap().ends_with('Z'));
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((body["expires_at"].as_i64().unwrap() - (now + 86_400)).abs() <= 5);

    let mut attributes: Vec<&str> = cookie.split("; ").collect();
    assert_eq!(attributes.remove(0), format!("j0_token={token}"));
    attributes.sort_unstable();
    assert_eq!(
        attributes,
        [
            "HttpOnly",
            "Max-Age=86400",
            "Path=/",
            "SameSite=Strict",
            "Secure"
        ]
    );

    let claims = decode_claims(token);
    assert_eq!(claims["sub"], user["id"].as_i64().unwrap().to_string());
    assert_eq!(claims["addr"], KNOWN_ADDRESS);
    assert_eq!(
        (claims["iss"].as_str(), claims["aud"].as_str()),
        (Some("j0.com"), Some("j0-api"))
    );
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        86_400
    );
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));

    let again = app
        .sign_in(Wallet::from_private_key(KNOWN_KEY).unwrap())
        .await;
    assert_eq!(again.user_id.0, user["id"].as_i64().unwrap());
    assert_ne!(again.token, token);
}

/// The `Set-Cookie` header of `r`.
fn set_cookie(r: &Response) -> String {
    let cookie = r.headers.get(header::SET_COOKIE).unwrap();
    cookie.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn signatures_with_v_zero_or_one_are_normalised() {
    let app = spawn_app().await;
    let signed = Signed::new(&app).await;
    let mut bytes = signed.wallet.sign_personal_bytes(signed.message());
    bytes[64] -= 27;
    signed
        .verify_with(&app, &format!("0x{}", hex(&bytes)))
        .await
        .ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_signatures_are_refused_and_leave_the_challenge_usable() {
    let app = spawn_app().await;
    let signed = Signed::new(&app).await;
    let message = signed.message();

    let good = signed.wallet.sign_personal_bytes(message);
    let mut high_s = good;
    high_s[32..64].copy_from_slice(&negate_s(&good[32..64]));
    high_s[64] = if good[64] == 27 { 28 } else { 27 };
    let mut bad_v = good;
    bad_v[64] = 29;
    let stranger = Wallet::random().sign_personal(message);
    let other_message = signed
        .wallet
        .sign_personal("j0.com authentication\nNonce: x\nTimestamp: 1");
    for signature in [
        format!("0x{}", hex(&high_s)),
        format!("0x{}", hex(&bad_v)),
        stranger,
        other_message,
        "0x1234".to_owned(),
        "not hex at all".to_owned(),
        String::new(),
    ] {
        let r = signed.verify_with(&app, &signature).await;
        r.assert_error(401, "INVALID_SIGNATURE");
        assert_eq!(r.body["error"], "Invalid signature");
    }
    signed.verify(&app).await.ok();
}

/// `n - s` for secp256k1, big-endian: the malleable twin of a low-s signature.
fn negate_s(s: &[u8]) -> [u8; 32] {
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36,
        0x41, 0x41,
    ];
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(N[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = d as u8;
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn challenges_belong_to_one_address_and_are_single_use() {
    let app = spawn_app().await;
    let signed = Signed::new(&app).await;

    let thief = Wallet::random();
    let thief_sig = thief.sign_personal(signed.message());
    verify(
        &app,
        &thief.address().to_string(),
        signed.nonce(),
        &thief_sig,
    )
    .await
    .assert_error(401, "CHALLENGE_NOT_FOUND");
    let unknown = json!("00ff00ff00ff00ff00ff00ff00ff00ff");
    verify(&app, &signed.address, &unknown, &signed.signature)
        .await
        .assert_error(401, "CHALLENGE_NOT_FOUND");

    signed.verify(&app).await.ok();
    signed.assert_refused(&app, "CHALLENGE_USED").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_challenge_is_refused() {
    let app = spawn_app().await;
    let signed = Signed::new(&app).await;
    app.clock.advance(Duration::seconds(61));
    signed.assert_refused(&app, "CHALLENGE_EXPIRED").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn of_concurrent_verifies_of_one_nonce_exactly_one_succeeds() {
    let app = std::sync::Arc::new(spawn_app().await);
    for _round in 0..5 {
        let signed = std::sync::Arc::new(Signed::new(&app).await);
        let results = at_once(10, |_| {
            let (app, signed) = (app.clone(), signed.clone());
            async move { signed.verify(&app).await }
        })
        .await;
        let codes: Vec<&str> = results.iter().map(Response::outcome).collect();
        assert_eq!(codes.iter().filter(|c| **c == "OK").count(), 1, "{codes:?}");
        assert!(
            codes.iter().all(|c| *c == "OK" || *c == "CHALLENGE_USED"),
            "{codes:?}"
        );
    }
}

fn decode_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn forge(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

fn sign(algorithm: jsonwebtoken::Algorithm, claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(algorithm),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret).unwrap(),
    )
    .unwrap()
}

fn sign_hs256(claims: &Value, secret: &[u8]) -> String {
    sign(jsonwebtoken::Algorithm::HS256, claims, secret)
}

#[tokio::test(flavor = "multi_thread")]
async fn only_well_signed_unexpired_tokens_for_this_audience_are_accepted() {
    let app = spawn_app().await;
    let session = app.new_user().await;
    let own = app.client_with_token(&session.token);
    own.me().await.unwrap();

    let claims = decode_claims(&session.token);
    let secret = j0_testkit::app_secret();
    let with = |key: &str, value: Value| {
        let mut c = claims.clone();
        c[key] = value;
        c
    };
    let rejected = [
        (
            "alg none",
            forge(&json!({"alg": "none", "typ": "JWT"}), &claims, ""),
        ),
        (
            "wrong key",
            sign_hs256(&claims, b"another-secret-another-secret-0123456"),
        ),
        ("tampered subject", {
            let mut parts: Vec<String> = session.token.split('.').map(str::to_owned).collect();
            parts[1] = URL_SAFE_NO_PAD.encode(with("sub", json!("999")).to_string());
            parts.join(".")
        }),
        (
            "wrong issuer",
            sign_hs256(&with("iss", json!("evil.com")), secret),
        ),
        (
            "wrong audience",
            sign_hs256(&with("aud", json!("other")), secret),
        ),
        ("no audience", {
            let mut c = claims.clone();
            c.as_object_mut().unwrap().remove("aud");
            sign_hs256(&c, secret)
        }),
        (
            "HS512",
            sign(jsonwebtoken::Algorithm::HS512, &claims, secret),
        ),
        ("garbage", "not.a.token".to_owned()),
    ];
    // Raw: forged tokens, and headers the client never sends; quick, too, which matters here:
    // the leeway probe below counts the seconds since the sign-in.
    for (what, token) in rejected {
        let forged = app
            .raw()
            .request(Method::GET, "/users/me")
            .bearer_auth(token);
        let r = Response::of(forged).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (401, "UNAUTHORIZED"),
            "{what}: {}",
            r.body
        );
    }
    let basic = app
        .raw()
        .request(Method::GET, "/users/me")
        .header("Authorization", "Basic abc");
    assert_eq!(Response::of(basic).await.status, 401);
    app.raw()
        .get("/users/me")
        .await
        .assert_error(401, "UNAUTHORIZED");

    // `exp` is whole seconds while the clock keeps running, so each side of the 5 s leeway is
    // probed with a second of margin.
    app.clock.advance(Duration::seconds(86_400 + 3));
    own.me().await.unwrap();
    app.clock.advance(Duration::seconds(3));
    assert_refused!(own.me().await => 401, "UNAUTHORIZED", Unauthorized);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cookie_alone_authenticates_and_logout_revokes_and_clears_it() {
    let app = spawn_app().await;
    let session = app.new_user().await;
    let cookie = format!("j0_token={}", session.token);
    let with_cookie = |method: Method, path: &str| {
        let request = app.raw().request(method, path);
        Response::of(request.header(header::COOKIE, cookie.clone()))
    };
    let me = with_cookie(Method::GET, "/users/me").await.ok();
    assert_eq!(me["id"].as_i64(), Some(session.user_id.0));

    let out = with_cookie(Method::POST, "/auth/logout").await;
    let cleared = set_cookie(&out);
    assert!(cleared.starts_with("j0_token=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    out.ok();

    with_cookie(Method::GET, "/users/me")
        .await
        .assert_error(401, "UNAUTHORIZED");
    let revoked = app.client_with_token(&session.token);
    assert_refused!(revoked.me().await => 401, "UNAUTHORIZED", Unauthorized);
    assert_refused!(revoked.logout().await => 401, "UNAUTHORIZED", Unauthorized);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cookie_drops_secure_only_when_configured_off() {
    let app = spawn_app_with(|c| c.http.cookie_secure = false).await;
    let cookie = set_cookie(&Signed::new(&app).await.verify(&app).await);
    assert!(
        !cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
}

#[tokio::test]
async fn a_revoked_token_stays_refused_through_its_leeway_after_pruning() {
    let app = spawn_app().await;
    let session = app.new_user().await;
    session.logout().await.unwrap();
    // Two seconds past `exp`: inside the five-second leeway the token would still verify, so
    // only its revocation refuses it, and pruning must not have forgotten that.
    app.clock
        .advance(time::Duration::days(1) + time::Duration::seconds(2));
    app.core.prune_expired().await.unwrap();
    assert_refused!(
        app.client_with_token(&session.token).me().await => 401, "UNAUTHORIZED",
        Unauthorized
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_out_on_one_instance_stops_posts_accepts_and_completions_on_another_at_once() {
    let app = spawn_app().await;
    let peer = app.spawn_peer().await;
    let open = app.posted_job(1_000, opus(10)).await;
    let taken = app.accepted_job(1_000, opus(10)).await;
    let (open_id, taken_id) = (open.id(), taken.id());
    let (requester, worker) = (open.requester, taken.worker);
    let before = requester.buckets().await;
    requester.on(&peer).logout().await.unwrap();
    worker.on(&peer).logout().await.unwrap();
    // Clients holding only the tokens: a session's own client would sign in again.
    let (signed_out_requester, signed_out_worker) = (
        app.client_with_token(&requester.token),
        app.client_with_token(&worker.token),
    );

    // Keyed and unkeyed posts, well formed or not: the revocation is checked first.
    assert_refused!(signed_out_requester.post_job(opus(10)).await => 401, "UNAUTHORIZED", Unauthorized);
    for body in [
        json!({ "capability": "opus", "credits": 10, "timeout_sec": 30, "prompt": "p" }),
        json!({ "capability": "opus", "credits": 4, "timeout_sec": 30, "prompt": "p" }),
    ] {
        requester
            .raw()
            .post("/jobs", &body)
            .await
            .assert_error(401, "UNAUTHORIZED");
    }
    // Accepts of a real job, of an unknown one and of a malformed id; completions with a
    // result and without.
    assert_refused!(signed_out_worker.accept_job(open_id).await => 401, "UNAUTHORIZED", Unauthorized);
    for path in ["/jobs/999999/accept", "/jobs/abc/accept"] {
        let r = worker.raw().post_empty(path).await;
        r.assert_error(401, "UNAUTHORIZED");
    }
    assert_refused!(
        signed_out_worker.complete_job(taken_id, "r").await => 401, "UNAUTHORIZED", Unauthorized
    );
    worker
        .raw()
        .post(
            &format!("/jobs/{}/complete", taken_id),
            &json!({ "result": "" }),
        )
        .await
        .assert_error(401, "UNAUTHORIZED");

    // Nothing moved: a new session finds the balance, the open job and the accepted job as
    // they were.
    let requester = app.sign_in((*requester.wallet).clone()).await;
    assert_eq!(requester.buckets().await, before);
    assert_eq!(
        requester.job(open_id).await.unwrap().status,
        JobStatus::Posted
    );
    let worker = app.sign_in((*worker.wallet).clone()).await;
    assert_eq!(
        worker.job(taken_id).await.unwrap().status,
        JobStatus::Accepted
    );
    worker.complete_job(taken_id, "r").await.unwrap();
    app.assert_ledger_clean().await;
}

#[tokio::test]
async fn nonces_token_ids_and_grant_keys_come_from_the_randomness_port() {
    let app = spawn_app().await;
    let core = app.core_with(
        app.clock.clone(),
        std::sync::Arc::new(FixedRandomness(0xab)),
    );
    let address = Wallet::random().address();
    let issued = core.request_challenge(address).await.unwrap();
    assert_eq!(issued.challenge.nonce.as_str(), "ab".repeat(16));
    assert_eq!(core.new_token_id().unwrap(), "ab".repeat(16));
    // Operator grants are keyed by what the port drew: the same draw twice grants once.
    let user = app.new_user().await;
    let first = core.grant_promo(user.user_id, Cents::new(7)).await.unwrap();
    let again = core.grant_promo(user.user_id, Cents::new(7)).await.unwrap();
    assert_eq!((first.promo, again.promo), (Cents::new(7), Cents::new(7)));
    app.assert_ledger_clean().await;
}
