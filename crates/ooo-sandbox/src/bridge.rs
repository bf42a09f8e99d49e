//! The bridge inside a sandbox with a host allowlist: a loopback TCP listener whose
//! connections are relayed, byte for byte, to ooo's proxy through its UNIX socket. It
//! runs in the init helper's parent process, outside the command's Landlock domain and
//! seccomp filter, and decides nothing: the proxy outside does.

use std::io::Read;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

/// Accept and relay on background threads; returns at once.
pub(crate) fn serve(listener: TcpListener, socket: PathBuf) {
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let socket = socket.clone();
            std::thread::spawn(move || relay(client, &socket));
        }
    });
}

fn relay(client: TcpStream, socket: &std::path::Path) {
    let Ok(upstream) = UnixStream::connect(socket) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let (Ok(client2), Ok(upstream2)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || {
        copy(client2, &upstream2);
        let _ = upstream2.shutdown(Shutdown::Write);
    });
    copy(upstream, &client);
    let _ = client.shutdown(Shutdown::Write);
    let _ = up.join();
}

fn copy(mut from: impl Read, to: &impl RefWrite) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if to.write_all_ref(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// `Write` through a shared reference (both stream types allow it).
trait RefWrite {
    fn write_all_ref(&self, bytes: &[u8]) -> std::io::Result<()>;
}

impl RefWrite for TcpStream {
    fn write_all_ref(&self, bytes: &[u8]) -> std::io::Result<()> {
        std::io::Write::write_all(&mut &*self, bytes)
    }
}

impl RefWrite for UnixStream {
    fn write_all_ref(&self, bytes: &[u8]) -> std::io::Result<()> {
        std::io::Write::write_all(&mut &*self, bytes)
    }
}
