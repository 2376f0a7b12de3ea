//! The machine's own floor, timed in the same run as a benchmark, so that a figure from a
//! slower machine is read as such: the primitives of one Web Push message (see
//! `push_fanout::floor`), and a fan-out of the gateway's own stack without the gateway: one
//! text frame written to many loopback WebSockets (tokio and tungstenite, as the gateway
//! writes them) and read by a client on the other end, everything on one thread.

use futures_util::{SinkExt, StreamExt};
use ring::rand::{SecureRandom, SystemRandom};
use tokio_tungstenite::tungstenite::Message;

use crate::push_fanout::floor;

/// What this machine does with nothing else running, on one thread.
#[derive(Debug)]
pub struct MachineFloor {
    /// One Web Push message's primitives through ring, µs of CPU.
    pub push_us: f64,
    /// One WebSocket frame written and read on loopback, µs of CPU a socket.
    pub frame_us: f64,
    /// Sockets the frame went to.
    pub sockets: usize,
}

impl MachineFloor {
    /// `frames`: how many frames the run's fan-out writes (to say what they cost here).
    pub fn describe(&self, frames: usize, pushes: usize) -> String {
        format!(
            "this machine's floor (timed in this run, one thread, before the gateways started): \
             one push's primitives {:.1} us (ring: a P-256 key pair, ECDH, HKDF, AES-128-GCM), \
             so {pushes} pushes need at least {:.0} ms of one core; one WebSocket frame written \
             and read on loopback {:.1} us a socket ({} sockets), so {frames} frames need at least \
             {:.0} ms of one core. The issue's slow machine: 55 us or more a push.",
            self.push_us,
            self.push_us * pushes as f64 / 1000.0,
            self.frame_us,
            self.sockets,
            self.frame_us * frames as f64 / 1000.0,
        )
    }
}

/// Times both floors on a thread of their own (a runtime of one thread, as one core).
pub fn measure() -> anyhow::Result<MachineFloor> {
    std::thread::spawn(|| {
        let push_us = push()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let sockets = 2_000;
        let frame_us = runtime.block_on(websocket_frames(sockets))?;
        Ok(MachineFloor {
            push_us,
            frame_us,
            sockets,
        })
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the floor's thread panicked"))?
}

/// One push's primitives, µs of CPU, over browser keys made here.
fn push() -> anyhow::Result<f64> {
    let rng = SystemRandom::new();
    let keys = (0..64)
        .map(|_| {
            let private =
                ring::agreement::EphemeralPrivateKey::generate(&ring::agreement::ECDH_P256, &rng)
                    .map_err(|_| anyhow::anyhow!("key pair"))?;
            let public = private
                .compute_public_key()
                .map_err(|_| anyhow::anyhow!("public key"))?;
            let mut auth = [0u8; 16];
            rng.fill(&mut auth).map_err(|_| anyhow::anyhow!("random"))?;
            Ok(floor::Keys::new(public.as_ref().to_vec(), auth.to_vec()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    // An alert's payload is a few hundred bytes.
    let payload = vec![b'x'; 600];
    Ok(floor::ring(&keys, &payload, 3_000)?.cpu)
}

/// `sockets` loopback WebSocket pairs; one frame of an alert's size written to every
/// server end and read at every client end; µs of this thread's CPU a socket.
async fn websocket_frames(sockets: usize) -> anyhow::Result<f64> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let accepting = tokio::spawn(async move {
        let mut servers = Vec::with_capacity(sockets);
        while servers.len() < sockets {
            let (stream, _) = listener.accept().await?;
            servers.push(tokio_tungstenite::accept_async(stream).await?);
        }
        anyhow::Ok(servers)
    });
    let mut clients = Vec::with_capacity(sockets);
    for _ in 0..sockets {
        let stream = tokio::net::TcpStream::connect(address).await?;
        let (client, _) =
            tokio_tungstenite::client_async(format!("ws://{address}/"), stream).await?;
        clients.push(client);
    }
    let mut servers = accepting.await??;
    let (read, mut reads) = tokio::sync::mpsc::channel::<()>(sockets);
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            let read = read.clone();
            tokio::spawn(async move {
                if let Some(Ok(Message::Text(_))) = client.next().await {
                    let _ = read.send(()).await;
                }
                client
            })
        })
        .collect();
    drop(read);
    tokio::task::yield_now().await;
    let frame = format!(
        r#"{{"id":"1","type":"next","payload":{{"data":{{"myNotifications":{{"id":"1","reason":"{}"}}}}}}}}"#,
        "x".repeat(560)
    );
    let frame = tokio_tungstenite::tungstenite::Utf8Bytes::from(frame);
    let cpu_before = floor::thread_cpu_nanos();
    for server in &mut servers {
        server.send(Message::Text(frame.clone())).await?;
    }
    let mut heard = 0;
    while heard < sockets && reads.recv().await.is_some() {
        heard += 1;
    }
    let cpu = floor::thread_cpu_nanos() - cpu_before;
    if heard < sockets {
        return Err(anyhow::anyhow!("only {heard} of {sockets} frames read"));
    }
    for reader in readers {
        drop(reader.await?);
    }
    Ok(cpu as f64 / 1e3 / sockets as f64)
}
