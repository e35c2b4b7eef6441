//! The EVM adapter against a real local chain (anvil): the JSON-RPC reader sees exactly the
//! transfers the chain holds, and CREATE2 deposit addresses are where a real deployment lands.
//!
//! Needs anvil: `npm ci` at the workspace root (see `crates/fakes/src/anvil.rs`). Without it
//! these tests fail, saying so; they never skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use ethers_core::{abi::Token, types::U256};
use j0_adapters_evm::{
    Create2Deposits, DEFAULT_FORWARDER_IMPLEMENTATION, JsonRpcChain, minimal_proxy_init_code,
};
use j0_domain::{UserId, WalletAddress};
use j0_fakes::anvil::{self, Anvil, Receipt};
use j0_ports::chain::{ChainReader, DepositAddresses, TokenTransfer};

fn reader(anvil: &Anvil) -> JsonRpcChain {
    JsonRpcChain::new(anvil.rpc_url()).unwrap()
}

fn deposit_address(user: i64) -> WalletAddress {
    Create2Deposits::default().deposit_address(UserId(user))
}

/// What `token_transfers` must report for the one `token` log of a mined transaction.
fn expected(
    receipt: &Receipt,
    token: WalletAddress,
    from: WalletAddress,
    to: WalletAddress,
    amount: u128,
) -> TokenTransfer {
    let logs: Vec<_> = receipt.logs.iter().filter(|l| l.address == token).collect();
    assert_eq!(logs.len(), 1, "one log of {token} in {receipt:?}");
    TokenTransfer {
        tx_hash: receipt.tx_hash.clone(),
        log_index: logs[0].log_index,
        block_number: receipt.block_number,
        token,
        from,
        to,
        amount,
        removed: false,
    }
}

#[tokio::test]
async fn head_follows_the_chain() {
    let anvil = Anvil::start().await;
    let chain = reader(&anvil);
    assert_eq!(chain.chain_id().await.unwrap(), anvil::CHAIN_ID);
    assert_eq!(chain.head().await.unwrap(), 0);
    anvil.mine(5).await;
    assert_eq!(chain.head().await.unwrap(), 5);
    let token = anvil.deploy_token("Test USDC").await;
    assert_eq!(chain.head().await.unwrap(), 6);
    anvil.transfer(token, deposit_address(1), 1).await;
    anvil.mine(100).await;
    assert_eq!(chain.head().await.unwrap(), 107);
    assert_eq!(chain.head().await.unwrap(), anvil.head().await);
}

#[tokio::test]
async fn reads_exactly_the_transfers_of_the_token_asked_for() {
    let anvil = Anvil::start().await;
    let chain = reader(&anvil);
    let deployer = anvil.deployer();
    let alice = anvil.accounts()[1];
    let zero = WalletAddress::from_bytes([0; 20]);
    let (one, two) = (deposit_address(1), deposit_address(2));
    let everyone = [deployer, alice, one, two];

    let usdc = anvil.deploy_token("Test USDC").await;
    let other = anvil.deploy_token("Bridged USDbC").await;
    assert_ne!(usdc, other);

    // One transaction per block while automining: mints (from zero), then transfers.
    let mut want = Vec::new();
    let mut other_want = Vec::new();
    for (token, from, to, amount) in [
        (usdc, zero, deployer, 1_000_000_000),
        (usdc, zero, alice, 50_000_000),
        (other, zero, deployer, 7_000_000),
        (usdc, deployer, one, 12_340_000),
        (other, deployer, one, 5_000_000),
    ] {
        let tx = if from == zero {
            anvil.mint(token, to, amount).await
        } else {
            anvil.transfer(token, to, amount).await
        };
        let transfer = expected(&anvil.mined(&tx).await, token, from, to, amount);
        let of_token = if token == usdc {
            &mut want
        } else {
            &mut other_want
        };
        of_token.push(transfer);
    }
    // The first deposit to `one`.
    let first_deposit = want[2].block_number;
    anvil.mine(3).await;

    // Several logs in one block: indexes count across the block, not per transaction.
    anvil.set_automine(false).await;
    let sent = [
        anvil.transfer(usdc, two, 1).await,
        anvil.transfer(other, two, 2).await,
        anvil.transfer_from(usdc, alice, one, 3_000_000).await,
    ];
    assert!(
        anvil.receipt(&sent[0]).await.is_none(),
        "pending until mined"
    );
    anvil.mine(1).await;
    anvil.set_automine(true).await;
    let receipts = [
        anvil.mined(&sent[0]).await,
        anvil.mined(&sent[1]).await,
        anvil.mined(&sent[2]).await,
    ];
    let shared_block = receipts[0].block_number;
    assert!(receipts.iter().all(|r| r.block_number == shared_block));
    want.push(expected(&receipts[0], usdc, deployer, two, 1));
    other_want.push(expected(&receipts[1], other, deployer, two, 2));
    want.push(expected(&receipts[2], usdc, alice, one, 3_000_000));
    let indexes: Vec<_> = want[want.len() - 2..].iter().map(|t| t.log_index).collect();
    assert_eq!(indexes, [0, 2]);
    anvil.mine(2).await;
    let head = anvil.head().await;

    // The whole chain: exactly the USDC transfers, in chain order, with the receipts' facts.
    let got = chain
        .token_transfers(&usdc, &everyone, 0..=head)
        .await
        .unwrap();
    assert_eq!(got, want);
    assert_eq!(got.iter().map(|t| t.amount).sum::<u128>(), 1_065_340_001);
    assert_eq!(anvil.balance_of(usdc, one).await, 15_340_000);

    // Asked for some recipients, exactly their transfers; several in one query.
    let to = |who: &[WalletAddress]| -> Vec<TokenTransfer> {
        want.iter()
            .filter(|t| who.contains(&t.to))
            .cloned()
            .collect()
    };
    for who in [&[one][..], &[two], &[one, two], &[alice, deployer]] {
        assert_eq!(
            chain.token_transfers(&usdc, who, 0..=head).await.unwrap(),
            to(who),
            "{who:?}"
        );
    }
    assert_eq!(to(&[one]).len(), 2);
    assert_eq!(
        chain.token_transfers(&usdc, &[], 0..=head).await.unwrap(),
        []
    );

    // The other token's transfers never show up for USDC, and the reverse.
    let got_other = chain
        .token_transfers(&other, &everyone, 0..=head)
        .await
        .unwrap();
    assert_eq!(got_other, other_want);
    let usdc_txs: HashSet<_> = got.iter().map(|t| &t.tx_hash).collect();
    assert!(got_other.iter().all(|t| !usdc_txs.contains(&t.tx_hash)));

    // Bounded ranges are inclusive at both ends and see nothing outside.
    let b = first_deposit;
    assert_eq!(
        chain
            .token_transfers(&usdc, &everyone, b..=b)
            .await
            .unwrap(),
        [want[2].clone()]
    );
    assert_eq!(
        chain
            .token_transfers(&usdc, &everyone, 0..=b)
            .await
            .unwrap(),
        want[..3].to_vec()
    );
    assert_eq!(
        chain
            .token_transfers(&usdc, &everyone, b + 1..=shared_block - 1)
            .await
            .unwrap(),
        []
    );
    assert_eq!(
        chain
            .token_transfers(&usdc, &everyone, shared_block..=head)
            .await
            .unwrap(),
        want[3..].to_vec()
    );
    assert_eq!(
        chain
            .token_transfers(&usdc, &everyone, b..=b - 1)
            .await
            .unwrap(),
        []
    );

    // Split into chunks, as the watcher asks, the pieces add up to the whole.
    let mut chunked = Vec::new();
    let mut from = 0;
    while from <= head {
        let to = (from + 2).min(head);
        chunked.extend(
            chain
                .token_transfers(&usdc, &everyone, from..=to)
                .await
                .unwrap(),
        );
        from = to + 1;
    }
    assert_eq!(chunked, want);

    // A token that exists but moved nothing, and an address with no code at all.
    let quiet = anvil.deploy_token("Quiet").await;
    assert_eq!(
        chain
            .token_transfers(&quiet, &everyone, 0..=head + 1)
            .await
            .unwrap(),
        []
    );
    assert_eq!(
        chain
            .token_transfers(&one, &everyone, 0..=head + 1)
            .await
            .unwrap(),
        []
    );
}

#[tokio::test]
async fn amounts_at_and_beyond_128_bits() {
    let anvil = Anvil::start().await;
    let chain = reader(&anvil);
    let token = anvil.deploy_token("Huge").await;
    let recipients = [deposit_address(1), deposit_address(2)];
    let tx = anvil.mint(token, deposit_address(1), u128::MAX).await;
    let block = anvil.mined(&tx).await.block_number;
    let got = chain
        .token_transfers(&token, &recipients, block..=block)
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].amount, u128::MAX);

    // 2^128 base units cannot be a u128: an error, never a truncated amount.
    let tx = anvil
        .call_contract(
            anvil.deployer(),
            token,
            "mint(address,uint256)",
            &[
                Token::Address(deposit_address(2).as_bytes().into()),
                Token::Uint(U256::one() << 128),
            ],
        )
        .await;
    let block = anvil.mined(&tx).await.block_number;
    let err = chain
        .token_transfers(&token, &recipients, block..=block)
        .await
        .unwrap_err();
    assert!(err.message().contains("does not fit in 128 bits"), "{err}");
}

#[tokio::test]
async fn node_errors_are_chain_errors() {
    let anvil = Anvil::start().await;
    let chain = reader(&anvil);
    let token = anvil.deploy_token("Test USDC").await;
    let head = anvil.head().await;

    // Blocks the node has not reached: its JSON-RPC error, under the method's name.
    let err = chain
        .token_transfers(&token, &[anvil.deployer()], head + 5..=head + 10)
        .await
        .unwrap_err();
    assert!(
        err.message().starts_with("eth_getLogs: JSON-RPC error"),
        "{err}"
    );

    // The node gone: an error naming the method, never the URL.
    let url = anvil.rpc_url().to_owned();
    drop(anvil);
    let err = chain.head().await.unwrap_err();
    assert!(err.message().starts_with("eth_blockNumber: "), "{err}");
    assert!(!err.message().contains(&url), "{err}");
}

#[tokio::test]
async fn deposit_addresses_are_where_the_factory_deploys() {
    let anvil = Anvil::start().await;
    let chain = reader(&anvil);
    let deposits = Create2Deposits::default();
    let usdc = anvil.deploy_token("Test USDC").await;
    anvil.mint(usdc, anvil.deployer(), 100_000_000).await;

    // Deposits arrive before anything is deployed there: the address is counterfactual.
    let user = UserId(42);
    let address = deposits.deposit_address(user);
    assert!(anvil.code(address).await.is_empty());
    let tx = anvil.transfer(usdc, address, 25_000_000).await;
    let block = anvil.mined(&tx).await.block_number;
    let got = chain
        .token_transfers(&usdc, &[address], block..=block)
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].to, got[0].amount), (address, 25_000_000));

    // The default factory (the deterministic deployment proxy anvil carries, as Base does)
    // deploys the default init code with the user's salt exactly at that address.
    let factory = deposits.factory();
    assert!(
        !anvil.code(factory).await.is_empty(),
        "anvil has the factory"
    );
    let implementation: WalletAddress = DEFAULT_FORWARDER_IMPLEMENTATION.parse().unwrap();
    let init_code = minimal_proxy_init_code(&implementation);
    let mut salt = [0u8; 32];
    salt[24..].copy_from_slice(&user.get().to_be_bytes());
    let calldata = [salt.as_slice(), &init_code].concat();
    let tx = anvil.send(anvil.deployer(), Some(factory), &calldata).await;
    anvil.mined(&tx).await;
    let runtime = anvil.code(address).await;
    assert_eq!(
        runtime,
        init_code[10..],
        "the EIP-1167 runtime of the init code"
    );
    // The tokens sent before the deployment are there.
    assert_eq!(anvil.balance_of(usdc, address).await, 25_000_000);
    // Another user's address is still empty.
    assert!(
        anvil
            .code(deposits.deposit_address(UserId(43)))
            .await
            .is_empty()
    );
}
