//! USDC deposits (contract §7) against a real local chain (anvil): each user's deposit address,
//! credits only after the confirmations, exactly once across a watcher restart, and never for
//! another token or another address.

use std::time::Duration;

use serde_json::json;

use j0_adapters_evm::Create2Deposits;
use j0_client::HistoryType;
use j0_ports::chain::DepositAddresses;
use j0_testkit::{anvil::Anvil, spawn_app_with};

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
        c.chain.rpc_url = Some(rpc.into());
        c.chain.usdc_contract = usdc;
        c.chain.confirmations = 3;
        c.chain.start_block = Some(start);
    })
    .await;
    let [user, other] = app.users([0, 0]).await;

    let info = user.deposit_address().await.unwrap();
    assert_eq!(
        (info.network.as_str(), info.chain_id, info.token.as_str()),
        ("Base L2", 8453, "USDC")
    );
    assert_eq!(info.token_contract, usdc);
    assert_eq!(info.min_confirmations, 3);
    let address = info.address;
    let wire = user.raw().get("/payments/usdc/address").await.ok();
    assert_eq!(
        (&wire["address"], &wire["token_contract"]),
        (&json!(address.to_string()), &json!(usdc.to_string())),
        "printed in EIP-55 form"
    );
    assert_eq!(user.deposit_address().await.unwrap(), info, "deterministic");
    let others = other.deposit_address().await.unwrap();
    assert_ne!(others.address, info.address);

    let tx = anvil.transfer(usdc, address, 12_345_678).await;
    anvil.transfer(bridged, address, 5_000_000).await;
    anvil.transfer(usdc, anvil.accounts()[5], 7_000_000).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        user.buckets().await,
        (0, 0),
        "two blocks on top are not three"
    );

    anvil.mine(1).await;
    user.wait_for_cash(1_234).await;
    let rows = user.transactions_of(HistoryType::Purchase).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].amount_cents.get(), 1_234);
    assert_eq!(
        rows[0].description,
        format!("Deposited 12.34 USDC on Base (tx {tx})")
    );

    let restarted = app.spawn_peer().await;
    app.stop().await;
    let (user, other) = (user.on(&restarted), other.on(&restarted));
    anvil.mine(5).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        user.buckets().await,
        (1_234, 0),
        "nothing credited twice after a restart"
    );

    let silent = restarted.new_user().await;
    let never_asked = Create2Deposits::new(
        restarted.config.chain.deposit_factory,
        restarted.config.chain.deposit_init_code_hash,
    )
    .deposit_address(silent.user_id);
    anvil.transfer(usdc, never_asked, 2_500_000).await;
    let second = anvil.transfer(usdc, address, 1_000_000).await;
    anvil.mine(3).await;
    user.wait_for_cash(1_334).await;
    assert_eq!(
        user.transactions_of(HistoryType::Purchase).await[0].description,
        format!("Deposited 1.00 USDC on Base (tx {second})")
    );
    silent.wait_for_cash(250).await;
    assert_eq!(other.buckets().await, (0, 0));
    restarted.assert_ledger_clean().await;
}
