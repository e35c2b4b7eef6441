//! The deposit watcher against a node that misbehaves: JSON-RPC errors (it backs off and retries
//! the same range, skipping nothing) and reorged logs (`removed: true`, never credited). A real
//! chain cannot produce these on demand, so this node is a small fake speaking JSON-RPC.

use std::sync::Mutex;

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use j0_client::HistoryType;
use j0_domain::WalletAddress;
use j0_testkit::spawn_app_with;

/// Keccak-256 of `Transfer(address,address,uint256)`.
const TRANSFER: &str = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";

#[derive(Default)]
struct Node {
    head: u64,
    logs: Vec<Value>,
    failures_left: u32,
    served: Vec<(u64, u64)>,
    failed: u32,
}

fn quantity(hex: &str) -> u64 {
    u64::from_str_radix(hex.trim_start_matches("0x"), 16).unwrap()
}

fn transfer_log(
    token: &WalletAddress,
    to: &WalletAddress,
    block: u64,
    index: u64,
    units: u64,
    removed: bool,
) -> Value {
    let pad = |address: &WalletAddress| format!("0x{:0>64}", hex(address.as_bytes()));
    json!({
        "address": format!("0x{}", hex(token.as_bytes())),
        "topics": [TRANSFER, pad(&WalletAddress::from_bytes([7; 20])), pad(to)],
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

async fn rpc(node: web::Data<Mutex<Node>>, request: web::Json<Value>) -> HttpResponse {
    let mut node = node.lock().unwrap();
    let id = request["id"].clone();
    let answer = match request["method"].as_str() {
        Some("eth_blockNumber") => {
            json!({ "jsonrpc": "2.0", "id": id, "result": format!("0x{:x}", node.head) })
        }
        Some("eth_getLogs") if node.failures_left > 0 => {
            node.failures_left -= 1;
            node.failed += 1;
            json!({ "jsonrpc": "2.0", "id": id, "error": { "code": -32005, "message": "limit exceeded" } })
        }
        Some("eth_getLogs") => {
            let filter = &request["params"][0];
            let (from, to) = (
                quantity(filter["fromBlock"].as_str().unwrap()),
                quantity(filter["toBlock"].as_str().unwrap()),
            );
            node.served.push((from, to));
            let logs: Vec<Value> = node
                .logs
                .iter()
                .filter(|l| (from..=to).contains(&quantity(l["blockNumber"].as_str().unwrap())))
                .cloned()
                .collect();
            json!({ "jsonrpc": "2.0", "id": id, "result": logs })
        }
        _ => {
            json!({ "jsonrpc": "2.0", "id": id, "error": { "code": -32601, "message": "no such method" } })
        }
    };
    HttpResponse::Ok().json(answer)
}

#[tokio::test(flavor = "multi_thread")]
async fn rpc_errors_back_off_without_skipping_blocks_and_removed_logs_never_count() {
    let node = web::Data::new(Mutex::new(Node {
        head: 100,
        failures_left: 2,
        ..Node::default()
    }));
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

    let token: WalletAddress = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"
        .parse()
        .unwrap();
    let app = spawn_app_with(move |c| {
        c.evm_rpc_url = Some(url);
        c.usdc_contract = token;
        c.usdc_confirmations = 2;
        c.usdc_poll_sec = 1;
        c.usdc_start_block = Some(90);
    })
    .await;
    let user = app.new_user().await;
    let address = user.deposit_address().await.unwrap().address;
    {
        let mut node = node.lock().unwrap();
        node.logs = vec![
            transfer_log(&token, &address, 95, 0, 1_000_000, true),
            transfer_log(&token, &address, 96, 1, 2_000_000, false),
            transfer_log(&token, &address, 98, 0, 3_000_000, false),
            transfer_log(&token, &address, 99, 0, 4_000_000, false),
        ];
    }
    // 2 + 3 USDC; the removed log and block 99 (one confirmation) do not count.
    user.wait_for_cash(500).await;
    let (failed, served) = {
        let node = node.lock().unwrap();
        (node.failed, node.served.clone())
    };
    assert_eq!(failed, 2);
    assert_eq!(
        served.first().map(|r| r.0),
        Some(90),
        "the first range starts at the start block"
    );
    assert!(
        served.windows(2).all(|w| w[1].0 == w[0].1 + 1),
        "contiguous, nothing skipped: {served:?}"
    );
    assert!(
        served.iter().all(|(_, to)| *to <= 98),
        "never past head - confirmations: {served:?}"
    );
    assert_eq!(user.transactions_of(HistoryType::Purchase).await.len(), 2);
    app.assert_ledger_clean().await;
}
