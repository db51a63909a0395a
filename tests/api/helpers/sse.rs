//! A client of Server-Sent Events streams that reads frame by frame, never without a time limit.

use std::time::Duration;

use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::Value;

/// One Server-Sent Events frame (the lines up to a blank line).
#[derive(Debug, Default)]
pub struct Frame {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: Option<String>,
    pub retry: Option<String>,
    pub comments: Vec<String>,
}

impl Frame {
    /// The change an event carries, checked against the event's `id:` and `event:` lines.
    pub fn change(&self) -> Value {
        let change: Value = serde_json::from_str(self.data.as_deref().unwrap()).unwrap();
        assert_eq!(change["id"].as_str(), self.id.as_deref(), "{self:?}");
        assert_eq!(change["type"].as_str(), self.event.as_deref(), "{self:?}");
        change
    }
}

/// What waiting on a stream gave.
#[derive(Debug)]
pub enum Next {
    Frame(Frame),
    Silence,
    End,
}

/// A client of an event stream, reading it frame by frame, never without a time limit.
pub struct EventStream {
    response: Response,
    buffer: Vec<u8>,
}

impl EventStream {
    /// Opens the stream, which must answer 200 `text/event-stream`.
    pub async fn open(request: RequestBuilder) -> Self {
        let response = tokio::time::timeout(Duration::from_secs(10), request.send())
            .await
            .expect("the stream answers within 10 s")
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self {
            response,
            buffer: Vec::new(),
        }
    }

    /// The next frame, if one comes within `within`.
    pub async fn next(&mut self, within: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let raw: Vec<u8> = self.buffer.drain(..end + 2).collect();
                return Next::Frame(parse_frame(std::str::from_utf8(&raw).unwrap()));
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return Next::Silence,
                Ok(Ok(Some(chunk))) => self.buffer.extend_from_slice(&chunk),
                Ok(Ok(None)) | Ok(Err(_)) => return Next::End,
            }
        }
    }

    /// The next event (skipping comments and the `retry:` frame), which must come within
    /// `within`.
    pub async fn event(&mut self, within: Duration) -> Frame {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Next::Frame(frame) if frame.event.is_some() || frame.data.is_some() => {
                    return frame;
                }
                Next::Frame(_) => {}
                other => panic!("no event within {within:?}: {other:?}"),
            }
        }
    }

    /// The changes of the next `n` events, each within `within`.
    pub async fn changes(&mut self, n: usize, within: Duration) -> Vec<Value> {
        let mut changes = Vec::with_capacity(n);
        for _ in 0..n {
            changes.push(self.event(within).await.change());
        }
        changes
    }

    /// Asserts that no event comes for `within` (comments may), and the stream stays open.
    pub async fn assert_quiet(&mut self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Next::Silence => return,
                Next::Frame(frame) if frame.event.is_none() && frame.data.is_none() => {}
                other => panic!("expected no event for {within:?}, got {other:?}"),
            }
        }
    }
}

fn parse_frame(raw: &str) -> Frame {
    let mut frame = Frame::default();
    for line in raw.lines().filter(|line| !line.is_empty()) {
        if let Some(comment) = line.strip_prefix(':') {
            frame.comments.push(comment.trim_start().to_owned());
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
        match field {
            "id" => frame.id = Some(value),
            "event" => frame.event = Some(value),
            "data" => frame.data = Some(value),
            "retry" => frame.retry = Some(value),
            other => panic!("unknown SSE field {other:?} in {raw:?}"),
        }
    }
    frame
}
