//! The Flight connection's socket, written through a buffer that hyper cannot flush frame
//! by frame.
//!
//! hyper's HTTP/2 writer writes every DATA frame it did not copy on its own and flushes the
//! socket after each: a client that keeps HTTP/2's default 16 KiB frames (the Go gRPC
//! client, and so the ADBC driver) cost one system call per 16 KiB of result (47,054
//! `sendto` calls for the 735 MB of `dyntag bench flight`, where Arrow C++'s server
//! gathers frames into large `sendmsg` calls). Here writes go to a buffer, and a flush
//! sends it only when it is large, or when the writer asks twice with nothing written in
//! between: after a flush it held back, the connection's task is woken, so that the writer
//! asks again at once if it has nothing more to write. A response never waits for more
//! than that one turn of the task. Under TLS flushes are not held back (the handshake
//! would wait for a flush that never comes).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, BufWriter, ReadBuf};
use tokio::net::TcpStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// Bytes gathered before a write.
const WRITE_BUFFER: usize = 256 << 10;
/// A flush with at least this much buffered is sent at once.
const FLUSH_AT: usize = 192 << 10;

/// A TCP connection whose writes are gathered (reads are not buffered).
pub struct Gathered {
    inner: BufWriter<TcpStream>,
    /// Whether flushes may be held back: not under TLS, whose handshake flushes once and
    /// then waits for the client without asking again.
    hold_back: bool,
    /// A flush was held back and nothing was written since.
    owed: bool,
}

impl Gathered {
    pub fn new(stream: TcpStream, hold_back: bool) -> Self {
        Self {
            inner: BufWriter::with_capacity(WRITE_BUFFER, stream),
            hold_back,
            owed: false,
        }
    }
}

impl Connected for Gathered {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.inner.get_ref().connect_info()
    }
}

impl AsyncRead for Gathered {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Gathered {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.owed = false;
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.owed = false;
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let buffered = self.inner.buffer().len();
        if !self.hold_back || buffered == 0 || buffered >= FLUSH_AT || self.owed {
            self.owed = false;
            return Pin::new(&mut self.inner).poll_flush(cx);
        }
        self.owed = true;
        cx.waker().wake_by_ref();
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// One call of `poll_flush`; whether it held the flush back (woke the task at once).
    fn flush_once(socket: &mut Gathered) -> bool {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = std::task::Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        let ready = Pin::new(socket).poll_flush(&mut cx).is_ready();
        let held_back = count.0.load(Ordering::SeqCst) > 0;
        assert!(ready || !held_back);
        held_back
    }

    async fn pair() -> (Gathered, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (accepted, client) = tokio::join!(listener.accept(), client);
        (Gathered::new(accepted.unwrap().0, true), client.unwrap())
    }

    #[tokio::test]
    async fn a_held_back_flush_wakes_the_writer_and_the_next_one_sends() {
        let (mut server, mut client) = pair().await;
        server.write_all(b"small frame").await.unwrap();
        // Held back: nothing on the wire yet, and the task is woken to ask again.
        assert!(flush_once(&mut server));
        let mut buf = [0u8; 64];
        let early =
            tokio::time::timeout(std::time::Duration::from_millis(50), client.read(&mut buf)).await;
        assert!(early.is_err(), "sent before the second flush");
        // Asked again with nothing written in between: sent.
        assert!(!flush_once(&mut server));
        let n = client.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"small frame");
    }

    #[tokio::test]
    async fn a_large_buffer_is_sent_at_the_first_flush() {
        let (mut server, mut client) = pair().await;
        let data = vec![7u8; FLUSH_AT];
        server.write_all(&data).await.unwrap();
        assert!(!flush_once(&mut server));
        // What the socket did not take at once goes at the next flushes.
        server.flush().await.unwrap();
        server.flush().await.unwrap();
        let mut got = vec![0u8; FLUSH_AT];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(got, data);
    }
}
