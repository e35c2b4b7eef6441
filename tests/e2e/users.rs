//! Users (contract §4) and path ids (§1).

use serde_json::json;

use j0_testkit::{Wallet, spawn_app, spawn_app_with};

#[tokio::test(flavor = "multi_thread")]
async fn me_shows_the_caller_and_by_id_shows_public_fields_to_anyone() {
    let app = spawn_app().await;
    let session = app.new_user().await;
    let me = session.get(&app, "/users/me").await.ok();
    assert_eq!(me["id"].as_i64(), Some(session.user_id.0));
    assert_eq!(me["public_key"], session.wallet.address().to_string());
    assert_eq!(me["identity_type"], "ethereum_wallet");
    assert_eq!(me["reputation_score"], 0.0);

    let public = app
        .get_anon(&format!("/users/{}", session.user_id))
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
    assert_eq!(public["public_key"], me["public_key"]);
    assert_eq!(public["created_at"], me["created_at"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn path_ids_are_positive_integers() {
    let app = spawn_app().await;
    app.get_anon("/users/0")
        .await
        .assert_error(404, "USER_NOT_FOUND");
    app.get_anon("/users/424242")
        .await
        .assert_error(404, "USER_NOT_FOUND");
    for bad in ["abc", "1.5", "-3", "9223372036854775808"] {
        app.get_anon(&format!("/users/{bad}"))
            .await
            .assert_error(400, "VALIDATION_ERROR");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_signup_grant_is_paid_once_on_the_first_sign_in() {
    let app = spawn_app_with(|c| c.signup_promo_cents = 250).await;
    let wallet = Wallet::random();
    let key = wallet.private_key_hex();
    let session = app.sign_in(wallet).await;
    assert_eq!(session.balance(&app).await, (0, 250));
    app.sign_in(Wallet::from_private_key(&key).unwrap()).await;
    assert_eq!(session.balance(&app).await, (0, 250));
    let history = session.get(&app, "/credits/transactions").await.ok();
    assert_eq!(
        history["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["type"].clone(), t["amount_cents"].clone()))
            .collect::<Vec<_>>(),
        [(json!("promo"), json!(250))]
    );
    app.assert_ledger_clean().await;
}
