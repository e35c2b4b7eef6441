//! The [`ChainReader`] port over HTTP JSON-RPC: the chain head and ERC-20 `Transfer` logs.
//!
//! Three methods are enough for the deposit watcher: `eth_chainId`, `eth_blockNumber` and
//! `eth_getLogs` filtered by token contract, the `Transfer(address,address,uint256)` topic and the
//! recipients. Every failure — the node
//! unreachable, a timeout, an HTTP error status, a JSON-RPC `error` object, an answer that does
//! not parse — is a [`ChainError`]; the watcher backs off and asks again for the same blocks, so
//! nothing here retries or skips.
//!
//! The endpoint URL often carries an API key (in its path or query), so it never appears in an
//! error or in `Debug` output: errors name the JSON-RPC method and what went wrong, nothing else.

use std::{
    fmt,
    ops::RangeInclusive,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use async_trait::async_trait;
use ethers_core::{
    types::{H256, Log, U64, U256},
    utils::keccak256,
};
use j0_domain::WalletAddress;
use j0_ports::chain::{ChainError, ChainReader, TokenTransfer};
use reqwest::Url;
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Value, json};

/// How long one JSON-RPC request may take, connecting included, before it fails.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The ERC-20 event whose logs are read; its keccak256 is the logs' first topic.
const TRANSFER_EVENT: &str = "Transfer(address,address,uint256)";

/// An EVM node reached over HTTP(S) JSON-RPC: `eth_chainId`, `eth_blockNumber` and `eth_getLogs`.
///
/// Every failure is a [`ChainError`] naming the JSON-RPC method and what went wrong; nothing is
/// retried or skipped here (the watcher backs off and asks for the same blocks again). The
/// endpoint URL may carry an API key, so it appears in no error and no `Debug` output, which
/// shows the host only.
pub struct JsonRpcChain {
    client: reqwest::Client,
    url: Url,
    next_id: AtomicU64,
}

impl fmt::Debug for JsonRpcChain {
    // Only the host: the path and query may hold an API key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonRpcChain")
            .field("host", &self.url.host_str().unwrap_or_default())
            .finish_non_exhaustive()
    }
}

impl JsonRpcChain {
    /// A reader for the node at `url` (`http` or `https`), with [`REQUEST_TIMEOUT`] per request.
    pub fn new(url: &str) -> Result<Self, ChainError> {
        Self::with_timeout(url, REQUEST_TIMEOUT)
    }

    /// A reader for the node at `url` whose requests fail after `timeout`.
    pub fn with_timeout(url: &str, timeout: Duration) -> Result<Self, ChainError> {
        // The parse error never quotes its input, so the URL stays out of the message.
        let url =
            Url::parse(url).map_err(|e| ChainError::caused_by("the JSON-RPC URL is invalid", e))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ChainError::new(
                "the JSON-RPC URL must be http:// or https://",
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| transport("cannot build the HTTP client", e))?;
        Ok(Self {
            client,
            url,
            next_id: AtomicU64::new(1),
        })
    }

    /// Calls `method` and decodes its `result` as `T`.
    async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
    ) -> Result<T, ChainError> {
        let fail = |what: String| ChainError::new(format!("{method}: {what}"));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let request = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let response = self
            .client
            .post(self.url.clone())
            .json(&request)
            .send()
            .await
            .map_err(|e| transport(method, e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| transport(method, e))?;
        // Some providers answer a JSON-RPC error with a 4xx/5xx status (rate limits): its message
        // says more than the status does, so it wins when the body has one.
        let parsed = serde_json::from_slice::<Response<T>>(&body);
        if let Ok(Response {
            error: Some(error), ..
        }) = &parsed
        {
            return Err(fail(format!(
                "JSON-RPC error {}: {}",
                error.code, error.message
            )));
        }
        if !status.is_success() {
            return Err(fail(format!("HTTP {status}")));
        }
        match parsed {
            Ok(Response {
                result: Some(result),
                ..
            }) => Ok(result),
            Ok(_) => Err(fail("the response has neither result nor error".to_owned())),
            Err(e) => Err(fail(format!("malformed response: {e}"))),
        }
    }
}

/// A JSON-RPC response; `result` is absent (or null) when `error` is present.
#[derive(Deserialize)]
struct Response<T> {
    // A missing `Option` field is `None` to serde; `#[serde(default)]` would demand `T: Default`.
    result: Option<T>,
    #[serde(default)]
    error: Option<RpcError>,
}

/// A JSON-RPC `error` object.
#[derive(Deserialize)]
struct RpcError {
    code: i64,
    #[serde(default)]
    message: String,
}

/// A transport failure of `what` (a method, or building the client), the reqwest error its
/// source, without the request URL.
///
/// `without_url` drops the URL from the error's own message; its causes (connect, TLS, I/O and
/// decoding errors) never carry it.
fn transport(what: &str, error: reqwest::Error) -> ChainError {
    let failed = if error.is_timeout() {
        "timed out"
    } else {
        "request failed"
    };
    ChainError::caused_by(format!("{what}: {failed}"), error.without_url())
}

/// `0x`-prefixed hex quantity, as JSON-RPC wants block numbers.
fn quantity(n: u64) -> String {
    format!("{n:#x}")
}

/// The `Transfer` topic: keccak256 of the event signature.
fn transfer_topic() -> H256 {
    H256(keccak256(TRANSFER_EVENT))
}

/// A log as a [`TokenTransfer`]; `Ok(None)` for a log that is not a standard ERC-20 transfer.
///
/// The node is asked only for `token`'s logs with the `Transfer` topic, so a log from another
/// contract or with another topic means the node answered something else than asked: an error.
/// A log with fewer than three topics or data other than one 32-byte word, though, is a real
/// event of a non-standard shape (ERC-721's `Transfer` indexes its third argument and has no
/// data; some tokens index nothing). It is not an ERC-20 amount to credit, and refusing the whole
/// range would stall the watcher on that block for ever, so it is skipped.
fn decode(token: &WalletAddress, log: &Log) -> Result<Option<TokenTransfer>, ChainError> {
    let fail = |what: &str| ChainError::new(format!("eth_getLogs: {what}"));
    if log.address.0 != *token.as_bytes() {
        return Err(fail("a log from another contract than the one asked for"));
    }
    if log.topics.first() != Some(&transfer_topic()) {
        return Err(fail("a log with another topic than Transfer"));
    }
    let (Some(from), Some(to)) = (log.topics.get(1), log.topics.get(2)) else {
        return Ok(None);
    };
    if log.data.len() != 32 {
        return Ok(None);
    }
    let amount = U256::from_big_endian(&log.data);
    if amount > U256::from(u128::MAX) {
        return Err(fail(&format!(
            "a Transfer amount of {amount} does not fit in 128 bits"
        )));
    }
    let tx_hash = log
        .transaction_hash
        .ok_or_else(|| fail("a log without transactionHash"))?;
    let log_index = log
        .log_index
        .ok_or_else(|| fail("a log without logIndex"))?;
    if log_index > U256::from(u64::MAX) {
        return Err(fail("a logIndex beyond 64 bits"));
    }
    let block_number = log
        .block_number
        .ok_or_else(|| fail("a log without blockNumber"))?;
    Ok(Some(TokenTransfer {
        tx_hash: format!("0x{}", hex::encode(tx_hash.as_bytes())),
        log_index: log_index.as_u64(),
        block_number: block_number.as_u64(),
        token: *token,
        from: topic_address(from),
        to: topic_address(to),
        amount: amount.as_u128(),
        removed: log.removed.unwrap_or(false),
    }))
}

/// An address as an indexed `address` topic: twelve zero bytes, then its twenty.
fn address_topic(address: &WalletAddress) -> String {
    format!("0x{:0>64}", hex::encode(address.as_bytes()))
}

/// The address in an indexed `address` topic: its last 20 bytes.
fn topic_address(topic: &H256) -> WalletAddress {
    let mut bytes = [0u8; 20];
    bytes.copy_from_slice(&topic.as_bytes()[12..]);
    WalletAddress::from_bytes(bytes)
}

#[async_trait]
impl ChainReader for JsonRpcChain {
    async fn chain_id(&self) -> Result<u64, ChainError> {
        let id: U64 = self.call("eth_chainId", json!([])).await?;
        Ok(id.as_u64())
    }

    async fn head(&self) -> Result<u64, ChainError> {
        let head: U64 = self.call("eth_blockNumber", json!([])).await?;
        Ok(head.as_u64())
    }

    async fn token_transfers(
        &self,
        token: &WalletAddress,
        recipients: &[WalletAddress],
        blocks: RangeInclusive<u64>,
    ) -> Result<Vec<TokenTransfer>, ChainError> {
        // An empty range (nodes answer `fromBlock > toBlock` with an error), or nobody to look for.
        if blocks.is_empty() || recipients.is_empty() {
            return Ok(Vec::new());
        }
        let recipients: Vec<String> = recipients.iter().map(address_topic).collect();
        // Topics match by position; a list in a position matches any of its values. The sender
        // (second topic) is anyone.
        let filter = json!({
            "address": token.to_checksum(),
            "fromBlock": quantity(*blocks.start()),
            "toBlock": quantity(*blocks.end()),
            "topics": [
                format!("0x{}", hex::encode(transfer_topic().as_bytes())),
                Value::Null,
                recipients,
            ],
        });
        let logs: Vec<Log> = self.call("eth_getLogs", json!([filter])).await?;
        let mut transfers = Vec::with_capacity(logs.len());
        for log in &logs {
            if let Some(transfer) = decode(token, log)? {
                transfers.push(transfer);
            }
        }
        // Nodes return logs in chain order; the port promises it, so it is not left to them.
        transfers.sort_by_key(|t| (t.block_number, t.log_index));
        Ok(transfers)
    }
}

#[cfg(test)]
mod tests {
    use ethers_core::types::{Bytes, H160};
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpListener,
    };

    use super::*;

    const TOKEN: &str = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
    const FROM: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
    const TO: &str = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359";

    fn token() -> WalletAddress {
        TOKEN.parse().unwrap()
    }

    fn recipients() -> [WalletAddress; 1] {
        [TO.parse().unwrap()]
    }

    fn address_topic(address: &str) -> H256 {
        let address: WalletAddress = address.parse().unwrap();
        let mut topic = [0u8; 32];
        topic[12..].copy_from_slice(address.as_bytes());
        H256(topic)
    }

    fn word(amount: U256) -> Bytes {
        let mut data = [0u8; 32];
        amount.to_big_endian(&mut data);
        Bytes::from(data.to_vec())
    }

    fn transfer_log(amount: U256) -> Log {
        Log {
            address: H160(*token().as_bytes()),
            topics: vec![transfer_topic(), address_topic(FROM), address_topic(TO)],
            data: word(amount),
            block_number: Some(U64::from(17)),
            transaction_hash: Some(H256::repeat_byte(0xab)),
            log_index: Some(U256::from(3)),
            ..Log::default()
        }
    }

    #[test]
    fn the_transfer_topic_is_the_erc20_one() {
        assert_eq!(
            hex::encode(transfer_topic().as_bytes()),
            "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
        );
    }

    #[test]
    fn decodes_a_standard_transfer() {
        let transfer = decode(&token(), &transfer_log(U256::from(1_234_567)))
            .unwrap()
            .unwrap();
        assert_eq!(
            transfer,
            TokenTransfer {
                tx_hash: format!("0x{}", "ab".repeat(32)),
                log_index: 3,
                block_number: 17,
                token: token(),
                from: FROM.parse().unwrap(),
                to: TO.parse().unwrap(),
                amount: 1_234_567,
                removed: false,
            }
        );
        let mut removed = transfer_log(U256::one());
        removed.removed = Some(true);
        assert!(decode(&token(), &removed).unwrap().unwrap().removed);
    }

    #[test]
    fn amounts_up_to_u128_max_decode_and_beyond_is_an_error() {
        let max = U256::from(u128::MAX);
        let transfer = decode(&token(), &transfer_log(max)).unwrap().unwrap();
        assert_eq!(transfer.amount, u128::MAX);
        let err = decode(&token(), &transfer_log(max + 1)).unwrap_err();
        assert!(err.message().contains("128 bits"), "{err}");
    }

    #[test]
    fn non_standard_shapes_are_skipped() {
        // ERC-721 style: the third argument indexed, no data.
        let mut nft = transfer_log(U256::one());
        nft.topics.push(H256::from_low_u64_be(42));
        nft.data = Bytes::new();
        assert_eq!(decode(&token(), &nft), Ok(None));
        // Nothing indexed but the signature.
        let mut unindexed = transfer_log(U256::one());
        unindexed.topics.truncate(1);
        assert_eq!(decode(&token(), &unindexed), Ok(None));
        // Data longer than one word.
        let mut long = transfer_log(U256::one());
        long.data = Bytes::from(vec![0u8; 64]);
        assert_eq!(decode(&token(), &long), Ok(None));
    }

    #[test]
    fn logs_the_node_was_not_asked_for_are_errors() {
        let mut other_contract = transfer_log(U256::one());
        other_contract.address = H160::repeat_byte(0x11);
        assert!(decode(&token(), &other_contract).is_err());
        let mut other_topic = transfer_log(U256::one());
        other_topic.topics[0] = H256::repeat_byte(0x22);
        assert!(decode(&token(), &other_topic).is_err());
        let mut pending = transfer_log(U256::one());
        pending.block_number = None;
        assert!(decode(&token(), &pending).is_err());
    }

    /// A one-shot HTTP server answering every request with `status` and `body`.
    async fn fake_node(status: &'static str, body: String) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let body = body.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    // Headers, then as much body as Content-Length says.
                    loop {
                        let n = socket.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        request.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&request);
                        if let Some(end) = text.find("\r\n\r\n") {
                            let length = text[..end]
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse::<usize>().unwrap())
                                })
                                .unwrap_or(0);
                            if request.len() >= end + 4 + length {
                                break;
                            }
                        }
                    }
                    let response = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        format!("http://127.0.0.1:{port}/v2/secret-api-key")
    }

    /// How `eth_getLogs` fails when the node answers with `status` and `body`.
    async fn logs_error(status: &'static str, body: &str) -> ChainError {
        let chain = JsonRpcChain::new(&fake_node(status, body.into()).await).unwrap();
        chain
            .token_transfers(&token(), &recipients(), 1..=2)
            .await
            .unwrap_err()
    }

    /// Neither the message nor any error in its chain of sources names the node's URL.
    fn assert_no_url(err: &ChainError) {
        let chain = j0_ports::ErrorChain(err).to_string();
        assert!(!chain.contains("secret-api-key"), "{chain}");
        assert!(!chain.contains("127.0.0.1"), "{chain}");
    }

    #[tokio::test]
    async fn reads_the_head_and_the_chain_id() {
        let node = async |result: &str| {
            let body = format!(r#"{{"jsonrpc":"2.0","id":1,"result":"{result}"}}"#);
            JsonRpcChain::new(&fake_node("200 OK", body).await).unwrap()
        };
        assert_eq!(node("0x1b4").await.head().await, Ok(436));
        assert_eq!(node("0x2105").await.chain_id().await, Ok(8453));
    }

    #[tokio::test]
    async fn json_rpc_errors_carry_method_and_message_only() {
        let body = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32005,"message":"limit exceeded"}}"#;
        let url = fake_node("200 OK", body.into()).await;
        let err = JsonRpcChain::new(&url).unwrap().head().await.unwrap_err();
        assert_eq!(
            err.message(),
            "eth_blockNumber: JSON-RPC error -32005: limit exceeded"
        );
        assert_no_url(&err);

        // The same error behind a 429 still names the JSON-RPC error.
        let err = logs_error("429 Too Many Requests", body).await;
        assert_eq!(
            err.message(),
            "eth_getLogs: JSON-RPC error -32005: limit exceeded"
        );
    }

    #[tokio::test]
    async fn http_failures_and_nonsense_are_errors() {
        let url = fake_node("502 Bad Gateway", "<html>bad gateway</html>".into()).await;
        let err = JsonRpcChain::new(&url).unwrap().head().await.unwrap_err();
        assert_eq!(err.message(), "eth_blockNumber: HTTP 502 Bad Gateway");

        let url = fake_node("200 OK", "not json".into()).await;
        let err = JsonRpcChain::new(&url).unwrap().head().await.unwrap_err();
        assert!(
            err.message()
                .starts_with("eth_blockNumber: malformed response"),
            "{err}"
        );

        let url = fake_node("200 OK", r#"{"jsonrpc":"2.0","id":1,"result":null}"#.into()).await;
        let err = JsonRpcChain::new(&url).unwrap().head().await.unwrap_err();
        assert!(err.message().contains("neither result nor error"), "{err}");

        let body = r#"{"jsonrpc":"2.0","id":1,"result":[{"address":"0x1"}]}"#;
        let err = logs_error("200 OK", body).await;
        assert!(
            err.message().starts_with("eth_getLogs: malformed response"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn an_unreachable_node_is_an_error_without_the_url() {
        // Bind, then close: nothing listens on the port any more.
        let port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/v2/secret-api-key");
        let err = JsonRpcChain::new(&url).unwrap().head().await.unwrap_err();
        assert!(err.message().starts_with("eth_blockNumber: "), "{err}");
        assert_no_url(&err);
    }

    #[tokio::test]
    async fn a_silent_node_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/v2/secret-api-key",
            listener.local_addr().unwrap()
        );
        // Accepts and never answers.
        let _hold = tokio::spawn(async move {
            let mut sockets = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                sockets.push(socket);
            }
        });
        let chain = JsonRpcChain::with_timeout(&url, Duration::from_millis(200)).unwrap();
        let err = chain.head().await.unwrap_err();
        assert!(
            err.message().starts_with("eth_blockNumber: timed out"),
            "{err}"
        );
        // The transport's error stays attached as the source, for the logs.
        let source = std::error::Error::source(&err).expect("the transport error");
        assert!(
            source.to_string().contains("error sending request"),
            "{source}"
        );
        assert_no_url(&err);
    }

    #[tokio::test]
    async fn an_empty_range_or_no_recipient_asks_nothing() {
        // No server at all: answering without a request proves none was made.
        let chain = JsonRpcChain::new("http://127.0.0.1:9/").unwrap();
        // A watcher whose next block is past the confirmed head asks for this.
        let (next, confirmed) = (10, 9);
        assert_eq!(
            chain
                .token_transfers(&token(), &recipients(), next..=confirmed)
                .await,
            Ok(Vec::new())
        );
        assert_eq!(
            chain.token_transfers(&token(), &[], 1..=2).await,
            Ok(Vec::new())
        );
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_them() {
        for url in ["", "not a url", "ftp://example.com/secret-api-key"] {
            let err = JsonRpcChain::new(url).unwrap_err();
            assert!(!err.message().contains("secret-api-key"), "{err}");
        }
        let chain = JsonRpcChain::new("https://base.example.com/v2/secret-api-key").unwrap();
        let debug = format!("{chain:?}");
        assert!(debug.contains("base.example.com"), "{debug}");
        assert!(!debug.contains("secret-api-key"), "{debug}");
    }
}
