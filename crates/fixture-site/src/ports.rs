//! Loopback ports for tests: a free one for a server a test starts, and one that refuses.

/// A loopback port free now, for a server the test starts on it (another process may take it
/// meanwhile; the servers here retry nothing, so a clash fails loudly).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A loopback port that refuses connections and that no other test's server can take meanwhile:
/// bound, never listening (a listener bound and dropped leaves the port free for reuse). Keep
/// the socket alive while the port is used.
pub fn refused_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
    socket.bind("127.0.0.1:0".parse().expect("a socket address")).expect("a free loopback port");
    let port = socket.local_addr().expect("a bound socket has an address").port();
    (socket, port)
}
