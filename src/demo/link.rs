//! A TCP link the demo owns between one instance and Postgres, which it can partition: `cut`
//! stops forwarding bytes in both directions without closing a connection (what a dead switch
//! or a pulled cable does, not a reset) and turns new connections away; `restore` lets the held
//! bytes through and forwards again.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// One instance's way to the database.
pub struct Link {
    /// Where the instance connects instead of the database.
    pub addr: SocketAddr,
    up: watch::Sender<bool>,
}

impl Link {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream` until `shutdown`.
    pub async fn start(upstream: String, shutdown: CancellationToken) -> std::io::Result<Link> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (up, _) = watch::channel(true);
        let state = up.subscribe();
        tokio::spawn(async move {
            loop {
                let inbound = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((inbound, _)) => inbound,
                        Err(e) => {
                            tracing::warn!(error = %e, "demo link stopped accepting");
                            return;
                        }
                    },
                    _ = shutdown.cancelled() => return,
                };
                // Cut off: the connection is dropped as soon as it is taken.
                if !*state.borrow() {
                    continue;
                }
                tokio::spawn(forward(
                    inbound,
                    upstream.clone(),
                    state.clone(),
                    shutdown.clone(),
                ));
            }
        });
        Ok(Link { addr, up })
    }

    /// Stops forwarding in both directions; connections stay open, new ones are turned away.
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    /// Forwards again, the bytes held during the cut first.
    pub fn restore(&self) {
        self.up.send_replace(true);
    }
}

async fn forward(
    inbound: TcpStream,
    upstream: String,
    up: watch::Receiver<bool>,
    shutdown: CancellationToken,
) {
    let Ok(outbound) = TcpStream::connect(&upstream).await else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (in_read, in_write) = inbound.into_split();
    let (out_read, out_write) = outbound.into_split();
    tokio::select! {
        _ = async { tokio::join!(pump(in_read, out_write, up.clone()), pump(out_read, in_write, up)) } => {}
        _ = shutdown.cancelled() => {}
    }
}

/// Copies `from` to `to`; what it read during a cut waits for the link to come back, and so
/// does the end of the connection: a peer that closed or died during a cut is news to the
/// other side only once the link is back, as after a real partition.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut up: watch::Receiver<bool>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if up.wait_for(|up| *up).await.is_err() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    if up.wait_for(|up| *up).await.is_ok() {
        let _ = to.shutdown().await;
    }
}
