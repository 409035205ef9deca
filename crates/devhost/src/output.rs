//! Component stdout/stderr, written line by line to devhost's own, each line
//! prefixed with the component id.

use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

#[derive(Clone)]
pub struct PrefixedOutput {
    prefix: Arc<str>,
    to_stderr: bool,
}

impl PrefixedOutput {
    pub fn stdout(component: &str) -> Self {
        PrefixedOutput {
            prefix: format!("[{component}] ").into(),
            to_stderr: false,
        }
    }

    pub fn stderr(component: &str) -> Self {
        PrefixedOutput {
            prefix: format!("[{component}] ").into(),
            to_stderr: true,
        }
    }
}

impl IsTerminal for PrefixedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for PrefixedOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            out: self.clone(),
            pending: Mutex::new(Vec::new()),
        })
    }
}

struct LineWriter {
    out: PrefixedOutput,
    pending: Mutex<Vec<u8>>,
}

impl LineWriter {
    fn emit(&self, line: &[u8]) {
        let mut text = Vec::with_capacity(self.out.prefix.len() + line.len() + 1);
        text.extend_from_slice(self.out.prefix.as_bytes());
        text.extend_from_slice(line);
        text.push(b'\n');
        let _ = if self.out.to_stderr {
            std::io::stderr().lock().write_all(&text)
        } else {
            std::io::stdout().lock().write_all(&text)
        };
    }

    fn drain(&self, all: bool) {
        let mut pending = self.pending.lock().unwrap();
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            self.emit(&line[..line.len() - 1]);
        }
        if all && !pending.is_empty() {
            let rest = std::mem::take(&mut *pending);
            self.emit(&rest);
        }
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.pending.lock().unwrap().extend_from_slice(buf);
        self.drain(false);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.drain(true);
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        self.drain(true);
    }
}
