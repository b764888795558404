//! The gate's accept loop holds the collector's discipline in plain HTTP too (behind a TLS
//! terminator): a client that drips its request head is cut off at the header deadline, and
//! connections over the cap are closed at once instead of queueing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use keypin_gate::server::{Limits, serve_with};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::common;

async fn serve_limited(limits: Limits) -> (common::TestGate, String) {
    let gate = common::start("", "production").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(serve_with(listener, Arc::clone(&gate.gate), limits));
    (gate, addr)
}

/// Reads until the server closes; `true` if it did within `within`.
async fn closed_within(sock: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, sock.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn a_client_dripping_its_request_head_is_cut_off_at_the_header_deadline() {
    let limits = Limits {
        header_deadline: Duration::from_millis(300),
        ..Limits::default()
    };
    let (_gate, addr) = serve_limited(limits).await;
    let mut sock = TcpStream::connect(&addr).await.unwrap();
    sock.write_all(b"POST /v1/challenge HTTP/1.1\r\nHost: gate\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    assert!(
        closed_within(&mut sock, Duration::from_secs(5)).await,
        "a half-sent request head held the connection for 5 s"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_at_once() {
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let (gate, addr) = serve_limited(limits).await;
    let mut held = vec![
        TcpStream::connect(&addr).await.unwrap(),
        TcpStream::connect(&addr).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(&addr).await.unwrap();
    assert!(
        closed_within(&mut third, Duration::from_secs(2)).await,
        "a connection over the cap was kept waiting"
    );
    // A freed slot serves again.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let url = format!("http://{addr}/v1/challenge");
    let status = gate
        .http
        .post(&url)
        .json(&serde_json::json!({"app": "example"}))
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "{status}");
}
