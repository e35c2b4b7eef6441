//! Users (contract §4) and path ids (§1).

use j0_client::{HistoryType, IdentityType, UserId};
use j0_testkit::{Wallet, assert_refused, spawn_app, spawn_app_with};

#[tokio::test(flavor = "multi_thread")]
async fn me_shows_the_caller_and_by_id_shows_public_fields_to_anyone() {
    let app = spawn_app().await;
    let session = app.new_user().await;
    let me = session.me().await.unwrap();
    assert_eq!(me.id, session.user_id);
    assert_eq!(me.public_key, session.wallet.address());
    assert_eq!(me.identity_type, IdentityType::EthereumWallet);
    assert_eq!(me.reputation_score, 0.0);

    // Raw: exactly which fields the public view has.
    let public = app
        .raw()
        .get(&format!("/users/{}", session.user_id))
        .await
        .ok();
    let mut keys: Vec<&str> = public
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["created_at", "id", "public_key", "reputation_score"]);
    let public = session.user(session.user_id).await.unwrap();
    assert_eq!(
        (public.public_key, public.created_at),
        (me.public_key, me.created_at)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn path_ids_are_positive_integers() {
    let app = spawn_app().await;
    for missing in [0, 424_242] {
        assert_refused!(
            app.anonymous().user(UserId(missing)).await => 404, "USER_NOT_FOUND",
            NotFound
        );
    }
    for bad in ["abc", "1.5", "-3", "9223372036854775808"] {
        app.raw()
            .get(&format!("/users/{bad}"))
            .await
            .assert_error(400, "VALIDATION_ERROR");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_signup_grant_is_paid_once_on_the_first_sign_in() {
    let app = spawn_app_with(|c| c.auth.signup_promo_cents = 250).await;
    let wallet = Wallet::random();
    let key = wallet.private_key_hex();
    let session = app.sign_in(wallet).await;
    assert_eq!(session.buckets().await, (0, 250));
    app.sign_in(Wallet::from_private_key(&key).unwrap()).await;
    assert_eq!(session.buckets().await, (0, 250));
    let history = session.transactions(None, None).await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|t| (t.kind, t.amount_cents.get()))
            .collect::<Vec<_>>(),
        [(HistoryType::Promo, 250)]
    );
    app.assert_ledger_clean().await;
}
