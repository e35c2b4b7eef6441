//! A TCP proxy in front of a server, for what only a network does: losing an answer after the
//! server committed, and moving clients to another instance as a restart would.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

/// Forwards every connection to its upstream; on request, loses one answer.
#[derive(Debug)]
pub struct Proxy {
    /// `127.0.0.1:<port>` to point clients at.
    pub addr: SocketAddr,
    state: Arc<State>,
    accept: JoinHandle<()>,
}

#[derive(Debug)]
struct State {
    upstream: Mutex<SocketAddr>,
    /// A request line prefix (`POST /api/v1/jobs `) whose answer is to be lost, once.
    lose_answer_to: Mutex<Option<Vec<u8>>>,
    connections: Mutex<Vec<JoinHandle<()>>>,
}

impl Proxy {
    /// A proxy to `upstream` (`http://host:port`, any path after it ignored).
    pub async fn to(upstream: &str) -> Self {
        let upstream = parse(upstream);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(State {
            upstream: Mutex::new(upstream),
            lose_answer_to: Mutex::new(None),
            connections: Mutex::new(Vec::new()),
        });
        let shared = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let state = shared.clone();
                let task = tokio::spawn(async move { relay(client, state).await });
                shared.connections.lock().expect("lock").push(task);
            }
        });
        Self {
            addr,
            state,
            accept,
        }
    }

    /// `http://<proxy>/api/v1`.
    pub fn api(&self) -> String {
        format!("http://{}/api/v1", self.addr)
    }

    /// Sends new connections to `upstream` and drops the open ones, as a restart does.
    pub fn switch_to(&self, upstream: &str) {
        *self.state.upstream.lock().expect("lock") = parse(upstream);
        for task in self.state.connections.lock().expect("lock").drain(..) {
            task.abort();
        }
    }

    /// The next request starting with `request_line_prefix` (`POST /api/v1/jobs `) reaches the
    /// server, but its answer never reaches the client: the connection is closed instead.
    pub fn lose_next_answer_to(&self, request_line_prefix: &str) {
        *self.state.lose_answer_to.lock().expect("lock") =
            Some(request_line_prefix.as_bytes().to_vec());
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        for task in self.state.connections.lock().expect("lock").drain(..) {
            task.abort();
        }
    }
}

fn parse(upstream: &str) -> SocketAddr {
    let host = upstream
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default();
    host.parse().expect("upstream host:port")
}

async fn relay(client: TcpStream, state: Arc<State>) {
    let upstream = *state.upstream.lock().expect("lock");
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let losing = Arc::new(AtomicBool::new(false));
    let armed = losing.clone();
    let requests = copy(&mut client_read, &mut server_write, |chunk| {
        let mut lose = state.lose_answer_to.lock().expect("lock");
        if lose
            .as_ref()
            .is_some_and(|prefix| chunk.starts_with(prefix))
        {
            *lose = None;
            armed.store(true, Ordering::SeqCst);
        }
        true
    });
    let answers = copy(&mut server_read, &mut client_write, |_| {
        !losing.load(Ordering::SeqCst)
    });
    // Whichever side ends first ends the connection, both halves dropped.
    tokio::select! {
        () = requests => {}
        () = answers => {}
    }
}

/// Copies `from` to `to` chunk by chunk until either side ends or `forward` (shown each chunk
/// first) says to stop.
async fn copy(
    from: &mut (impl AsyncReadExt + Unpin),
    to: &mut (impl AsyncWriteExt + Unpin),
    mut forward: impl FnMut(&[u8]) -> bool,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if !forward(&buf[..n]) || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
