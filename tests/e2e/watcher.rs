//! The deposit watcher against a node that misbehaves: JSON-RPC errors (it asks for fewer blocks,
//! backs off and retries the same range, skipping nothing), a provider that caps its answers (the
//! range shrinks, then grows back), reorged logs (`removed: true`, never credited) and a node on
//! another chain (never read). It filters by recipient, a page of deposit addresses per query. A
//! real chain cannot produce these on demand, so this node is a small fake speaking JSON-RPC.

use std::{sync::Mutex, time::Duration};

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use j0_client::HistoryType;
use j0_domain::WalletAddress;
use j0_testkit::{Config, Session, TestApp, spawn_app_with};

/// Keccak-256 of `Transfer(address,address,uint256)`.
const TRANSFER: &str = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";

/// What the fake node holds and what it was asked.
struct Node {
    chain_id: u64,
    head: u64,
    logs: Vec<Value>,
    /// The next `eth_getLogs` calls that fail, whatever they ask.
    failures_left: u32,
    /// Ranges wider than this fail while they start below `capped_below`, as a provider's cap
    /// on an answer's size does.
    max_blocks: u64,
    capped_below: u64,
    /// Each answered `eth_getLogs`: its range and the recipients it filtered on.
    served: Vec<(u64, u64, Vec<String>)>,
    failed: u32,
    chain_id_calls: u32,
}

impl Default for Node {
    fn default() -> Self {
        Self {
            chain_id: 8453,
            head: 0,
            logs: Vec::new(),
            failures_left: 0,
            max_blocks: u64::MAX,
            capped_below: 0,
            served: Vec::new(),
            failed: 0,
            chain_id_calls: 0,
        }
    }
}

impl Node {
    /// A node whose head is block `head`.
    fn at(head: u64) -> Self {
        Self {
            head,
            ..Self::default()
        }
    }

    /// The node, with its next `failures` `eth_getLogs` calls failing.
    fn failing(self, failures: u32) -> Self {
        Self {
            failures_left: failures,
            ..self
        }
    }

    /// The node, refusing ranges of more than `max_blocks` that start below `below`.
    fn capped(self, max_blocks: u64, below: u64) -> Self {
        Self {
            max_blocks,
            capped_below: below,
            ..self
        }
    }

    /// The served ranges, without their recipients.
    fn ranges(&self) -> Vec<(u64, u64)> {
        self.served
            .iter()
            .map(|(from, to, _)| (*from, *to))
            .collect()
    }
}

fn quantity(hex: &str) -> u64 {
    u64::from_str_radix(hex.trim_start_matches("0x"), 16).unwrap()
}

/// An address as an indexed topic: `0x`, 24 zeros, its 40 hex digits.
fn topic(address: &WalletAddress) -> String {
    format!("0x{:0>64}", hex(address.as_bytes()))
}

fn transfer_log(
    token: &WalletAddress,
    to: &WalletAddress,
    block: u64,
    index: u64,
    units: u64,
    removed: bool,
) -> Value {
    json!({
        "address": format!("0x{}", hex(token.as_bytes())),
        "topics": [TRANSFER, topic(&WalletAddress::from_bytes([7; 20])), topic(to)],
        "data": format!("0x{units:064x}"),
        "blockNumber": format!("0x{block:x}"),
        "transactionHash": format!("0x{:064x}", block * 1_000 + index),
        "logIndex": format!("0x{index:x}"),
        "removed": removed,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn limit_exceeded(id: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": -32005, "message": "limit exceeded" } })
}

async fn rpc(node: web::Data<Mutex<Node>>, request: web::Json<Value>) -> HttpResponse {
    let mut node = node.lock().unwrap();
    let id = request["id"].clone();
    let answer = match request["method"].as_str() {
        Some("eth_chainId") => {
            node.chain_id_calls += 1;
            json!({ "jsonrpc": "2.0", "id": id, "result": format!("0x{:x}", node.chain_id) })
        }
        Some("eth_blockNumber") => {
            json!({ "jsonrpc": "2.0", "id": id, "result": format!("0x{:x}", node.head) })
        }
        Some("eth_getLogs") if node.failures_left > 0 => {
            node.failures_left -= 1;
            node.failed += 1;
            limit_exceeded(id)
        }
        Some("eth_getLogs") => {
            let filter = &request["params"][0];
            let (from, to) = (
                quantity(filter["fromBlock"].as_str().unwrap()),
                quantity(filter["toBlock"].as_str().unwrap()),
            );
            if from < node.capped_below && to - from + 1 > node.max_blocks {
                node.failed += 1;
                return HttpResponse::Ok().json(limit_exceeded(id));
            }
            assert_eq!(filter["topics"][0], TRANSFER);
            assert_eq!(filter["topics"][1], Value::Null, "any sender");
            let recipients: Vec<String> = filter["topics"][2]
                .as_array()
                .expect("the recipients are a list in the third topic")
                .iter()
                .map(|t| t.as_str().unwrap().to_owned())
                .collect();
            let logs: Vec<Value> = node
                .logs
                .iter()
                .filter(|l| (from..=to).contains(&quantity(l["blockNumber"].as_str().unwrap())))
                .filter(|l| recipients.iter().any(|r| l["topics"][2] == r.as_str()))
                .cloned()
                .collect();
            node.served.push((from, to, recipients));
            json!({ "jsonrpc": "2.0", "id": id, "result": logs })
        }
        _ => {
            json!({ "jsonrpc": "2.0", "id": id, "error": { "code": -32601, "message": "no such method" } })
        }
    };
    HttpResponse::Ok().json(answer)
}

/// Serves `node` over JSON-RPC on a free port; its URL.
fn serve(node: Node) -> (web::Data<Mutex<Node>>, String) {
    let node = web::Data::new(Mutex::new(node));
    let shared = node.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(shared.clone())
            .route("/", web::post().to(rpc))
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")
    .unwrap();
    let url = format!("http://{}/", server.addrs()[0]);
    tokio::spawn(server.run());
    (node, url)
}

fn usdc() -> WalletAddress {
    "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"
        .parse()
        .unwrap()
}

/// Points `config` at the node at `url`, scanning from `start` and counting a deposit once
/// `confirmations` blocks are on top of it.
fn watch(config: &mut Config, url: &str, start: u64, confirmations: u64) {
    config.chain.rpc_url = Some(url.into());
    config.chain.usdc_contract = usdc();
    config.chain.confirmations = confirmations;
    config.chain.start_block = Some(start);
}

/// A server watching the node at `url` from `start`, counting a deposit once `confirmations`
/// blocks are on top of it; a user of it, and their deposit address.
async fn watching(
    url: String,
    start: u64,
    confirmations: u64,
) -> (TestApp, Session, WalletAddress) {
    let app = spawn_app_with(move |c| watch(c, &url, start, confirmations)).await;
    let user = app.new_user().await;
    let address = user.deposit_address().await.unwrap().address;
    (app, user, address)
}

fn contiguous(ranges: &[(u64, u64)]) -> bool {
    ranges.windows(2).all(|w| w[1].0 == w[0].1 + 1)
}

#[tokio::test(flavor = "multi_thread")]
async fn rpc_errors_back_off_without_skipping_blocks_and_removed_logs_never_count() {
    // Nothing is confirmed past the start block until the logs are in place.
    let (node, url) = serve(Node::at(90).failing(2));
    let (app, user, address) = watching(url, 90, 2).await;
    let token = usdc();
    {
        let mut node = node.lock().unwrap();
        node.logs = vec![
            transfer_log(&token, &address, 95, 0, 1_000_000, true),
            transfer_log(&token, &address, 96, 1, 2_000_000, false),
            transfer_log(&token, &address, 98, 0, 3_000_000, false),
            transfer_log(&token, &address, 99, 0, 4_000_000, false),
        ];
        node.head = 100;
    }
    // 2 + 3 USDC; the removed log and block 99 (one confirmation) do not count.
    user.wait_for_cash(500).await;
    let (failed, served) = {
        let node = node.lock().unwrap();
        (node.failed, node.ranges())
    };
    assert_eq!(failed, 2);
    assert_eq!(
        served.first().map(|r| r.0),
        Some(90),
        "the first range starts at the start block"
    );
    assert!(contiguous(&served), "nothing skipped: {served:?}");
    assert!(
        served.iter().all(|(_, to)| *to <= 98),
        "never past head - confirmations: {served:?}"
    );
    assert_eq!(user.transactions_of(HistoryType::Purchase).await.len(), 2);
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_capped_provider_narrows_the_range_and_it_grows_back() {
    // Ranges of more than 8 blocks fail below block 1,000, as a provider capping its answers
    // does; beyond, any range is answered.
    let (node, url) = serve(Node::default().capped(8, 1_000));
    let (app, user, address) = watching(url, 0, 0).await;
    let token = usdc();
    {
        let mut node = node.lock().unwrap();
        node.logs = [3, 500, 999, 1_000, 2_999, 3_000]
            .iter()
            .map(|&block| transfer_log(&token, &address, block, 0, 1_000_000, false))
            .collect();
        node.head = 3_000;
    }
    user.wait_for_cash(600).await;
    let (failed, served) = {
        let node = node.lock().unwrap();
        (node.failed, node.ranges())
    };
    assert!(failed > 0, "the cap was hit");
    assert!(
        served.first().is_some_and(|r| r.0 <= 3),
        "from the start, before the first deposit: {served:?}"
    );
    assert_eq!(served.last().map(|r| r.1), Some(3_000));
    assert!(contiguous(&served), "nothing skipped: {served:?}");
    let width = |(from, to): &(u64, u64)| to - from + 1;
    assert!(
        served.iter().filter(|r| r.0 < 1_000).all(|r| width(r) <= 8),
        "under the cap, only ranges it answers: {served:?}"
    );
    assert!(
        served.iter().any(|r| r.0 >= 1_000 && width(r) >= 256),
        "the window grew back once the cap was gone: {served:?}"
    );
    assert_eq!(user.transactions_of(HistoryType::Purchase).await.len(), 6);
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_are_asked_for_by_recipient_a_page_of_addresses_at_a_time() {
    let (node, url) = serve(Node::at(50));
    let app = spawn_app_with(move |c| {
        watch(c, &url, 40, 0);
        c.chain.addresses_per_query = 2;
    })
    .await;
    let users = [
        app.new_user().await,
        app.new_user().await,
        app.new_user().await,
    ];
    let mut addresses = Vec::new();
    for user in &users {
        addresses.push(user.deposit_address().await.unwrap().address);
    }
    let stranger = WalletAddress::from_bytes([9; 20]);
    let token = usdc();
    {
        let mut node = node.lock().unwrap();
        node.logs = addresses
            .iter()
            .enumerate()
            .map(|(i, a)| transfer_log(&token, a, 55, i as u64, 1_000_000 * (i as u64 + 1), false))
            .collect();
        node.logs
            .push(transfer_log(&token, &stranger, 55, 9, 5_000_000, false));
        node.head = 60;
    }
    for (user, cash) in users.iter().zip([100, 200, 300]) {
        user.wait_for_cash(cash).await;
    }
    let served = node.lock().unwrap().served.clone();
    assert!(
        served.iter().all(|(_, _, r)| !r.is_empty() && r.len() <= 2),
        "pages of at most two addresses: {served:?}"
    );
    let scan_of_55 = served
        .iter()
        .filter(|(from, to, _)| (*from..=*to).contains(&55))
        .flat_map(|(_, _, r)| r.iter().cloned())
        .collect::<std::collections::BTreeSet<_>>();
    let registered = addresses
        .iter()
        .map(topic)
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(
        scan_of_55, registered,
        "every deposit address, and only those"
    );
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_on_another_chain_is_never_read() {
    let (node, url) = serve(Node {
        chain_id: 1,
        ..Node::default()
    });
    let (app, user, address) = watching(url, 90, 0).await;
    {
        let mut node = node.lock().unwrap();
        node.logs = vec![transfer_log(&usdc(), &address, 95, 0, 1_000_000, false)];
        node.head = 100;
    }
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    let (chain_id_calls, served) = {
        let node = node.lock().unwrap();
        (node.chain_id_calls, node.served.clone())
    };
    assert_eq!(chain_id_calls, 1, "asked once; the watcher then stopped");
    assert!(served.is_empty(), "no logs asked for: {served:?}");
    assert_eq!(user.buckets().await, (0, 0));
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_watcher_reports_its_next_block_and_how_far_behind_it_is() {
    use crate::metrics::{Metrics, scrape_until, spawn_metered};
    // Head 44 with 5 confirmations: nothing from the start block, 40, is confirmed yet.
    let (node, url) = serve(Node::at(44));
    let app = spawn_metered(move |c| watch(c, &url, 40, 5)).await;
    let position = |m: &Metrics| {
        (
            m.sum("j0_watcher_block", &[]),
            m.sum("j0_watcher_lag_blocks", &[]),
        )
    };
    let idle = scrape_until(&app, |m| m.has("j0_watcher_lag_blocks", &[])).await;
    assert_eq!(position(&idle), (40.0, 0.0), "{}", idle.text());

    // With a deposit address to ask about, every `eth_getLogs` fails until told otherwise: the
    // watcher stays at block 40 while 40..=45 are confirmed (head 50).
    let user = app.new_user().await;
    user.deposit_address().await.unwrap();
    {
        let mut node = node.lock().unwrap();
        node.failures_left = u32::MAX;
        node.head = 50;
    }
    let stuck = scrape_until(&app, |m| position(m) == (40.0, 6.0)).await;
    assert_eq!(position(&stuck), (40.0, 6.0), "{}", stuck.text());
    node.lock().unwrap().failures_left = 0;
    let caught_up = scrape_until(&app, |m| position(m) == (46.0, 0.0)).await;
    assert_eq!(
        position(&caught_up),
        (46.0, 0.0),
        "the block after the newest confirmed, 45"
    );
    app.assert_ledger_clean().await;
}
