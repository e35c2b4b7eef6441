//! A real local EVM node for tests: anvil, started on a free port, stopped when dropped.
//!
//! The chain is faked at the wire, as the style guide asks: code under test talks JSON-RPC to a
//! real node, and the helpers here drive that node the way a wallet would — plain
//! `eth_sendTransaction` calls from anvil's unlocked dev accounts, so nothing is signed here.
//! Tokens are `contracts/TestUSDC.sol` (an ERC-20 with 6 decimals and an open `mint`), deployed
//! from the committed bytecode `contracts/TestUSDC.bin`.
//!
//! The binary comes from the npm package `@foundry-rs/anvil-linux-amd64`, pinned in the
//! workspace's `package.json`: `npm ci` at the workspace root installs it (CI does the same).
//! `J0_ANVIL` may name another anvil binary instead. A missing binary fails the test, saying
//! how to install it: a chain test that silently skips would hide a broken watcher.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc,
    },
    time::Duration,
};

use ethers_core::{
    abi::{self, Token},
    types::{H160, U256},
    utils::id,
};
use j0_domain::WalletAddress;
use serde_json::{Value, json};

/// The chain id the node runs with: Base's, as in production.
pub const CHAIN_ID: u64 = 8453;

/// Creation bytecode of `contracts/TestUSDC.sol`, as `contracts/build.sh` compiled it.
const TEST_USDC_BIN: &str = include_str!("../../../contracts/TestUSDC.bin");

/// How to get anvil, printed when it is missing.
const INSTALL: &str = "install it with `npm ci` at the workspace root (package.json pins \
     @foundry-rs/anvil-linux-amd64; `npm install --no-save @foundry-rs/anvil-linux-amd64@1.7.1` \
     does the same), or set J0_ANVIL to the path of an anvil binary";

/// How long anvil may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The workspace root: every crate sits in `crates/<name>`.
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .expect("crates live two levels below the workspace root")
}

/// The anvil binary: `J0_ANVIL`, else the npm install under the workspace root.
///
/// # Panics
///
/// When there is none, with the command that installs it.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("J0_ANVIL") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "J0_ANVIL is {}, which is not a file; unset it and {INSTALL}",
            path.display()
        );
        return path;
    }
    let root = workspace_root();
    let candidates = [
        root.join("node_modules/.bin/anvil"),
        root.join("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"),
    ];
    candidates
        .iter()
        .find(|path| path.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "anvil, the local EVM node these tests run against, is not installed \
                 (looked for {} and {}): {INSTALL}",
                candidates[0].display(),
                candidates[1].display()
            )
        })
}

/// A mined transaction as its receipt tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// `0x` + 64 lower-case hex digits.
    pub tx_hash: String,
    /// The block it was mined in.
    pub block_number: u64,
    /// Whether it succeeded (`status` 1).
    pub succeeded: bool,
    /// The contract it created, if it was a deployment.
    pub contract_address: Option<WalletAddress>,
    /// Its logs, in order.
    pub logs: Vec<ReceiptLog>,
}

/// One log of a [`Receipt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptLog {
    /// The contract that emitted it.
    pub address: WalletAddress,
    /// Its index in the block (not in the transaction).
    pub log_index: u64,
}

/// A running anvil node; the process is killed when this is dropped.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    url: String,
    client: reqwest::Client,
    accounts: Vec<WalletAddress>,
    next_id: AtomicU64,
    automine: AtomicBool,
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Anvil {
    /// Starts anvil on a free port of 127.0.0.1 with chain id [`CHAIN_ID`], automining, and
    /// transactions ordered as sent; returns once it answers JSON-RPC.
    ///
    /// `--port 0` lets the kernel pick the port and anvil prints the one it bound, so parallel
    /// tests never race for a port.
    pub async fn start() -> Self {
        let binary = binary();
        let mut child = Command::new(&binary)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(["--chain-id", &CHAIN_ID.to_string()])
            .args(["--order", "fifo"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}; {INSTALL}", binary.display()));
        let stdout = child.stdout.take().expect("stdout is piped");

        // Anvil logs every request to stdout: a thread reads it for the whole run so that a full
        // pipe never blocks the node, passing lines on until the listening address is known.
        let (lines, received) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let mut seen = Vec::new();
        let address = loop {
            match received.recv_timeout(START_TIMEOUT) {
                Ok(line) => {
                    if let Some(address) = line.trim().strip_prefix("Listening on ") {
                        break address.trim().to_owned();
                    }
                    seen.push(line);
                }
                Err(e) => {
                    let _ = child.kill();
                    let status = child.wait();
                    panic!(
                        "anvil ({}) did not start ({e}, exit: {status:?}); its output:\n{}",
                        binary.display(),
                        seen.join("\n")
                    );
                }
            }
        };
        // Later lines are dropped by the reader thread once `received` is gone.
        drop(received);

        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("HTTP client");
        let mut anvil = Self {
            child,
            url: format!("http://{address}"),
            client,
            accounts: Vec::new(),
            next_id: AtomicU64::new(1),
            automine: AtomicBool::new(true),
        };
        anvil.wait_until_ready().await;
        let accounts = anvil.rpc("eth_accounts", json!([])).await;
        anvil.accounts = serde_json::from_value::<Vec<String>>(accounts)
            .expect("eth_accounts is a list of addresses")
            .iter()
            .map(|a| a.parse().expect("a dev account address"))
            .collect();
        assert!(anvil.accounts.len() >= 2, "anvil has dev accounts");
        anvil
    }

    async fn wait_until_ready(&self) {
        for _ in 0..100 {
            if let Ok(Ok(chain_id)) = self.try_rpc("eth_chainId", json!([])).await {
                assert_eq!(quantity(&chain_id), CHAIN_ID, "anvil's chain id");
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("anvil at {} does not answer eth_chainId", self.url);
    }

    /// The JSON-RPC endpoint, `http://127.0.0.1:<port>`.
    pub fn rpc_url(&self) -> &str {
        &self.url
    }

    /// The unlocked dev accounts, each holding 10 000 ETH.
    pub fn accounts(&self) -> &[WalletAddress] {
        &self.accounts
    }

    /// The first dev account: deploys tokens and sends [`Anvil::transfer`]s.
    pub fn deployer(&self) -> WalletAddress {
        self.accounts[0]
    }

    /// Calls `method`: the outer `Err` when the request itself fails, the inner `Err` with the
    /// JSON-RPC `error` object.
    pub async fn try_rpc(
        &self,
        method: &str,
        params: Value,
    ) -> Result<Result<Value, Value>, reqwest::Error> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let mut response: Value = self
            .client
            .post(&self.url)
            .json(&body)
            .send()
            .await?
            .json()
            .await?;
        Ok(match response.get_mut("error") {
            Some(error) => Err(error.take()),
            None => Ok(response
                .get_mut("result")
                .map(Value::take)
                .unwrap_or(Value::Null)),
        })
    }

    /// Calls `method` and returns its `result`.
    ///
    /// # Panics
    ///
    /// On any failure, naming the method and the node's error.
    pub async fn rpc(&self, method: &str, params: Value) -> Value {
        match self.try_rpc(method, params.clone()).await {
            Ok(Ok(result)) => result,
            Ok(Err(error)) => panic!("anvil: {method}({params}) failed: {error}"),
            Err(e) => panic!("anvil: {method}({params}) not answered: {e}"),
        }
    }

    /// The latest block number.
    pub async fn head(&self) -> u64 {
        quantity(&self.rpc("eth_blockNumber", json!([])).await)
    }

    /// Mines `blocks` blocks (empty unless transactions are pending).
    pub async fn mine(&self, blocks: u64) {
        self.rpc("anvil_mine", json!([format!("{blocks:#x}")]))
            .await;
    }

    /// Turns automining on (each transaction in its own block, the default) or off
    /// (transactions wait for [`Anvil::mine`], which puts them all in one block, in the order
    /// sent).
    pub async fn set_automine(&self, on: bool) {
        self.rpc("evm_setAutomine", json!([on])).await;
        self.automine.store(on, Ordering::SeqCst);
    }

    /// Sends a transaction from the unlocked dev account `from`; returns its hash. With
    /// automining it is mined before this returns (anvil answers `eth_sendTransaction` before its
    /// block is sealed, so this waits for the receipt); without, it stays pending.
    pub async fn send(
        &self,
        from: WalletAddress,
        to: Option<WalletAddress>,
        data: &[u8],
    ) -> String {
        let mut tx =
            json!({ "from": hex_address(&from), "data": format!("0x{}", hex::encode(data)) });
        if let Some(to) = to {
            tx["to"] = json!(hex_address(&to));
        }
        let hash = self.rpc("eth_sendTransaction", json!([tx])).await;
        let hash = hash
            .as_str()
            .expect("a transaction hash")
            .to_ascii_lowercase();
        if self.automine.load(Ordering::SeqCst) {
            for _ in 0..400 {
                if self.receipt(&hash).await.is_some() {
                    return hash;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            panic!("{hash} was not mined within 10 s although automining is on");
        }
        hash
    }

    /// Sends `from` → `contract` a call to `signature` (e.g. `"mint(address,uint256)"`) with
    /// ABI-encoded `args`; returns the transaction hash.
    pub async fn call_contract(
        &self,
        from: WalletAddress,
        contract: WalletAddress,
        signature: &str,
        args: &[Token],
    ) -> String {
        let mut data = id(signature).to_vec();
        data.extend(abi::encode(args));
        self.send(from, Some(contract), &data).await
    }

    /// The receipt of `tx_hash`, or `None` while it is pending.
    pub async fn receipt(&self, tx_hash: &str) -> Option<Receipt> {
        let receipt = self
            .rpc("eth_getTransactionReceipt", json!([tx_hash]))
            .await;
        if receipt.is_null() {
            return None;
        }
        let logs = receipt["logs"]
            .as_array()
            .expect("receipt logs")
            .iter()
            .map(|log| ReceiptLog {
                address: log["address"].as_str().unwrap().parse().unwrap(),
                log_index: quantity(&log["logIndex"]),
            })
            .collect();
        Some(Receipt {
            tx_hash: receipt["transactionHash"]
                .as_str()
                .unwrap()
                .to_ascii_lowercase(),
            block_number: quantity(&receipt["blockNumber"]),
            succeeded: quantity(&receipt["status"]) == 1,
            contract_address: receipt["contractAddress"]
                .as_str()
                .map(|a| a.parse().unwrap()),
            logs,
        })
    }

    /// The receipt of a transaction that must be mined and have succeeded.
    pub async fn mined(&self, tx_hash: &str) -> Receipt {
        let receipt = self
            .receipt(tx_hash)
            .await
            .unwrap_or_else(|| panic!("{tx_hash} is still pending"));
        assert!(receipt.succeeded, "{tx_hash} reverted: {receipt:?}");
        receipt
    }

    /// Deploys a `TestUSDC` named and symbolised `name` from [`Anvil::deployer`]; needs
    /// automining.
    pub async fn deploy_token(&self, name: &str) -> WalletAddress {
        let mut code = hex::decode(TEST_USDC_BIN.trim()).expect("TestUSDC.bin is hex");
        code.extend(abi::encode(&[
            Token::String(name.to_owned()),
            Token::String(name.to_owned()),
        ]));
        let tx = self.send(self.deployer(), None, &code).await;
        self.mined(&tx)
            .await
            .contract_address
            .expect("a deployment creates a contract")
    }

    /// Mints `amount_units` base units of `token` to `to` (a `Transfer` from the zero address);
    /// returns the transaction hash.
    pub async fn mint(
        &self,
        token: WalletAddress,
        to: WalletAddress,
        amount_units: u128,
    ) -> String {
        self.call_contract(
            self.deployer(),
            token,
            "mint(address,uint256)",
            &[address_token(&to), Token::Uint(U256::from(amount_units))],
        )
        .await
    }

    /// Transfers `amount_units` of `token` from [`Anvil::deployer`] to `to`; returns the
    /// transaction hash.
    pub async fn transfer(
        &self,
        token: WalletAddress,
        to: WalletAddress,
        amount_units: u128,
    ) -> String {
        self.transfer_from(token, self.deployer(), to, amount_units)
            .await
    }

    /// Transfers `amount_units` of `token` from the dev account `from` to `to`; returns the
    /// transaction hash.
    pub async fn transfer_from(
        &self,
        token: WalletAddress,
        from: WalletAddress,
        to: WalletAddress,
        amount_units: u128,
    ) -> String {
        self.call_contract(
            from,
            token,
            "transfer(address,uint256)",
            &[address_token(&to), Token::Uint(U256::from(amount_units))],
        )
        .await
    }

    /// `owner`'s balance of `token`, in base units.
    pub async fn balance_of(&self, token: WalletAddress, owner: WalletAddress) -> u128 {
        let mut data = id("balanceOf(address)").to_vec();
        data.extend(abi::encode(&[address_token(&owner)]));
        let call = json!({ "to": hex_address(&token), "data": format!("0x{}", hex::encode(data)) });
        let result = self.rpc("eth_call", json!([call, "latest"])).await;
        let bytes = hex::decode(result.as_str().unwrap().trim_start_matches("0x")).unwrap();
        U256::from_big_endian(&bytes).as_u128()
    }

    /// The runtime code at `address` (empty for an account without code).
    pub async fn code(&self, address: WalletAddress) -> Vec<u8> {
        let code = self
            .rpc("eth_getCode", json!([hex_address(&address), "latest"]))
            .await;
        hex::decode(code.as_str().unwrap().trim_start_matches("0x")).unwrap()
    }
}

/// A JSON-RPC hex quantity as a number.
fn quantity(value: &Value) -> u64 {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a hex quantity"));
    u64::from_str_radix(text.trim_start_matches("0x"), 16)
        .unwrap_or_else(|e| panic!("{text} is not a hex quantity: {e}"))
}

/// `0x` + 40 lower-case hex digits.
fn hex_address(address: &WalletAddress) -> String {
    format!("0x{}", hex::encode(address.as_bytes()))
}

fn address_token(address: &WalletAddress) -> Token {
    Token::Address(H160(*address.as_bytes()))
}
