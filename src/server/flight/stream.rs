//! DoGet without copies: a query's batches go to the socket from the memory they live in.
//!
//! tonic sends a `FlightData` by encoding it with prost into one buffer, after Arrow's IPC
//! writer has already copied every column into one body vector (growing it as it goes):
//! two copies of every byte, and page faults on fresh memory for each batch. Here DoGet is
//! answered below tonic's codec, as the HTTP/2 body of the gRPC response: each batch is
//! written by Arrow's [`StreamEncoder`], whose body is the arrays' own buffers, and each
//! buffer becomes one frame of the response (`Bytes` that share it), behind a small frame
//! holding the gRPC length prefix, the protobuf field keys and the IPC header. A
//! `FlightData` on the wire is the same bytes prost would write (fields 2 and 1000).
//!
//! Every other Flight call goes to the tonic service, which this one wraps.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use arrow_flight::{FlightData, SchemaAsIpc, Ticket};
use bytes::{BufMut, Bytes, BytesMut};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::buffer::Buffer;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::ipc::writer::{IpcWriteOptions, StreamEncoder};
use datafusion::arrow::ipc::{MessageHeader, root_as_message};
use futures::future::BoxFuture;
use futures::{Stream, StreamExt};
use http::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use http_body::Frame;
use http_body_util::{BodyExt, Limited, StreamBody};
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::{Request, Status};

use super::FlightSql;
use super::types;
use crate::server::BatchStream;
use crate::server::errors::ServeError;

/// The gRPC path of DoGet.
const DO_GET: &str = "/arrow.flight.protocol.FlightService/DoGet";
/// A message larger than this is refused, received or sent: tonic's limit for the other
/// Flight calls (a ticket carries its statement, up to `--max-statement-kb`).
pub const MAX_GRPC_MESSAGE: usize = 64 << 20;
/// Batches are cut to about this many bytes per message, as arrow-flight's encoder does,
/// so that no message exceeds a client's receive limit (4 MiB by default in gRPC).
const MAX_MESSAGE_BYTES: usize = 2 << 20;
/// Buffers smaller than this are copied into the frame before them rather than sent as a
/// frame of their own: hyper's HTTP/2 writer makes one `writev` per frame it does not
/// copy. Go's gRPC client takes frames of 16 KiB, so a buffer of that size costs one call
/// either way, and a copy is saved (`dyntag bench flight`: copying every buffer halved the
/// rate; copying those under 128 KiB was no faster than those under 16 KiB, with the score
/// table's batches of 65,536 rows).
const SMALL_BUFFER: usize = 16 << 10;
/// `FlightData.data_header` and `FlightData.data_body`.
const DATA_HEADER: u32 = 2;
const DATA_BODY: u32 = 1000;

/// The Flight service with DoGet answered here.
#[derive(Clone)]
pub struct WithDoGet<S> {
    inner: S,
    flight: Arc<FlightSql>,
}

impl<S> WithDoGet<S> {
    pub fn new(inner: S, flight: Arc<FlightSql>) -> Self {
        Self { inner, flight }
    }
}

impl<S: NamedService> NamedService for WithDoGet<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> tower_service::Service<http::Request<Body>> for WithDoGet<S>
where
    S: tower_service::Service<
            http::Request<Body>,
            Response = http::Response<Body>,
            Error = Infallible,
        > + Send,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if request.uri().path() != DO_GET {
            return Box::pin(self.inner.call(request));
        }
        let flight = Arc::clone(&self.flight);
        Box::pin(async move {
            Ok(do_get(&flight, request)
                .await
                .unwrap_or_else(Status::into_http))
        })
    }
}

/// Answers one DoGet: the ticket's batches as a gRPC response body.
async fn do_get(
    flight: &FlightSql,
    request: http::Request<Body>,
) -> Result<http::Response<Body>, Status> {
    let (parts, body) = request.into_parts();
    let bytes = Limited::new(body, MAX_GRPC_MESSAGE + 5)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                Status::resource_exhausted(format!(
                    "the ticket is larger than {MAX_GRPC_MESSAGE} bytes"
                ))
            } else {
                Status::invalid_argument(format!("reading the ticket: {e}"))
            }
        })?
        .to_bytes();
    let ticket: Ticket = grpc_message(&bytes)?;
    let request = Request::from_http(http::Request::from_parts(parts, ticket));
    let (schema, batches) = flight.ticket_batches(request).await?;
    let mut response = http::Response::new(Body::new(StreamBody::new(frames(schema, batches)?)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    Ok(response)
}

/// The one message of a unary gRPC request body.
fn grpc_message<M: prost::Message + Default>(body: &[u8]) -> Result<M, Status> {
    let Some((&compressed, rest)) = body.split_first() else {
        return Err(Status::invalid_argument("the request has no message"));
    };
    if compressed != 0 {
        return Err(Status::unimplemented(
            "compressed requests are not supported: send the ticket uncompressed",
        ));
    }
    let (len, message) = rest
        .split_first_chunk::<4>()
        .map(|(len, m)| (u32::from_be_bytes(*len) as usize, m))
        .ok_or_else(|| Status::invalid_argument("the request's message is cut short"))?;
    if len != message.len() {
        return Err(Status::invalid_argument(format!(
            "the request holds {} bytes where its prefix says {len}",
            message.len()
        )));
    }
    M::decode(message).map_err(|e| Status::invalid_argument(format!("malformed ticket: {e}")))
}

/// The gRPC response body of `batches`: the schema, one `FlightData` per batch (more for a
/// batch over [`MAX_MESSAGE_BYTES`]), then the trailers with the status.
fn frames(
    schema: SchemaRef,
    batches: BatchStream,
) -> Result<impl Stream<Item = Result<Frame<Bytes>, Infallible>> + Send + 'static, Status> {
    let schema = types::client_schema(&schema);
    let encoder = StreamEncoder::try_new_with_options(&schema, IpcWriteOptions::default())
        .map_err(|e| Status::from(ServeError::from(e)))?;
    let header = FlightData::from(SchemaAsIpc::new(&schema, &IpcWriteOptions::default()));
    let mut first = Frames::default();
    first.message(&header.data_header, Vec::new(), 0);
    let state = State {
        encoder,
        schema,
        batches,
        done: false,
    };
    let rest = futures::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        let frames = match st.batches.next().await {
            Some(batch) => match batch.map_err(Status::from).and_then(|b| st.encode(b)) {
                Ok(frames) => frames,
                Err(status) => {
                    st.done = true;
                    vec![trailers(Some(status))]
                }
            },
            None => {
                st.done = true;
                vec![trailers(None)]
            }
        };
        Some((futures::stream::iter(frames.into_iter().map(Ok)), st))
    });
    Ok(futures::stream::iter(first.out.into_iter().map(Ok)).chain(rest.flatten()))
}

struct State {
    encoder: StreamEncoder,
    schema: SchemaRef,
    batches: BatchStream,
    done: bool,
}

impl State {
    /// The frames of one batch (the IPC stream's schema message, sent first, left out).
    fn encode(&mut self, batch: RecordBatch) -> Result<Vec<Frame<Bytes>>, Status> {
        let arrow = |e: ArrowError| Status::from(ServeError::from(e));
        let batch = types::to_client(batch, &self.schema).map_err(arrow)?;
        let mut frames = Frames::default();
        for part in split(batch) {
            let mut ipc = Cursor::new(self.encoder.encode(&part).map_err(arrow)?);
            while let Some(m) = ipc.message().map_err(arrow)? {
                let is_schema = root_as_message(&m.header)
                    .is_ok_and(|h| h.header_type() == MessageHeader::Schema);
                if is_schema {
                    continue;
                }
                if m.header.len() + m.body_len > MAX_GRPC_MESSAGE {
                    return Err(Status::resource_exhausted(format!(
                        "a row of the result does not fit in a message of {MAX_GRPC_MESSAGE} bytes ({} bytes for {} row(s))",
                        m.header.len() + m.body_len,
                        part.num_rows()
                    )));
                }
                frames.message(&m.header, m.body, m.body_len);
            }
        }
        Ok(frames.out)
    }
}

/// `batch` cut into slices of about [`MAX_MESSAGE_BYTES`] (no copy).
fn split(batch: RecordBatch) -> Vec<RecordBatch> {
    let bytes: usize = batch
        .columns()
        .iter()
        .map(|c| c.get_buffer_memory_size())
        .sum();
    let rows = batch.num_rows();
    let parts = bytes.div_ceil(MAX_MESSAGE_BYTES).max(1);
    if parts == 1 {
        return vec![batch];
    }
    let per = rows.div_ceil(parts).max(1);
    (0..rows)
        .step_by(per)
        .map(|start| batch.slice(start, per.min(rows - start)))
        .collect()
}

/// One IPC message: its flatbuffer header, its body's buffers and their length.
struct Message {
    header: Vec<u8>,
    body: Vec<Buffer>,
    body_len: usize,
}

/// Reads IPC stream messages out of the encoder's buffers without copying their bodies.
struct Cursor {
    buffers: VecDeque<Buffer>,
}

impl Cursor {
    fn new(buffers: Vec<Buffer>) -> Self {
        Self {
            buffers: buffers.into_iter().filter(|b| !b.is_empty()).collect(),
        }
    }

    /// The next message.
    fn message(&mut self) -> Result<Option<Message>, ArrowError> {
        if self.buffers.is_empty() {
            return Ok(None);
        }
        let prefix = self.copy(8)?;
        let (marker, len) = prefix.split_at(4);
        if marker != [0xff; 4] {
            return Err(ArrowError::IpcError(
                "the IPC writer left out the continuation marker".into(),
            ));
        }
        let len = i32::from_le_bytes(len.try_into().expect("4 bytes"));
        if len <= 0 {
            return Ok(None);
        }
        let header = self.copy(len as usize)?;
        let body_len = root_as_message(&header)
            .map_err(|e| ArrowError::IpcError(format!("an IPC header that does not parse: {e}")))?
            .bodyLength() as usize;
        let body = self.take(body_len)?;
        Ok(Some(Message {
            header,
            body,
            body_len,
        }))
    }

    /// The next `n` bytes as slices of the buffers.
    fn take(&mut self, mut n: usize) -> Result<Vec<Buffer>, ArrowError> {
        let mut out = Vec::new();
        while n > 0 {
            let Some(front) = self.buffers.pop_front() else {
                return Err(ArrowError::IpcError(
                    "an IPC message longer than the encoder's output".into(),
                ));
            };
            if front.len() <= n {
                n -= front.len();
                out.push(front);
            } else {
                out.push(front.slice_with_length(0, n));
                self.buffers.push_front(front.slice(n));
                n = 0;
            }
        }
        Ok(out)
    }

    fn copy(&mut self, n: usize) -> Result<Vec<u8>, ArrowError> {
        let mut out = Vec::with_capacity(n);
        for b in self.take(n)? {
            out.extend_from_slice(b.as_slice());
        }
        Ok(out)
    }
}

/// HTTP/2 body frames of gRPC messages, small pieces gathered into one frame.
#[derive(Default)]
struct Frames {
    out: Vec<Frame<Bytes>>,
    pending: BytesMut,
}

impl Frames {
    /// One `FlightData { data_header: header, data_body: body }` as a gRPC message.
    fn message(&mut self, header: &[u8], body: Vec<Buffer>, body_len: usize) {
        let field = |tag: u32, len: usize| key_len(tag) + encoded_len_varint(len as u64) + len;
        let mut len = field(DATA_HEADER, header.len());
        if body_len > 0 {
            len += field(DATA_BODY, body_len);
        }
        let p = &mut self.pending;
        p.reserve(5 + 16 + header.len());
        p.put_u8(0);
        // At most MAX_GRPC_MESSAGE (checked by the caller).
        p.put_u32(len as u32);
        encode_key(DATA_HEADER, WireType::LengthDelimited, p);
        encode_varint(header.len() as u64, p);
        p.put_slice(header);
        if body_len > 0 {
            encode_key(DATA_BODY, WireType::LengthDelimited, p);
            encode_varint(body_len as u64, p);
        }
        for b in body {
            if b.len() < SMALL_BUFFER {
                self.pending.put_slice(b.as_slice());
            } else {
                self.flush();
                self.out.push(Frame::data(Bytes::from_owner(Shared(b))));
            }
        }
        self.flush();
    }

    fn flush(&mut self) {
        if !self.pending.is_empty() {
            self.out.push(Frame::data(self.pending.split().freeze()));
        }
    }
}

/// An Arrow buffer lent to `Bytes`: the frame keeps the array's memory alive until sent.
struct Shared(Buffer);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

/// The gRPC trailers: `grpc-status` 0, or the error's status and message.
fn trailers(status: Option<Status>) -> Frame<Bytes> {
    let mut map = HeaderMap::new();
    match status {
        None => {
            map.insert("grpc-status", HeaderValue::from_static("0"));
        }
        Some(s) => {
            if s.add_header(&mut map).is_err() {
                map.insert("grpc-status", HeaderValue::from_static("13"));
            }
        }
    }
    Frame::trailers(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_flight::utils::flight_data_to_arrow_batch;
    use datafusion::arrow::array::{Float64Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use prost::Message;
    use std::collections::HashMap;

    /// The gRPC messages of `frames`, decoded as prost would.
    fn messages(frames: Vec<Frame<Bytes>>) -> (Vec<FlightData>, HeaderMap) {
        let mut wire = BytesMut::new();
        let mut trailers = HeaderMap::new();
        for f in frames {
            match f.into_data() {
                Ok(d) => wire.put_slice(&d),
                Err(f) => trailers = f.into_trailers().expect("data or trailers"),
            }
        }
        let mut out = Vec::new();
        let mut rest = &wire[..];
        while !rest.is_empty() {
            assert_eq!(rest[0], 0, "uncompressed");
            let len = u32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
            out.push(FlightData::decode(&rest[5..5 + len]).expect("a FlightData"));
            rest = &rest[5 + len..];
        }
        (out, trailers)
    }

    fn batch(rows: usize, offset: usize) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("n", DataType::Int64, true),
            Field::new("score", DataType::Float64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from_iter_values(
                    (offset..offset + rows).map(|i| format!("item-{i}")),
                )),
                Arc::new(Int64Array::from_iter(
                    (offset..offset + rows).map(|i| (i % 3 != 0).then_some(i as i64)),
                )),
                Arc::new(Float64Array::from_iter_values(
                    (offset..offset + rows).map(|i| i as f64 / 7.0),
                )),
            ],
        )
        .unwrap()
    }

    async fn collect(batches: Vec<Result<RecordBatch, ServeError>>) -> Vec<Frame<Bytes>> {
        let schema = batch(0, 0).schema();
        let stream: BatchStream = Box::pin(futures::stream::iter(batches));
        frames(schema, stream)
            .unwrap()
            .map(|f| f.unwrap())
            .collect()
            .await
    }

    #[tokio::test]
    async fn the_frames_are_the_flight_data_arrow_flight_decodes() {
        // A small batch, a sliced one and one large enough to be cut in several messages.
        let sent = vec![
            batch(10, 0),
            batch(1000, 10).slice(100, 500),
            batch(300_000, 2000),
        ];
        let frames = collect(sent.iter().cloned().map(Ok).collect()).await;
        // The large batch's columns went out as frames of their own.
        assert!(
            frames
                .iter()
                .filter_map(|f| f.data_ref())
                .any(|d| d.len() > SMALL_BUFFER),
            "no buffer was sent as its own frame"
        );
        let (data, trailers) = messages(frames);
        assert_eq!(trailers.get("grpc-status").unwrap(), "0");
        let schema = Arc::new(Schema::try_from(&data[0]).expect("the schema first"));
        assert_eq!(schema.as_ref(), sent[0].schema().as_ref());
        let got: Vec<RecordBatch> = data[1..]
            .iter()
            .map(|d| flight_data_to_arrow_batch(d, Arc::clone(&schema), &HashMap::new()).unwrap())
            .collect();
        assert!(
            got.len() > 3,
            "the large batch was not cut: {} messages",
            got.len()
        );
        let concat =
            |b: &[RecordBatch]| datafusion::arrow::compute::concat_batches(&schema, b).unwrap();
        assert_eq!(concat(&got), concat(&sent));
    }

    #[tokio::test]
    async fn an_error_after_some_batches_ends_the_stream_with_its_status() {
        let frames = collect(vec![
            Ok(batch(5, 0)),
            Err(ServeError::from(ArrowError::ComputeError("boom".into()))),
            Ok(batch(5, 5)),
        ])
        .await;
        let (data, trailers) = messages(frames);
        assert_eq!(data.len(), 2, "the schema and the first batch");
        assert_ne!(trailers.get("grpc-status").unwrap(), "0");
        let message = trailers.get("grpc-message").unwrap().to_str().unwrap();
        assert!(message.contains("boom"), "{message}");
    }

    #[tokio::test]
    async fn a_row_larger_than_a_message_ends_the_stream_with_resource_exhausted() {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false)]));
        let huge = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(StringArray::from(vec![
                "x".repeat(MAX_GRPC_MESSAGE + 1),
            ]))],
        )
        .unwrap();
        let stream: BatchStream = Box::pin(futures::stream::iter([Ok(huge)]));
        let frames: Vec<Frame<Bytes>> = frames(schema, stream)
            .unwrap()
            .map(|f| f.unwrap())
            .collect()
            .await;
        let (data, trailers) = messages(frames);
        assert_eq!(data.len(), 1, "only the schema");
        let code = tonic::Code::ResourceExhausted as i32;
        assert_eq!(trailers.get("grpc-status").unwrap(), &code.to_string());
    }

    #[tokio::test]
    async fn no_batches_still_send_the_schema() {
        let (data, trailers) = messages(collect(vec![]).await);
        assert_eq!(data.len(), 1);
        assert!(Schema::try_from(&data[0]).is_ok());
        assert_eq!(trailers.get("grpc-status").unwrap(), "0");
    }

    #[test]
    fn a_malformed_request_is_refused_with_a_clear_error() {
        assert!(grpc_message::<Ticket>(&[]).is_err());
        assert!(
            grpc_message::<Ticket>(&[1, 0, 0, 0, 0])
                .unwrap_err()
                .message()
                .contains("compressed")
        );
        assert!(grpc_message::<Ticket>(&[0, 0, 0, 0, 9, 1]).is_err());
        let t = Ticket::new("abc");
        let mut body = vec![0];
        body.extend((t.encoded_len() as u32).to_be_bytes());
        body.extend(t.encode_to_vec());
        assert_eq!(grpc_message::<Ticket>(&body).unwrap(), t);
    }
}
