//! The loopback relay in front of tiny_http. Clients connect to the relay; each
//! connection is copied to tiny_http, which parses the requests, while the relay keeps
//! the client socket so a handler can write its answer straight to the client, close
//! the connection mid-answer, or notice that the client left. tiny_http alone cannot do
//! the last two: it keeps every keep-alive connection open until the client closes it.
//!
//! What does not live here: HTTP parsing (tiny_http), what to answer
//! ([`crate::script`]) and how to write it ([`crate::answer`]).

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};

/// The client side of one relayed connection.
#[derive(Debug)]
pub(crate) struct Client {
    socket: TcpStream,
    gone: Arc<AtomicBool>,
}

impl Client {
    /// Whether the client closed its side (or the relay closed it).
    pub(crate) fn is_gone(&self) -> bool {
        self.gone.load(Ordering::SeqCst)
    }

    /// Close the connection now, in both directions.
    pub(crate) fn close(&self) {
        let _ = self.socket.shutdown(Shutdown::Both);
    }
}

impl Write for Client {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.socket.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.socket.flush()
    }
}

/// Relayed connections by the address tiny_http sees as their peer.
#[derive(Debug, Default)]
pub(crate) struct Clients {
    by_upstream: Mutex<HashMap<SocketAddr, Client>>,
}

impl Clients {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Client>> {
        self.by_upstream.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The client behind the connection tiny_http sees coming from `upstream`.
    pub(crate) fn get(&self, upstream: &SocketAddr) -> Option<Client> {
        let map = self.map();
        let client = map.get(upstream)?;
        let socket = client.socket.try_clone().ok()?;
        Some(Client { socket, gone: Arc::clone(&client.gone) })
    }

    fn close_all(&self) {
        for client in self.map().values() {
            client.close();
        }
    }
}

pub(crate) struct Relay {
    addr: SocketAddr,
    clients: Arc<Clients>,
    stopping: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Relay {
    /// Listen on a free loopback port and relay every connection to `upstream`.
    pub(crate) fn start(upstream: SocketAddr, stopping: Arc<AtomicBool>) -> io::Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let clients = Arc::new(Clients::default());
        let acceptor = {
            let (clients, stopping) = (Arc::clone(&clients), Arc::clone(&stopping));
            thread::spawn(move || accept_loop(&listener, upstream, &clients, &stopping))
        };
        Ok(Relay { addr, clients, stopping, acceptor: Some(acceptor) })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn clients(&self) -> Arc<Clients> {
        Arc::clone(&self.clients)
    }

    /// Stop accepting and close every client connection. The caller has set `stopping`.
    pub(crate) fn stop(&mut self) {
        debug_assert!(self.stopping.load(Ordering::SeqCst));
        // Wake the acceptor, which then sees `stopping`.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        self.clients.close_all();
    }
}

fn accept_loop(
    listener: &TcpListener,
    upstream: SocketAddr,
    clients: &Arc<Clients>,
    stopping: &AtomicBool,
) {
    for client in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(client) = client {
            // A client we cannot relay is dropped, which closes its connection.
            let _ = relay(client, upstream, clients);
        }
    }
}

/// Connect `client` to tiny_http with one copying thread per direction. The client is
/// registered before any byte reaches tiny_http, so every request finds its client.
fn relay(client: TcpStream, upstream: SocketAddr, clients: &Arc<Clients>) -> io::Result<()> {
    let server = TcpStream::connect(upstream)?;
    let key = server.local_addr()?;
    let gone = Arc::new(AtomicBool::new(false));
    let registered = Client { socket: client.try_clone()?, gone: Arc::clone(&gone) };
    clients.map().insert(key, registered);

    let (mut from_client, mut to_server) = (client.try_clone()?, server.try_clone()?);
    thread::spawn(move || {
        let _ = io::copy(&mut from_client, &mut to_server);
        gone.store(true, Ordering::SeqCst);
        let _ = to_server.shutdown(Shutdown::Write);
    });
    let (mut from_server, mut to_client) = (server, client);
    let clients = Arc::clone(clients);
    thread::spawn(move || {
        // tiny_http closes its side once the client left and the last answer is written.
        let _ = io::copy(&mut from_server, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Both);
        clients.map().remove(&key);
    });
    Ok(())
}
