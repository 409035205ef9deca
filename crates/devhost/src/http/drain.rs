//! A request body read to its end whatever the component does with it, as
//! Spin's listener does: a component may answer (say, 401 or 413) without
//! reading an upload, and the client, still sending, must not be cut off
//! mid-write. The body is forwarded while the component reads it and
//! discarded once it stops, up to a bound.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming};
use tokio::sync::mpsc;

/// The most a request body is read past what the component took.
const MAX_DISCARDED: u64 = 1 << 30;

pub struct DrainedBody {
    frames: mpsc::Receiver<Result<Frame<Bytes>, hyper::Error>>,
}

impl DrainedBody {
    pub fn new(mut incoming: Incoming) -> DrainedBody {
        let (tx, frames) = mpsc::channel(4);
        tokio::spawn(async move {
            let mut discarded = 0u64;
            while let Some(frame) = incoming.frame().await {
                if tx.is_closed() {
                    discarded += frame
                        .as_ref()
                        .ok()
                        .and_then(|f| f.data_ref())
                        .map_or(0, |d| d.len() as u64);
                    if discarded > MAX_DISCARDED {
                        return;
                    }
                    continue;
                }
                let _ = tx.send(frame).await;
            }
        });
        DrainedBody { frames }
    }
}

impl Body for DrainedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        self.frames.poll_recv(cx)
    }
}
