//! The Arrow Flight SQL endpoint: authentication (handshake with basic credentials, bearer
//! tokens on every call), statements whose batches stream from the DataFusion plan as they
//! are produced, tag statements as updates, prepared statements with bound parameters, and
//! the metadata BI tools browse.

mod handles;
mod info;
mod metadata;
mod stream;
mod types;

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightServiceServer;
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, Any, Command, CommandGetCatalogs,
    CommandGetCrossReference, CommandGetDbSchemas, CommandGetExportedKeys, CommandGetImportedKeys,
    CommandGetPrimaryKeys, CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables,
    CommandGetXdbcTypeInfo, CommandPreparedStatementQuery, CommandPreparedStatementUpdate,
    CommandStatementQuery, CommandStatementUpdate, DoPutPreparedStatementResult, ProstMessageExt,
    SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, IpcMessage,
    SchemaAsIpc, Ticket,
};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use datafusion::common::{ParamValues, ScalarValue};
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use tokio::net::TcpListener;
use tonic::metadata::MetadataMap;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, ServerTlsConfig};
use tonic::{Request, Response, Status, Streaming};

use super::auth::Caller;
use super::errors::ServeError;
use super::{BatchStream, Server, answer_stream};
use crate::engine::Statement;
use crate::error::{AppError, Result};
use handles::{Handles, Prepared, TicketHandle};

const PROTOCOL: &str = "flight";

/// The Flight SQL service.
pub struct FlightSql {
    server: Arc<Server>,
    handles: Handles,
}

/// Serves Flight SQL on `listener` until `shutdown`.
pub async fn serve(
    server: Arc<Server>,
    listener: TcpListener,
    tls: Option<(PathBuf, PathBuf)>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<impl Future<Output = Result<(), tonic::transport::Error>> + Send + 'static> {
    let flight = Arc::new(FlightSql {
        server,
        handles: Handles::default(),
    });
    let tonic_service = FlightServiceServer::from_arc(Arc::clone(&flight))
        .max_decoding_message_size(stream::MAX_GRPC_MESSAGE)
        .max_encoding_message_size(stream::MAX_GRPC_MESSAGE);
    let service = stream::WithDoGet::new(tonic_service, flight);
    let mut builder = tonic::transport::Server::builder();
    if let Some((cert, key)) = tls {
        let read = |p: &PathBuf, what: &str| {
            std::fs::read(p)
                .map_err(|e| AppError::io(format!("reading the TLS {what} {}", p.display()), e))
        };
        let identity = Identity::from_pem(read(&cert, "certificate")?, read(&key, "key")?);
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(identity))
            .map_err(|e| AppError::Input(format!("invalid TLS certificate or key: {e}")))?;
    }
    let router = builder.add_service(service);
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    Ok(async move {
        router
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
    })
}

impl FlightSql {
    /// Who is calling, on which connection: a Flight SQL session (its `USE` and `SET`) is
    /// the gRPC connection it came on.
    fn caller<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        let metadata: &MetadataMap = request.metadata();
        let header = metadata.get("authorization").and_then(|v| v.to_str().ok());
        let peer = request.remote_addr();
        let client = peer.map_or(std::net::IpAddr::from([0, 0, 0, 0]), |a| a.ip());
        let mut caller = self.server.auth().check_from(header, client)?;
        caller.connection = format!(
            "flight:{}",
            peer.map_or_else(|| "unknown".to_string(), |a| a.to_string())
        );
        Ok(caller)
    }

    fn ticket_info(
        &self,
        schema: &Schema,
        ticket: Vec<u8>,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = types::client_schema(&Arc::new(schema.clone()));
        let info = FlightInfo::new()
            .try_with_schema(&schema)
            .map_err(|e| Status::from(ServeError::from(e)))?
            .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket)))
            .with_descriptor(descriptor)
            .with_ordered(true);
        Ok(Response::new(info))
    }

    /// A FlightInfo whose ticket is the command itself (metadata calls).
    fn command_info(
        &self,
        cmd: impl ProstMessageExt,
        schema: &Schema,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        self.ticket_info(schema, cmd.as_any().encode_to_vec(), descriptor)
    }

    /// Runs a prepared (or ad hoc) statement with parameters as a stream.
    async fn run_with_params(
        &self,
        caller: &Caller,
        dataset: &str,
        sql: &str,
        params: Option<ParamValues>,
    ) -> Result<(SchemaRef, BatchStream), ServeError> {
        match self.server.plan(caller, PROTOCOL, dataset, sql).await? {
            (engine, Statement::Tag(stmt)) => {
                let answer = self
                    .server
                    .run_tag(caller, PROTOCOL, &engine, sql, &stmt)
                    .await?;
                Ok(answer_stream(answer))
            }
            (engine, Statement::Query(plan)) => {
                self.server
                    .run_query(caller, PROTOCOL, &engine, sql, plan, params)
                    .await
            }
        }
    }

    /// The batches a DoGet ticket answers, dispatched as arrow-flight's `do_get` does
    /// ([`stream`] sends them; the trait's `do_get_*` methods are not used).
    async fn ticket_batches(
        &self,
        request: Request<Ticket>,
    ) -> Result<(SchemaRef, BatchStream), Status> {
        let malformed =
            |e: &dyn std::fmt::Display| Status::invalid_argument(format!("malformed ticket: {e}"));
        let message = Any::decode(&*request.get_ref().ticket).map_err(|e| malformed(&e))?;
        let command = Command::try_from(message).map_err(|e| malformed(&e))?;
        let caller = self.caller(&request)?;
        let batch = match command {
            Command::TicketStatementQuery(ticket) => {
                let handle = TicketHandle::decode(&ticket.statement_handle)?;
                if handle.user() != caller.user {
                    return Err(Status::permission_denied(
                        "this ticket was issued to another user",
                    ));
                }
                return Ok(match handle {
                    TicketHandle::Answer { id, .. } => {
                        answer_stream(self.handles.take_answer(&id)?)
                    }
                    TicketHandle::Query { dataset, sql, .. } => {
                        self.run_with_params(&caller, &dataset, &sql, None).await?
                    }
                });
            }
            Command::CommandPreparedStatementQuery(cmd) => {
                let p = self
                    .handles
                    .prepared(&cmd.prepared_statement_handle, &caller.user)?;
                check_bound(&p)?;
                return Ok(self
                    .run_with_params(&caller, &p.dataset, &p.sql, p.params.clone())
                    .await?);
            }
            Command::CommandGetCatalogs(cmd) => metadata::catalogs(cmd)?,
            Command::CommandGetDbSchemas(cmd) => {
                metadata::schemas(&self.server, &caller, cmd).await?
            }
            Command::CommandGetTables(cmd) => metadata::tables(&self.server, &caller, cmd).await?,
            Command::CommandGetTableTypes(cmd) => metadata::table_types(cmd)?,
            Command::CommandGetSqlInfo(cmd) => cmd
                .into_builder(&info::SQL_INFO)
                .build()
                .map_err(|e| Status::from(ServeError::from(e)))?,
            Command::CommandGetXdbcTypeInfo(cmd) => cmd
                .into_builder(&info::XDBC_TYPES)
                .build()
                .map_err(|e| Status::from(ServeError::from(e)))?,
            Command::CommandGetPrimaryKeys(_) => {
                RecordBatch::new_empty(info::primary_keys_schema())
            }
            Command::CommandGetImportedKeys(_)
            | Command::CommandGetExportedKeys(_)
            | Command::CommandGetCrossReference(_) => {
                RecordBatch::new_empty(info::foreign_keys_schema())
            }
            other => {
                return Err(Status::unimplemented(format!(
                    "dyntag does not implement {}",
                    other.into_any().type_url
                )));
            }
        };
        let schema = batch.schema();
        Ok((schema, Box::pin(futures::stream::iter([Ok(batch)]))))
    }
}

fn ipc_schema(schema: &Schema) -> Result<bytes::Bytes, Status> {
    let message: IpcMessage = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: datafusion::arrow::error::ArrowError| Status::from(ServeError::from(e)))?;
    Ok(message.0)
}

/// The parameters of a plan (`$1`, `$2`, …) in order, as a schema.
fn parameter_schema(plan: &datafusion::logical_expr::LogicalPlan) -> Result<Schema, ServeError> {
    let types = plan.get_parameter_types()?;
    let mut fields: Vec<(usize, Field)> = types
        .into_iter()
        .map(|(name, ty)| {
            let index = name
                .trim_start_matches('$')
                .parse::<usize>()
                .unwrap_or(usize::MAX);
            let ty = ty.unwrap_or(DataType::Null);
            (index, Field::new(name, ty, true))
        })
        .collect();
    fields.sort_by_key(|(i, _)| *i);
    Ok(Schema::new(
        fields.into_iter().map(|(_, f)| f).collect::<Vec<_>>(),
    ))
}

/// Counts the rows of an update's answer.
async fn count_rows(mut batches: BatchStream) -> Result<i64, Status> {
    let mut rows = 0i64;
    while let Some(b) = batches.next().await {
        rows += b?.num_rows() as i64;
    }
    Ok(rows)
}

#[tonic::async_trait]
impl FlightSqlService for FlightSql {
    type FlightService = FlightSql;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<
        Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>,
        Status,
    > {
        let caller = self.caller(&request)?;
        let payload = HandshakeResponse {
            protocol_version: 0,
            payload: caller.token.clone().into_bytes().into(),
        };
        let mut response: Response<
            Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>,
        > = Response::new(Box::pin(futures::stream::iter([Ok(payload)])));
        let bearer = format!("Bearer {}", caller.token)
            .parse()
            .map_err(|_| Status::internal("token is not a valid header value"))?;
        response.metadata_mut().insert("authorization", bearer);
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let caller = self.caller(&request)?;
        let dataset = self.server.session_dataset(&caller);
        let (engine, stmt) = self
            .server
            .plan(&caller, PROTOCOL, &dataset, &query.query)
            .await?;
        let (schema, handle) = match stmt {
            Statement::Tag(stmt) => {
                let answer = self
                    .server
                    .run_tag(&caller, PROTOCOL, &engine, &query.query, &stmt)
                    .await?;
                let schema = answer.schema.clone();
                let id = self.handles.add_answer(answer);
                (
                    schema,
                    TicketHandle::Answer {
                        user: caller.user,
                        id,
                    },
                )
            }
            Statement::Query(plan) => (
                Arc::new(plan.schema().as_arrow().clone()),
                TicketHandle::Query {
                    user: caller.user,
                    dataset,
                    sql: query.query,
                },
            ),
        };
        let ticket = TicketStatementQuery {
            statement_handle: handle.encode().into(),
        };
        self.ticket_info(
            &schema,
            ticket.as_any().encode_to_vec(),
            request.into_inner(),
        )
    }

    async fn do_put_statement_update(
        &self,
        cmd: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let caller = self.caller(&request)?;
        let (_, batches) = self.server.run(&caller, PROTOCOL, None, &cmd.query).await?;
        count_rows(batches).await
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<arrow_flight::Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let caller = self.caller(&request)?;
        let dataset = self.server.session_dataset(&caller);
        let (_, stmt) = self
            .server
            .plan(&caller, PROTOCOL, &dataset, &query.query)
            .await?;
        let (dataset_schema, parameter_schema) = match &stmt {
            // A tag statement's answer is known when it runs.
            Statement::Tag(_) => (Schema::empty(), Schema::empty()),
            Statement::Query(plan) => (
                types::client_schema(&Arc::new(plan.schema().as_arrow().clone()))
                    .as_ref()
                    .clone(),
                parameter_schema(plan)?,
            ),
        };
        let result_schema = ipc_schema(&dataset_schema)?;
        let params_schema = ipc_schema(&parameter_schema)?;
        let handle = self.handles.add_prepared(Prepared {
            user: caller.user,
            dataset,
            sql: query.query,
            is_tag: matches!(stmt, Statement::Tag(_)),
            dataset_schema: Arc::new(dataset_schema),
            parameter_schema: Arc::new(parameter_schema),
            params: None,
        })?;
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.into_bytes().into(),
            dataset_schema: result_schema,
            parameter_schema: params_schema,
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<arrow_flight::Action>,
    ) -> Result<(), Status> {
        let caller = self.caller(&request)?;
        self.handles
            .close_prepared(&query.prepared_statement_handle, &caller.user);
        Ok(())
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let caller = self.caller(&request)?;
        let prepared = self
            .handles
            .prepared(&query.prepared_statement_handle, &caller.user)?;
        let stream = request.into_inner().map_err(FlightError::from);
        let batches: Vec<RecordBatch> = FlightRecordBatchStream::new_from_flight_data(stream)
            .try_collect()
            .await
            .map_err(|e| Status::invalid_argument(format!("reading the bound parameters: {e}")))?;
        let params = bind(&prepared, &batches)?;
        self.handles
            .bind(&query.prepared_statement_handle, &caller.user, params)?;
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(query.prepared_statement_handle),
        })
    }

    async fn get_flight_info_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let caller = self.caller(&request)?;
        let prepared = self
            .handles
            .prepared(&cmd.prepared_statement_handle, &caller.user)?;
        if prepared.is_tag {
            // Run it now, once, and hand out its answer (as for an ad hoc tag statement).
            let (engine, Statement::Tag(stmt)) = self
                .server
                .plan(&caller, PROTOCOL, &prepared.dataset, &prepared.sql)
                .await?
            else {
                return Err(Status::internal(
                    "a prepared tag statement planned as a query",
                ));
            };
            let answer = self
                .server
                .run_tag(&caller, PROTOCOL, &engine, &prepared.sql, &stmt)
                .await?;
            let schema = answer.schema.clone();
            let id = self.handles.add_answer(answer);
            let ticket = TicketStatementQuery {
                statement_handle: TicketHandle::Answer {
                    user: caller.user,
                    id,
                }
                .encode()
                .into(),
            };
            return self.ticket_info(
                &schema,
                ticket.as_any().encode_to_vec(),
                request.into_inner(),
            );
        }
        let schema = prepared.dataset_schema.clone();
        self.command_info(cmd, &schema, request.into_inner())
    }

    async fn do_put_prepared_statement_update(
        &self,
        cmd: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let caller = self.caller(&request)?;
        let p = self
            .handles
            .prepared(&cmd.prepared_statement_handle, &caller.user)?;
        // Parameters may come with the update itself.
        let stream = request.into_inner().map_err(FlightError::from);
        let batches: Vec<RecordBatch> = FlightRecordBatchStream::new_from_flight_data(stream)
            .try_collect()
            .await
            .unwrap_or_default();
        let params = if batches.iter().any(|b| b.num_rows() > 0) {
            Some(bind(&p, &batches)?)
        } else {
            check_bound(&p)?;
            p.params.clone()
        };
        let (_, batches) = self
            .run_with_params(&caller, &p.dataset, &p.sql, params)
            .await?;
        count_rows(batches).await
    }

    async fn get_flight_info_catalogs(
        &self,
        cmd: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let schema = cmd.into_builder().schema();
        self.command_info(cmd, &schema, request.into_inner())
    }

    async fn get_flight_info_schemas(
        &self,
        cmd: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let schema = cmd.clone().into_builder().schema();
        self.command_info(cmd, &schema, request.into_inner())
    }

    async fn get_flight_info_tables(
        &self,
        cmd: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let schema = cmd.clone().into_builder().schema();
        self.command_info(cmd, &schema, request.into_inner())
    }

    async fn get_flight_info_table_types(
        &self,
        cmd: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let schema = cmd.into_builder().schema();
        self.command_info(cmd, &schema, request.into_inner())
    }

    async fn get_flight_info_sql_info(
        &self,
        cmd: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let schema = metadata::sql_info_schema();
        self.command_info(cmd, &schema, request.into_inner())
    }

    async fn get_flight_info_xdbc_type_info(
        &self,
        cmd: CommandGetXdbcTypeInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let schema = info::XDBC_TYPES.schema();
        self.command_info(cmd, &schema, request.into_inner())
    }

    async fn get_flight_info_primary_keys(
        &self,
        cmd: CommandGetPrimaryKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        self.command_info(cmd, &info::primary_keys_schema(), request.into_inner())
    }

    async fn get_flight_info_imported_keys(
        &self,
        cmd: CommandGetImportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        self.command_info(cmd, &info::foreign_keys_schema(), request.into_inner())
    }

    async fn get_flight_info_exported_keys(
        &self,
        cmd: CommandGetExportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        self.command_info(cmd, &info::foreign_keys_schema(), request.into_inner())
    }

    async fn get_flight_info_cross_reference(
        &self,
        cmd: CommandGetCrossReference,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        self.command_info(cmd, &info::foreign_keys_schema(), request.into_inner())
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

/// The first row of the bound batches as parameter values, checked against the statement.
fn bind(p: &Prepared, batches: &[RecordBatch]) -> Result<ParamValues, Status> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let Some(batch) = batches
        .iter()
        .find(|b| b.num_rows() == 1)
        .filter(|_| rows == 1)
    else {
        return Err(Status::invalid_argument(format!(
            "bind exactly one row of parameters (got {rows})"
        )));
    };
    let wanted = p.parameter_schema.fields().len();
    if batch.num_columns() != wanted {
        return Err(Status::invalid_argument(format!(
            "the statement has {wanted} parameter(s) but {} value(s) were bound",
            batch.num_columns()
        )));
    }
    let values = batch
        .columns()
        .iter()
        .map(|c| ScalarValue::try_from_array(c, 0))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Status::invalid_argument(format!("a bound parameter: {e}")))?;
    Ok(ParamValues::List(
        values.into_iter().map(Into::into).collect(),
    ))
}

fn check_bound(p: &Prepared) -> Result<(), Status> {
    if !p.parameter_schema.fields().is_empty() && p.params.is_none() {
        return Err(Status::invalid_argument(format!(
            "the statement has {} parameter(s); bind them before executing",
            p.parameter_schema.fields().len()
        )));
    }
    Ok(())
}

impl From<ServeError> for FlightError {
    fn from(e: ServeError) -> Self {
        FlightError::Tonic(Box::new(e.into()))
    }
}
