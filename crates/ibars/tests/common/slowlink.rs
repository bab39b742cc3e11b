//! A TCP proxy on loopback whose uploads crawl: a slow uplink between ibars and its store.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// Start a proxy to `upstream` that forwards what clients send at about `bytes_per_sec` per
/// connection, and replies at full speed. Returns its address; it runs until the process ends.
pub fn start(upstream: SocketAddr, bytes_per_sec: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(upstream) else {
                continue;
            };
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || pump(client, server, Some(bytes_per_sec)));
            std::thread::spawn(move || pump(s2, c2, None));
        }
    });
    addr
}

fn pump(mut from: TcpStream, mut to: TcpStream, rate: Option<usize>) {
    // Slices of a tenth of a second's worth, so that the rate holds at any scale.
    let slice = rate.map_or(64 << 10, |r| (r / 10).max(1));
    let mut buf = vec![0u8; slice];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
                if rate.is_some() {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}
