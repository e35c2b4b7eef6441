//! A WebSocket client for tests: connect as a user, read the next JSON message with a bounded
//! wait, assert silence.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, protocol::CloseFrame},
};

use crate::TestApp;

/// Longest wait for a message that should come.
const PATIENCE: Duration = Duration::from_secs(10);

/// A connected WebSocket.
#[derive(Debug)]
pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// How a connection ended, as the client saw it.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// A close frame with this code and reason.
    Closed(u16, String),
    /// The connection dropped without one.
    Dropped,
}

impl WsClient {
    /// Connects to `app` with `?token=` (and `since` when given).
    pub async fn connect(app: &TestApp, token: &str, since: Option<i64>) -> Self {
        let mut url = format!("{}?token={token}", app.ws_url());
        if let Some(since) = since {
            url.push_str(&format!("&since={since}"));
        }
        let (stream, _) = connect_async(url).await.expect("WebSocket upgrade");
        Self { stream }
    }

    /// Connects with a prepared request (headers, cookies); the server's refusal as an error.
    pub async fn connect_request(
        request: tokio_tungstenite::tungstenite::handshake::client::Request,
    ) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        connect_async(request)
            .await
            .map(|(stream, _)| Self { stream })
    }

    /// The next text message, parsed; panics after 10 s.
    pub async fn next(&mut self) -> Value {
        tokio::time::timeout(PATIENCE, self.next_text())
            .await
            .expect("a WebSocket message within 10 s")
            .expect("the connection stayed open")
    }

    async fn next_text(&mut self) -> Option<Value> {
        while let Some(message) = self.stream.next().await {
            match message.ok()? {
                Message::Text(text) => return serde_json::from_str(&text).ok(),
                Message::Close(_) => return None,
                _ => {}
            }
        }
        None
    }

    /// The next `n` messages.
    pub async fn take(&mut self, n: usize) -> Vec<Value> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.next().await);
        }
        out
    }

    /// Reads one message every `pause` for `during` (a client that keeps up, slowly); stops
    /// early if the connection ends. Returns how many messages it read.
    pub async fn read_slowly(&mut self, during: Duration, pause: Duration) -> usize {
        let until = tokio::time::Instant::now() + during;
        let mut read = 0;
        while tokio::time::Instant::now() < until {
            match tokio::time::timeout_at(until, self.next_text()).await {
                Ok(Some(_)) => read += 1,
                Ok(None) | Err(_) => break,
            }
            tokio::time::sleep(pause).await;
        }
        read
    }

    /// Asserts that no text message arrives within `quiet`.
    pub async fn assert_silent(&mut self, quiet: Duration) {
        if let Ok(Some(message)) = tokio::time::timeout(quiet, self.next_text()).await {
            panic!("expected silence, got {message}");
        }
    }

    /// Sends a JSON message.
    pub async fn send(&mut self, message: &Value) {
        self.stream
            .send(Message::text(message.to_string()))
            .await
            .expect("send");
    }

    /// Reads (bounded) until the server ends the connection; how it ended.
    pub async fn ended(&mut self, within: Duration) -> Ended {
        let read = async {
            while let Some(message) = self.stream.next().await {
                match message {
                    Ok(Message::Close(Some(CloseFrame { code, reason }))) => {
                        return Ended::Closed(code.into(), reason.to_string());
                    }
                    Ok(Message::Close(None)) | Err(_) => return Ended::Dropped,
                    Ok(_) => {}
                }
            }
            Ended::Dropped
        };
        tokio::time::timeout(within, read)
            .await
            .expect("the server ended the connection")
    }
}
