//! The host-allowlist HTTP proxy `ooo` runs outside a sandbox whose network is
//! [`Network::Hosts`](crate::policy::Network::Hosts). Sandboxed programs reach it through a
//! UNIX socket, with `HTTP_PROXY`/`HTTPS_PROXY` pointing at it, and it connects only to the
//! hosts and ports the policy's [`HostRule`]s allow, checked on the name the client asked
//! for, before any DNS lookup. It speaks `CONNECT` tunnels and plain `http://` requests in
//! absolute form; it does not look inside tunnels, follow redirects or cache anything.
//!
//! Not here: the bridge inside the sandbox from a loopback TCP port to this socket (that
//! lives in `init`, which starts `bridge`), and the rules' syntax and matching (`policy`).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv6Addr, Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::policy::HostRule;

/// Longest request head (request line and headers, with the blank line) the proxy reads.
const MAX_HEAD: usize = 16 * 1024;
/// How long a client has to send its whole request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one connection attempt to one resolved upstream address may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Decisions kept for [`Proxy::decisions`]; later ones are only counted.
const MAX_DECISIONS: usize = 10_000;
/// Clients served at once (each costs up to two threads); more are answered 503.
const MAX_CLIENTS: usize = 256;
/// How long, and how many bytes, an error answer keeps reading what the client still
/// sends before closing, so that the close does not reset the connection under the answer.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 256 * 1024;
/// Hop-by-hop and proxy headers not forwarded with a plain `http://` request (`Host` and
/// `Connection` are written by the proxy instead).
const DROPPED_HEADERS: [&str; 5] =
    ["proxy-connection", "proxy-authorization", "host", "connection", "keep-alive"];

/// One connection attempt through the proxy, allowed or refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The host as the client named it, lower-case (an IPv6 address without brackets).
    pub host: String,
    pub port: u16,
    /// Whether a rule allowed it (connecting may still have failed afterwards).
    pub allowed: bool,
    /// `CONNECT`, or the method of a plain `http://` request.
    pub method: String,
}

/// A running proxy. Dropping it stops accepting and removes its socket; tunnels already
/// established finish on their own threads.
pub struct Proxy {
    socket_path: PathBuf,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listen on a new UNIX socket at `socket_path` (its directory must exist; an existing
    /// file there is an error, never removed) and serve until dropped.
    pub fn start(socket_path: &Path, rules: Vec<HostRule>) -> io::Result<Proxy> {
        let listener = UnixListener::bind(socket_path)?;
        let shared = Arc::new(Shared::new(rules));
        let for_acceptor = Arc::clone(&shared);
        let spawned = thread::Builder::new()
            .name("ooo-proxy-accept".into())
            .spawn(move || accept_loop(&listener, &for_acceptor));
        match spawned {
            Ok(acceptor) => Ok(Proxy {
                socket_path: socket_path.to_path_buf(),
                shared,
                acceptor: Some(acceptor),
            }),
            Err(err) => {
                let _ = std::fs::remove_file(socket_path);
                Err(err)
            }
        }
    }

    pub fn socket_path(&self) -> &Path {
        &self.socket_path
    }

    /// Every connection attempt so far, allowed or refused, in order (the first
    /// 10,000; see [`Proxy::decisions_not_kept`]).
    pub fn decisions(&self) -> Vec<Decision> {
        self.shared.decisions().clone()
    }

    /// How many decisions were made after [`Proxy::decisions`] was full.
    pub fn decisions_not_kept(&self) -> u64 {
        self.shared.decisions_not_kept.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // One connection wakes the accepting thread, which then sees the flag and returns.
        // If even that fails, the thread is left blocked rather than waited for.
        let woke = UnixStream::connect(&self.socket_path).is_ok();
        if let Some(acceptor) = self.acceptor.take()
            && woke
        {
            let _ = acceptor.join();
        }
        let _ = std::fs::remove_file(&self.socket_path);
    }
}

/// What the accepting thread and the client threads share.
struct Shared {
    rules: Vec<HostRule>,
    decisions: Mutex<Vec<Decision>>,
    decisions_not_kept: AtomicU64,
    clients: AtomicUsize,
    stopping: AtomicBool,
}

impl Shared {
    fn new(rules: Vec<HostRule>) -> Self {
        Self {
            rules,
            decisions: Mutex::default(),
            decisions_not_kept: AtomicU64::new(0),
            clients: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
        }
    }

    fn allows(&self, target: &Target) -> bool {
        self.rules.iter().any(|rule| rule.allows(&target.host, target.port))
    }

    fn record(&self, decision: Decision) {
        let mut decisions = self.decisions();
        if decisions.len() < MAX_DECISIONS {
            decisions.push(decision);
        } else {
            self.decisions_not_kept.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn decisions(&self) -> MutexGuard<'_, Vec<Decision>> {
        self.decisions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A place among the [`MAX_CLIENTS`] served at once, given back when dropped.
struct ClientSlot(Arc<Shared>);

impl ClientSlot {
    fn take(shared: &Arc<Shared>) -> Option<Self> {
        if shared.clients.fetch_add(1, Ordering::SeqCst) >= MAX_CLIENTS {
            shared.clients.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Self(Arc::clone(shared)))
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.0.clients.fetch_sub(1, Ordering::SeqCst);
    }
}

fn accept_loop(listener: &UnixListener, shared: &Arc<Shared>) {
    for incoming in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        match incoming {
            Ok(client) => admit(client, shared),
            // Out of descriptors or the like: wait a moment instead of spinning.
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Serves `client` on its own thread, or answers 503 when too many are being served.
fn admit(client: UnixStream, shared: &Arc<Shared>) {
    let Some(slot) = ClientSlot::take(shared) else {
        // Never block the accepting thread: the answer fits in a fresh socket's buffer.
        let _ = client.set_nonblocking(true);
        let answer = error_answer(Status::Busy, "ooo sandbox: too many proxy connections");
        let _ = (&client).write_all(answer.as_bytes());
        return;
    };
    // If the thread cannot start, the closure is dropped: the client is closed, the slot freed.
    let _ = thread::Builder::new()
        .name("ooo-proxy-client".into())
        .spawn(move || serve(client, &slot.0));
}

/// Reads one request head, decides, and either refuses or connects and relays.
fn serve(mut client: UnixStream, shared: &Shared) {
    let (head, early_bytes) = match read_head(&mut client) {
        Ok(read) => read,
        Err(HeadError::TooLarge) => {
            let message = format!("ooo sandbox: the request head is larger than {MAX_HEAD} bytes");
            return refuse(client, Status::HeadTooLarge, &message);
        }
        Err(HeadError::Gone) => return,
    };
    let request = match Request::parse(&head) {
        Ok(request) => request,
        Err(why) => return refuse(client, Status::BadRequest, &format!("ooo sandbox: {why}")),
    };
    let target = &request.target;
    let allowed = shared.allows(target);
    let record = |allowed| Decision {
        host: target.host.clone(),
        port: target.port,
        allowed,
        method: request.method.clone(),
    };
    if !allowed {
        shared.record(record(false));
        let message = format!("ooo sandbox: {target} is not in this sandbox's allowed hosts");
        return refuse(client, Status::Forbidden, &message);
    }
    let upstream = match connect(target) {
        Ok(upstream) => {
            shared.record(record(true));
            upstream
        }
        Err(err) if err.kind() == io::ErrorKind::PermissionDenied => {
            shared.record(record(false));
            let message = format!("ooo sandbox: {target}: {err}");
            return refuse(client, Status::Forbidden, &message);
        }
        Err(err) => {
            shared.record(record(true));
            let message = format!("ooo sandbox: could not connect to {target}: {err}");
            return refuse(client, Status::BadGateway, &message);
        }
    };
    if open(&mut client, &upstream, &request, &early_bytes).is_ok() {
        relay(client, upstream);
    }
}

enum HeadError {
    /// No blank line within [`MAX_HEAD`] bytes.
    TooLarge,
    /// The client closed, failed or was too slow; nobody to answer.
    Gone,
}

/// Reads up to and including the blank line ending the request head, within
/// [`HEAD_TIMEOUT`]. Returns the head and whatever the client sent after it.
fn read_head(client: &mut UnixStream) -> Result<(Vec<u8>, Vec<u8>), HeadError> {
    let deadline = Instant::now() + HEAD_TIMEOUT;
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = find(&buffer, b"\r\n\r\n").map(|at| at + 4) {
            if end > MAX_HEAD {
                return Err(HeadError::TooLarge);
            }
            let rest = buffer.split_off(end);
            return Ok((buffer, rest));
        }
        if buffer.len() >= MAX_HEAD {
            return Err(HeadError::TooLarge);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || client.set_read_timeout(Some(left)).is_err() {
            return Err(HeadError::Gone);
        }
        match client.read(&mut chunk) {
            Ok(0) => return Err(HeadError::Gone),
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(HeadError::Gone),
        }
    }
}

/// Where a client wants to go: a host name or address as asked (lower-case, IPv6 without
/// brackets) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    host: String,
    port: u16,
}

impl Target {
    fn bracketed_host(&self) -> String {
        if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() }
    }

    /// The `Host` header for a plain `http://` request.
    fn host_header(&self) -> String {
        if self.port == 80 { self.bracketed_host() } else { self.to_string() }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.bracketed_host(), self.port)
    }
}

/// Where the proxy would connect for a request head (ending with its blank line), and
/// the head the upstream would get for a plain `http://` request: what a sandboxed
/// client controls, exposed for fuzzing and property tests. The error says what is wrong.
pub fn parse_head(head: &[u8]) -> Result<(String, u16, Option<Vec<u8>>), String> {
    let request = Request::parse(head)?;
    let forwarded = match request.form {
        Form::Connect => None,
        Form::Absolute { head } => Some(head),
    };
    Ok((request.target.host, request.target.port, forwarded))
}

/// A parsed request head.
struct Request {
    method: String,
    target: Target,
    form: Form,
}

enum Form {
    /// `CONNECT host:port`: a tunnel once connected.
    Connect,
    /// A plain `http://` request; `head` is what the upstream gets, in origin form.
    Absolute { head: Vec<u8> },
}

impl Request {
    /// Parses a head that ends with its blank line. The error says what is wrong.
    fn parse(head: &[u8]) -> Result<Self, String> {
        let lines = head_lines(head)?;
        let (request_line, header_lines) =
            lines.split_first().ok_or_else(|| "an empty request".to_string())?;
        let (method, target, version) = split_request_line(request_line)?;
        let headers =
            header_lines.iter().map(|line| Header::parse(line)).collect::<Result<Vec<_>, _>>()?;
        if method == "CONNECT" {
            let target = parse_authority(target, None)?;
            return Ok(Self { method: method.into(), target, form: Form::Connect });
        }
        let (target, path) = parse_absolute(target)?;
        let head = origin_form_head(method, &path, version, &target, &headers);
        Ok(Self { method: method.into(), target, form: Form::Absolute { head } })
    }
}

/// The head's lines without their CRLFs (and without the final blank line). A bare CR or
/// LF is refused: an upstream could read it as a line break the proxy did not see.
fn head_lines(head: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut rest = head
        .strip_suffix(b"\r\n\r\n")
        .ok_or_else(|| "the request head does not end with a blank line".to_string())?;
    let mut lines = Vec::new();
    while let Some(at) = find(rest, b"\r\n") {
        lines.push(&rest[..at]);
        rest = &rest[at + 2..];
    }
    lines.push(rest);
    if lines.iter().any(|line| line.contains(&b'\r') || line.contains(&b'\n')) {
        return Err("a bare CR or LF in the request head".into());
    }
    Ok(lines)
}

/// `METHOD SP target SP HTTP/1.x` into its three parts.
fn split_request_line(line: &[u8]) -> Result<(&str, &str, &str), String> {
    let bad = || format!("`{}` is not an HTTP/1 request line", String::from_utf8_lossy(line));
    let text = std::str::from_utf8(line).map_err(|_| bad())?;
    let mut parts = text.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let version_ok = version == "HTTP/1.1" || version == "HTTP/1.0";
    if !is_token(method) || target.is_empty() || !version_ok {
        return Err(bad());
    }
    Ok((method, target, version))
}

/// One header line, checked: a token name, then `:`.
struct Header<'a> {
    name: &'a str,
    value: &'a [u8],
    line: &'a [u8],
}

impl<'a> Header<'a> {
    fn parse(line: &'a [u8]) -> Result<Self, String> {
        let bad = || format!("`{}` is not a header line", String::from_utf8_lossy(line));
        let colon = line.iter().position(|&b| b == b':').ok_or_else(bad)?;
        let name = std::str::from_utf8(&line[..colon]).ok().filter(|name| is_token(name));
        let name = name.ok_or_else(bad)?;
        Ok(Self { name, value: &line[colon + 1..], line })
    }

    fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

/// The head the upstream gets for a plain `http://` request: the request line in origin
/// form, `Host` from the URL (as RFC 9112 asks of proxies), the client's headers without
/// [`DROPPED_HEADERS`], and `Connection: close` so that every further request comes back
/// through the proxy and its check (unless the client asked for an upgrade).
fn origin_form_head(
    method: &str,
    path: &str,
    version: &str,
    target: &Target,
    headers: &[Header<'_>],
) -> Vec<u8> {
    let host = target.host_header();
    let mut head = format!("{method} {path} {version}\r\nHost: {host}\r\n").into_bytes();
    for header in headers.iter().filter(|h| !DROPPED_HEADERS.iter().any(|d| h.is(d))) {
        head.extend_from_slice(header.line);
        head.extend_from_slice(b"\r\n");
    }
    let upgrade = headers.iter().any(|h| h.is("connection") && names_upgrade(h.value));
    let connection = if upgrade { "upgrade" } else { "close" };
    head.extend_from_slice(format!("Connection: {connection}\r\n\r\n").as_bytes());
    head
}

fn names_upgrade(connection_value: &[u8]) -> bool {
    String::from_utf8_lossy(connection_value)
        .split(',')
        .any(|option| option.trim().eq_ignore_ascii_case("upgrade"))
}

/// `host:port`, `[v6]:port`, or without the port when `default_port` is given.
fn parse_authority(text: &str, default_port: Option<u16>) -> Result<Target, String> {
    let bad = || format!("`{text}` is not a host and port");
    let (host, port) = match text.strip_prefix('[') {
        Some(rest) => {
            let (address, after) = rest.split_once(']').ok_or_else(bad)?;
            address.parse::<Ipv6Addr>().map_err(|_| bad())?;
            let port = if after.is_empty() {
                None
            } else {
                Some(after.strip_prefix(':').ok_or_else(bad)?)
            };
            (address, port)
        }
        None => {
            let (host, port) = match text.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            };
            if !is_host_name(host) {
                return Err(bad());
            }
            (host, port)
        }
    };
    let port = match port {
        Some(port) => parse_port(port).ok_or_else(bad)?,
        None => default_port.ok_or_else(|| format!("`{text}` has no port"))?,
    };
    Ok(Target { host: host.to_ascii_lowercase(), port })
}

/// `http://authority[/path][?query]` into where to connect and the origin-form target.
fn parse_absolute(url: &str) -> Result<(Target, String), String> {
    let not_absolute =
        || format!("`{url}` is not an http:// URL (a proxy needs the absolute form)");
    let (scheme, rest) = url.split_once("://").ok_or_else(not_absolute)?;
    if scheme.eq_ignore_ascii_case("https") {
        return Err(format!("`{url}`: https:// goes through CONNECT, not as a plain request"));
    }
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(not_absolute());
    }
    let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let target = parse_authority(authority, Some(80))?;
    let path = match path {
        "" => "/".to_string(),
        query if query.starts_with('?') => format!("/{query}"),
        path => path.to_string(),
    };
    Ok((target, path))
}

fn parse_port(text: &str) -> Option<u16> {
    let digits = !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit());
    text.parse::<u16>().ok().filter(|port| digits && *port != 0)
}

/// A DNS name or IPv4 address as a client may write it (no user info, no `%`, no spaces).
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// An HTTP token (RFC 9110 `tchar`s), as method and header names are.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// Resolves the name (only now, after the check) and tries each address in turn. A
/// name resolves only to public addresses: an allowed name that points at loopback, a
/// private network, link-local (cloud metadata) or the like is refused, so a listed
/// host cannot be turned into a way to the user's own services. A rule that names an
/// address or `localhost` itself reaches it.
fn connect(target: &Target) -> io::Result<TcpStream> {
    let addresses: Vec<SocketAddr> =
        (target.host.as_str(), target.port).to_socket_addrs()?.collect();
    let reachable = reachable(&target.host, addresses)?;
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, "the name has no address");
    for address in reachable {
        match TcpStream::connect_timeout(&address, CONNECT_TIMEOUT) {
            Ok(upstream) => return Ok(upstream),
            Err(err) => last_error = err,
        }
    }
    Err(last_error)
}

/// The addresses a name may be connected to: all of them for an address or `localhost`
/// (the rule named it), else the public ones; none but non-public ones is refused.
fn reachable(host: &str, addresses: Vec<SocketAddr>) -> io::Result<Vec<SocketAddr>> {
    if host.parse::<IpAddr>().is_ok() || host == "localhost" || addresses.is_empty() {
        return Ok(addresses);
    }
    let public: Vec<SocketAddr> = addresses.into_iter().filter(|a| is_public(a.ip())).collect();
    if public.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the name resolves only to local or private addresses; list the address itself to allow it",
        ));
    }
    Ok(public)
}

/// Whether an address is on the public internet (not loopback, private, link-local,
/// shared, unspecified, multicast, broadcast or documentation; IPv4-mapped IPv6 is
/// judged as IPv4).
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                !(v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || (first & 0xfe00) == 0xfc00
                    || (first & 0xffc0) == 0xfe80)
            }
        },
    }
}

/// Sends the upstream what it must see first, and tells a `CONNECT` client the tunnel is up.
fn open(
    client: &mut UnixStream,
    mut upstream: &TcpStream,
    request: &Request,
    early_bytes: &[u8],
) -> io::Result<()> {
    match &request.form {
        Form::Connect => {
            upstream.write_all(early_bytes)?;
            client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        }
        Form::Absolute { head } => upstream.write_all(&[head.as_slice(), early_bytes].concat()),
    }
}

/// Copies both ways until both directions are done, one direction on a second thread.
fn relay(client: UnixStream, upstream: TcpStream) {
    if client.set_read_timeout(None).is_err() {
        return;
    }
    let (Ok(client_in), Ok(upstream_in)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let back = thread::Builder::new()
        .name("ooo-proxy-copy".into())
        .spawn(move || copy_until_closed(upstream_in, client));
    let Ok(back) = back else {
        return;
    };
    copy_until_closed(client_in, upstream);
    let _ = back.join();
}

/// A socket one direction of which can be shut down.
trait HalfClose {
    fn shut(&self, how: Shutdown);
}

impl HalfClose for UnixStream {
    fn shut(&self, how: Shutdown) {
        let _ = self.shutdown(how);
    }
}

impl HalfClose for TcpStream {
    fn shut(&self, how: Shutdown) {
        let _ = self.shutdown(how);
    }
}

/// Copies `from` to `to` until `from` ends, then passes the end on (a half-close, so the
/// other direction keeps working). On an error both sockets are shut down entirely, which
/// also ends the other direction.
fn copy_until_closed(mut from: impl Read + HalfClose, mut to: impl Write + HalfClose) {
    match io::copy(&mut from, &mut to) {
        Ok(_) => to.shut(Shutdown::Write),
        Err(_) => {
            from.shut(Shutdown::Both);
            to.shut(Shutdown::Both);
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Status {
    BadRequest,
    Forbidden,
    HeadTooLarge,
    BadGateway,
    Busy,
}

impl Status {
    fn line(self) -> &'static str {
        match self {
            Status::BadRequest => "400 Bad Request",
            Status::Forbidden => "403 Forbidden",
            Status::HeadTooLarge => "431 Request Header Fields Too Large",
            Status::BadGateway => "502 Bad Gateway",
            Status::Busy => "503 Service Unavailable",
        }
    }
}

fn error_answer(status: Status, message: &str) -> String {
    let body = format!("{message}\n");
    format!(
        "HTTP/1.1 {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        status.line(),
        body.len()
    )
}

/// Answers with an error and closes.
fn refuse(mut client: UnixStream, status: Status, message: &str) {
    let _ = client.set_write_timeout(Some(LINGER));
    if client.write_all(error_answer(status, message).as_bytes()).is_ok() {
        linger(&client);
    }
}

/// Ends our side, then reads (for a bounded time and amount) what the client still sends,
/// so that closing with unread bytes does not reset the connection under the answer.
fn linger(mut client: &UnixStream) {
    let _ = client.shutdown(Shutdown::Write);
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || client.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match client.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any bytes: parsing never panics; a forwarded head never carries the client's
        /// proxy credentials or a second request line.
        #[test]
        fn any_head_parses_or_is_refused(head in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            if let Ok((host, port, Some(forwarded))) = parse_head(&head) {
                proptest::prop_assert!(port != 0 && !host.is_empty());
                let text = String::from_utf8_lossy(&forwarded).to_ascii_lowercase();
                proptest::prop_assert!(!text.contains("proxy-authorization"));
            }
        }

        /// A well-formed CONNECT to any host and port names exactly that target.
        #[test]
        fn connect_targets_round_trip(host in "[a-z][a-z0-9-]{0,20}(\\.[a-z]{2,5}){0,2}", port in 1u16..) {
            let head = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n");
            let (h, p, forwarded) = parse_head(head.as_bytes()).unwrap();
            proptest::prop_assert_eq!((h, p, forwarded), (host, port, None));
        }
    }

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["1.1.1.1", "93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    /// A name that resolves to loopback, private or metadata addresses is refused; its
    /// public addresses are kept; an address or `localhost` in the rule is reached as is.
    #[test]
    fn names_reach_only_public_addresses() {
        let at = |ips: &[&str]| -> Vec<SocketAddr> {
            ips.iter().map(|ip| SocketAddr::new(ip.parse().unwrap(), 443)).collect()
        };
        let refused = reachable("evil.example", at(&["127.0.0.1", "169.254.169.254"]));
        assert_eq!(refused.unwrap_err().kind(), io::ErrorKind::PermissionDenied);
        let mixed = reachable("api.example", at(&["10.0.0.1", "93.184.216.34"])).unwrap();
        assert_eq!(mixed, at(&["93.184.216.34"]));
        assert_eq!(reachable("127.0.0.1", at(&["127.0.0.1"])).unwrap(), at(&["127.0.0.1"]));
        assert_eq!(reachable("localhost", at(&["::1"])).unwrap(), at(&["::1"]));
    }
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::sync::mpsc;

    /// The longest any test waits for anything.
    const WAIT: Duration = Duration::from_secs(10);

    fn start(rules: &[String]) -> (tempfile::TempDir, Proxy) {
        let dir = tempfile::tempdir().unwrap();
        let rules = rules.iter().map(|rule| HostRule::parse(rule).unwrap()).collect();
        let proxy = Proxy::start(&dir.path().join("proxy.sock"), rules).unwrap();
        (dir, proxy)
    }

    fn connect_to(proxy: &Proxy) -> UnixStream {
        let client = UnixStream::connect(proxy.socket_path()).unwrap();
        client.set_read_timeout(Some(WAIT)).unwrap();
        client
    }

    /// Sends `request` and reads the whole answer (the proxy closes after it).
    fn ask(proxy: &Proxy, request: &[u8]) -> String {
        let mut client = connect_to(proxy);
        client.write_all(request).unwrap();
        read_to_close(&mut client)
    }

    fn read_to_close(stream: &mut impl Read) -> String {
        let mut got = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => return String::from_utf8_lossy(&got).into_owned(),
                Ok(n) => got.extend_from_slice(&chunk[..n]),
                Err(err) => panic!("reading after {:?}: {err}", String::from_utf8_lossy(&got)),
            }
        }
    }

    fn decision(host: &str, port: u16, allowed: bool, method: &str) -> Decision {
        Decision { host: host.into(), port, allowed, method: method.into() }
    }

    /// A one-connection loopback server that reads until the client half-closes, then
    /// answers with what it got, upper-cased, and reports what it got.
    fn upper_case_server() -> (u16, mpsc::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (sender, received) = mpsc::channel();
        thread::spawn(move || {
            let (mut connection, _) = listener.accept().unwrap();
            let mut got = String::new();
            connection.read_to_string(&mut got).unwrap();
            connection.write_all(got.to_uppercase().as_bytes()).unwrap();
            sender.send(got).unwrap();
        });
        (port, received)
    }

    /// A one-request loopback HTTP server that reports the head and body it got and
    /// answers `ok`.
    fn http_server() -> (u16, mpsc::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (sender, received) = mpsc::channel();
        thread::spawn(move || {
            let (connection, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(connection.try_clone().unwrap());
            let (mut got, mut body_length) = (String::new(), 0);
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(length) = line.strip_prefix("Content-Length: ") {
                    body_length = length.trim().parse().unwrap();
                }
                got.push_str(&line);
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; body_length];
            reader.read_exact(&mut body).unwrap();
            got.push_str(&String::from_utf8(body).unwrap());
            let answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
            (&connection).write_all(answer.as_bytes()).unwrap();
            sender.send(got).unwrap();
        });
        (port, received)
    }

    /// Opens a tunnel to 127.0.0.1:`port` (sending `early` right after the head) and
    /// checks the proxy's answer.
    fn open_tunnel(proxy: &Proxy, port: u16, early: &str) -> UnixStream {
        let mut client = connect_to(proxy);
        let request =
            format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n{early}");
        client.write_all(request.as_bytes()).unwrap();
        let established = b"HTTP/1.1 200 Connection established\r\n\r\n";
        let mut answer = vec![0; established.len()];
        client.read_exact(&mut answer).unwrap();
        assert_eq!(String::from_utf8_lossy(&answer), String::from_utf8_lossy(established));
        client
    }

    #[test]
    fn connect_to_an_allowed_port_tunnels_both_ways_with_half_close() {
        let (port, received) = upper_case_server();
        let (_dir, proxy) = start(&[format!("127.0.0.1:{port}")]);
        let mut client = open_tunnel(&proxy, port, "hello");
        client.write_all(b", tunnel").unwrap();
        // The server answers only after it sees our end: the answer must still come back.
        client.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_to_close(&mut client), "HELLO, TUNNEL");
        assert_eq!(received.recv_timeout(WAIT).unwrap(), "hello, tunnel");
        assert_eq!(proxy.decisions(), [decision("127.0.0.1", port, true, "CONNECT")]);
    }

    #[test]
    fn unlisted_destinations_are_refused_without_connecting() {
        let listed = TcpListener::bind("127.0.0.1:0").unwrap();
        let unlisted = TcpListener::bind("127.0.0.1:0").unwrap();
        unlisted.set_nonblocking(true).unwrap();
        let listed_port = listed.local_addr().unwrap().port();
        let port = unlisted.local_addr().unwrap().port();
        let (_dir, proxy) = start(&[format!("127.0.0.1:{listed_port}")]);

        let answer = ask(&proxy, format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n").as_bytes());
        assert!(answer.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{answer}");
        assert!(answer.contains("\r\nConnection: close\r\n"), "{answer}");
        let message =
            format!("ooo sandbox: 127.0.0.1:{port} is not in this sandbox's allowed hosts\n");
        assert!(answer.ends_with(&format!("\r\n\r\n{message}")), "{answer}");
        assert_eq!(unlisted.accept().unwrap_err().kind(), io::ErrorKind::WouldBlock);

        let answer =
            ask(&proxy, format!("CONNECT [::1]:{listed_port} HTTP/1.1\r\n\r\n").as_bytes());
        assert!(answer.contains(&format!(" [::1]:{listed_port} is not in ")), "{answer}");
        // Checked on the name as asked: no lookup of a name that cannot resolve is needed.
        let answer = ask(&proxy, b"GET http://Nowhere.test/x HTTP/1.1\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 403 ") && answer.contains(" nowhere.test:80 "));
        assert_eq!(
            proxy.decisions(),
            [
                decision("127.0.0.1", port, false, "CONNECT"),
                decision("::1", listed_port, false, "CONNECT"),
                decision("nowhere.test", 80, false, "GET"),
            ]
        );
    }

    #[test]
    fn plain_http_is_rewritten_to_origin_form_and_answered() {
        let (port, received) = http_server();
        let (_dir, proxy) = start(&[format!("127.0.0.1:{port}")]);
        let request = format!(
            "GET http://127.0.0.1:{port}/x HTTP/1.1\r\nHost: elsewhere.test\r\n\
             Proxy-Connection: keep-alive\r\nproxy-authorization: Basic Zm9v\r\n\
             Accept: */*\r\nConnection: keep-alive\r\n\r\n"
        );
        let answer = ask(&proxy, request.as_bytes());
        assert_eq!(answer, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        assert_eq!(
            received.recv_timeout(WAIT).unwrap(),
            format!(
                "GET /x HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: */*\r\n\
                 Connection: close\r\n\r\n"
            )
        );
        assert_eq!(proxy.decisions(), [decision("127.0.0.1", port, true, "GET")]);
    }

    #[test]
    fn plain_http_forwards_the_body_sent_with_the_head() {
        let (port, received) = http_server();
        let (_dir, proxy) = start(&[format!("127.0.0.1:{port}")]);
        let request =
            format!("POST http://127.0.0.1:{port}?q=1 HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello");
        let answer = ask(&proxy, request.as_bytes());
        assert!(answer.ends_with("\r\n\r\nok"), "{answer}");
        assert_eq!(
            received.recv_timeout(WAIT).unwrap(),
            format!(
                "POST /?q=1 HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 5\r\n\
                 Connection: close\r\n\r\nhello"
            )
        );
    }

    #[test]
    fn malformed_requests_get_400_and_no_decision() {
        let (_dir, proxy) = start(&["127.0.0.1:1".into()]);
        for request in [
            "hello there\r\n\r\n",
            "GET /x HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
            "GET https://127.0.0.1:1/ HTTP/1.1\r\n\r\n",
            "GET ftp://127.0.0.1:1/ HTTP/1.1\r\n\r\n",
            "GET http://user@127.0.0.1:1/ HTTP/1.1\r\n\r\n",
            "CONNECT 127.0.0.1 HTTP/1.1\r\n\r\n",
            "CONNECT 127.0.0.1:1 HTTP/2\r\n\r\n",
            "CONNECT 127.0.0.1:1  HTTP/1.1\r\n\r\n",
            "CONNECT 127.0.0.1:1 HTTP/1.1\r\nX: a\nHost: b\r\n\r\n",
            "CONNECT 127.0.0.1:1 HTTP/1.1\r\n folded: x\r\n\r\n",
        ] {
            let answer = ask(&proxy, request.as_bytes());
            assert!(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{request:?}: {answer:?}");
            assert!(answer.contains("\r\n\r\nooo sandbox: "), "{request:?}: {answer:?}");
        }
        assert_eq!(proxy.decisions(), []);
    }

    #[test]
    fn a_head_over_16_kib_gets_431() {
        let (_dir, proxy) = start(&[]);
        let mut request = b"GET http://a.test/ HTTP/1.1\r\nX-Padding: ".to_vec();
        request.resize(MAX_HEAD + 4096, b'a');
        let answer = ask(&proxy, &request);
        assert!(answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{answer}");
        // Just under the limit is read and decided (refused here: no rules).
        request.truncate(MAX_HEAD - 4);
        request.extend_from_slice(b"\r\n\r\n");
        assert!(ask(&proxy, &request).starts_with("HTTP/1.1 403 "));
        assert_eq!(proxy.decisions(), [decision("a.test", 80, false, "GET")]);
    }

    #[test]
    fn wildcard_rules_match_subdomains_only() {
        let (port, received) = upper_case_server();
        // `127.0.0.1` ends in `.0.0.1`: a suffix rule that loopback can exercise without DNS.
        let (_dir, proxy) = start(&[format!("*.0.0.1:{port}"), format!("*.example.test:{port}")]);
        let mut client = open_tunnel(&proxy, port, "");
        client.write_all(b"via suffix").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_to_close(&mut client), "VIA SUFFIX");
        assert_eq!(received.recv_timeout(WAIT).unwrap(), "via suffix");
        for host in ["0.0.1", "example.test", "badexample.test"] {
            let answer = ask(&proxy, format!("CONNECT {host}:{port} HTTP/1.1\r\n\r\n").as_bytes());
            assert!(answer.starts_with("HTTP/1.1 403 "), "{host}: {answer}");
        }
        let allowed: Vec<bool> = proxy.decisions().iter().map(|d| d.allowed).collect();
        assert_eq!(allowed, [true, false, false, false]);
    }

    #[test]
    fn an_unreachable_upstream_gets_502() {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let (_dir, proxy) = start(&[format!("127.0.0.1:{port}")]);
        let answer = ask(&proxy, format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n").as_bytes());
        assert!(answer.starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{answer}");
        assert!(answer.contains(&format!("could not connect to 127.0.0.1:{port}: ")), "{answer}");
        assert_eq!(proxy.decisions(), [decision("127.0.0.1", port, true, "CONNECT")]);
    }

    #[test]
    fn the_socket_is_new_and_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("proxy.sock");
        let proxy = Proxy::start(&path, Vec::new()).unwrap();
        assert_eq!(proxy.socket_path(), path);
        assert!(Proxy::start(&path, Vec::new()).is_err(), "a second proxy on a live socket");
        drop(proxy);
        assert!(!path.exists());
        assert!(UnixStream::connect(&path).is_err());
        std::fs::write(&path, "stale").unwrap();
        assert!(Proxy::start(&path, Vec::new()).is_err(), "an existing file is not replaced");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "stale");
    }

    #[test]
    fn decisions_are_bounded_and_the_rest_counted() {
        let shared = Shared::new(Vec::new());
        for port in 1..=MAX_DECISIONS as u16 + 3 {
            shared.record(decision("a.test", port, false, "GET"));
        }
        assert_eq!(shared.decisions().len(), MAX_DECISIONS);
        assert_eq!(shared.decisions()[0].port, 1);
        assert_eq!(shared.decisions_not_kept.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn authorities_and_urls_parse_strictly() {
        let target = |host: &str, port| Target { host: host.into(), port };
        assert_eq!(parse_authority("Example.COM:443", None), Ok(target("example.com", 443)));
        assert_eq!(parse_authority("[::1]:8080", None), Ok(target("::1", 8080)));
        assert_eq!(parse_authority("a.test", Some(80)), Ok(target("a.test", 80)));
        for bad in [
            "a.test", "a:0", "a:+1", "a:70000", "::1:80", "[::1", "[zz]:1", "[::1]x", "a b:1",
            ":80", "a@b:1", "a%1:1",
        ] {
            assert!(parse_authority(bad, None).is_err(), "{bad}");
        }
        assert_eq!(parse_absolute("http://a.test?q"), Ok((target("a.test", 80), "/?q".into())));
        assert_eq!(parse_absolute("HTTP://a.test:8080"), Ok((target("a.test", 8080), "/".into())));
        assert_eq!(parse_absolute("http://[::1]/p/q"), Ok((target("::1", 80), "/p/q".into())));
        assert_eq!(target("::1", 8080).host_header(), "[::1]:8080");
        assert_eq!(target("a.test", 80).host_header(), "a.test");
    }
}
