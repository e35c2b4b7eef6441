//! USDC deposits (contract §7) against a real local chain (anvil): each user's deposit address,
//! credits only after the confirmations, exactly once across a watcher restart, and never for
//! another token or another address.

use std::time::Duration;

use j0_adapters_evm::Create2Deposits;
use j0_domain::WalletAddress;
use j0_ports::chain::DepositAddresses;
use j0_testkit::{Session, TestApp, anvil::Anvil, spawn_app_with};

/// Waits (bounded) until `user`'s cash reaches `cash`.
async fn wait_for_cash(app: &TestApp, user: &Session, cash: i64) {
    for _ in 0..100 {
        if user.balance(app).await.0 == cash {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cash never reached {cash}: {:?}", user.balance(app).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn deposits_are_credited_once_after_their_confirmations() {
    let anvil = Anvil::start().await;
    let usdc = anvil.deploy_token("USDC").await;
    let bridged = anvil.deploy_token("USDbC").await;
    anvil.mint(usdc, anvil.deployer(), 1_000_000_000).await;
    anvil.mint(bridged, anvil.deployer(), 1_000_000_000).await;
    let start = anvil.head().await;
    let rpc = anvil.rpc_url().to_owned();
    let app = spawn_app_with(move |c| {
        c.evm_rpc_url = Some(rpc);
        c.usdc_contract = usdc;
        c.usdc_confirmations = 3;
        c.usdc_poll_sec = 1;
        c.usdc_start_block = Some(start);
    })
    .await;
    let user = app.new_user().await;
    let other = app.new_user().await;

    let info = user.get(&app, "/payments/usdc/address").await.ok();
    assert_eq!(info["network"], "Base L2");
    assert_eq!(info["chain_id"], 8453);
    assert_eq!(info["token"], "USDC");
    assert_eq!(info["token_contract"], usdc.to_string());
    assert_eq!(info["min_confirmations"], 3);
    let address: WalletAddress = info["address"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        info["address"],
        address.to_string(),
        "printed in EIP-55 form"
    );
    assert_eq!(
        user.get(&app, "/payments/usdc/address").await.ok(),
        info,
        "deterministic"
    );
    let others = other.get(&app, "/payments/usdc/address").await.ok();
    assert_ne!(others["address"], info["address"]);

    let tx = anvil.transfer(usdc, address, 12_345_678).await;
    anvil.transfer(bridged, address, 5_000_000).await;
    anvil.transfer(usdc, anvil.accounts()[5], 7_000_000).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        user.balance(&app).await,
        (0, 0),
        "two blocks on top are not three"
    );

    anvil.mine(1).await;
    wait_for_cash(&app, &user, 1_234).await;
    let rows = user.transactions_of(&app, "purchase").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["amount_cents"], 1_234);
    assert_eq!(
        rows[0]["description"],
        format!("Deposited 12.34 USDC on Base (tx {tx})")
    );

    let restarted = app.spawn_peer().await;
    app.stop().await;
    anvil.mine(5).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        user.balance(&restarted).await,
        (1_234, 0),
        "nothing credited twice after a restart"
    );

    let silent = restarted.new_user().await;
    let never_asked = Create2Deposits::new(
        restarted.config.deposit_factory,
        restarted.config.deposit_init_code_hash,
    )
    .deposit_address(silent.user_id);
    anvil.transfer(usdc, never_asked, 2_500_000).await;
    let second = anvil.transfer(usdc, address, 1_000_000).await;
    anvil.mine(3).await;
    wait_for_cash(&restarted, &user, 1_334).await;
    assert_eq!(
        user.transactions_of(&restarted, "purchase").await[0]["description"],
        format!("Deposited 1.00 USDC on Base (tx {second})")
    );
    wait_for_cash(&restarted, &silent, 250).await;
    assert_eq!(other.balance(&restarted).await, (0, 0));
    restarted.assert_ledger_clean().await;
}
