//! A TCP relay on 127.0.0.1 in front of a real server, which a test cuts (new connections
//! refused, open ones closed) and restores on the same port: an outage that leaves the
//! server's state alone, for servers that keep it only in memory (moto).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

pub struct Relay {
    /// Where clients connect: `127.0.0.1:PORT`.
    pub addr: SocketAddr,
    target: SocketAddr,
    open: Arc<Mutex<Vec<TcpStream>>>,
    running: Option<Arc<AtomicBool>>,
}

impl Relay {
    /// Relay connections to `target` (for example `127.0.0.1:5000`).
    pub fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let mut relay = Relay {
            addr,
            target,
            open: Arc::new(Mutex::new(Vec::new())),
            running: None,
        };
        relay.serve(listener);
        relay
    }

    /// `http://127.0.0.1:PORT`, for HTTP servers.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The outage: the port refuses connections and every relayed connection is closed.
    pub fn cut(&mut self) {
        if let Some(running) = self.running.take() {
            running.store(false, Ordering::Release);
        }
        // The accept loop polls every 10 ms; give it time to drop the listener.
        thread::sleep(Duration::from_millis(50));
        for stream in self.open.lock().expect("relay lock").drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// The end of the outage: the same port accepts and relays again.
    pub fn restore(&mut self) {
        if self.running.is_some() {
            return;
        }
        let listener = TcpListener::bind(self.addr).expect("bind the relay's port again");
        self.serve(listener);
    }

    fn serve(&mut self, listener: TcpListener) {
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let running = Arc::new(AtomicBool::new(true));
        self.running = Some(running.clone());
        let (target, open) = (self.target, self.open.clone());
        thread::spawn(move || {
            while running.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((client, _)) => relay(client, target, &open),
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
    }
}

fn relay(client: TcpStream, target: SocketAddr, open: &Mutex<Vec<TcpStream>>) {
    let _ = client.set_nonblocking(false);
    let Ok(server) = TcpStream::connect(target) else {
        return;
    };
    let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    if let Ok(mut open) = open.lock() {
        open.extend(client.try_clone().ok());
        open.extend(server.try_clone().ok());
    }
    thread::spawn(move || pipe(client, server));
    thread::spawn(move || pipe(server2, client2));
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
