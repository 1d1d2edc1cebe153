// Package ui is the status page of a dstream job, like the Streaming tab
// of Spark's web UI: the input rate, scheduling delay, processing time
// and total delay of every batch as timelines, each with its histogram;
// the active batches (queued and processing) and the completed ones, with
// their records, delays, output operations and errors, each with a detail
// view; the receivers with
// their status and last error; the partitions each input owns among the
// copies of the job in its consumer group, how often they moved and how
// long the last move's restore took. Behind the page are a JSON API, modeled on
// Spark's REST API for streaming, and Prometheus metrics at /metrics.
//
// A Server is a dstream listener: register it before the context starts,
// then serve it. WithName names the job in the page's heading.
//
//	srv, err := ui.New(interval)
//	ssc, err := dstream.NewContext(interval, dstream.WithListener(srv))
//	// ... build the job ...
//	go srv.ListenAndServe(ctx, "127.0.0.1:4040") // http://127.0.0.1:4040/
//	err = ssc.Run(ctx)
//
// Or mount Handler in a server of your own; its links are relative, so
// http.StripPrefix("/streaming", srv.Handler()) under "/streaming/" works.
// Nothing runs and no port is opened until ListenAndServe, Start or Serve.
//
// The page is served from the binary (HTML, CSS and JavaScript embedded
// with go:embed; charts are SVG drawn by the page's own script, with no
// libraries, fonts or CDN), so it works with no network. It polls the JSON
// API every second.
//
// # Retained batches
//
// The Server keeps the last DefaultRetainedBatches (1000) completed
// batches (WithRetainedBatches; Spark's spark.streaming.ui.retainedBatches),
// which the charts, tables and API show; totals count every batch.
//
// With each batch, completed or active, it keeps what its inputs said of
// it (dstream.InputInfo.Metadata) as JSON, bounded: a list keeps its first
// MaxMetadataItems (1000) items, and of those as many as fit in
// MaxMetadataBytes (128 KiB), the number left out being reported; any
// other entry longer than MaxMetadataBytes is replaced by a note. So a
// retained batch holds at most 128 KiB per metadata entry of each input,
// and the Server at most that times the retained batches: a file
// stream's batch keeps its first 1000 files (fewer when their paths are
// longer than 128 bytes on average); the Kafka direct stream's offset
// ranges, one per partition, are kept whole up to 1000 partitions of
// topics with names under 60 characters and offsets under 10^12. An
// entry that cannot be encoded as JSON is replaced by a note saying why.
//
// # Batch detail
//
// The batch time in the tables (and every point of the timelines) links
// to #batch=<ms>, the batch's detail, shown above the charts from
// GET /api/v1/streaming/batches/{batchTime} until the link "All batches"
// is followed: the batch's times, status, delays and error; per input its
// records, the Kafka offset ranges per partition (topic, partition, from,
// until, count), the files it read, the consumer lag per partition and any
// other metadata as JSON; per output operation (by its name, as given with
// dstream.WriteSpec.Name) its status, duration, the records, rows, bytes
// and files its output wrote (dstream.StatsReporter), the records it
// rejected by reason and its error. The view follows a batch that runs
// until it completes, survives the page's polling, and keeps working once
// the job has stopped, as the whole page does while the process serves
// it.
//
// # JSON API
//
//	GET /api/v1/streaming/statistics                      Statistics
//	GET /api/v1/streaming/batches[?status=LIST]           []Batch, newest first (LIST: a comma-separated
//	                                                      subset of queued, processing, completed, failed),
//	                                                      without the inputs' metadata and lag
//	GET /api/v1/streaming/batches/{batchTime}             Batch (its time in ms since the epoch), with its
//	                                                      inputs' metadata and lag
//	GET /api/v1/streaming/batches/{batchTime}/operations  []OutputOperation
//	GET /api/v1/streaming/receivers                       []Receiver
//	GET /api/v1/streaming/receivers/{streamId}            Receiver
//
// Times are integers, milliseconds since the Unix epoch; durations are
// milliseconds with a fraction (the nanoseconds of dstream.BatchInfo's
// delays); rates are records per second, a batch's input rate being its
// records divided by the batch interval, as in Spark. A value not known
// yet is null. Errors are {"error": "..."} with status 400 or 404. The
// types Statistics, Batch, Input, OutputOperation and Receiver document
// every field.
//
// # Health
//
//	GET /healthz   200 while the job runs or stopped as asked; 503 once it stopped with an error
//	GET /readyz    200 when the job is ready: started, no dependency degraded (a broker,
//	               topic or directory away, as reported with dstream.Context.ReportHealth),
//	               the last batch succeeded, no batch waited longer than the maximum
//	               scheduling delay (WithMaxSchedulingDelay; default 10 intervals, at
//	               least 30 s); else 503
//
// Both answer a Health as JSON, with the reasons when not OK, and answer
// HEAD with the status alone, for Kubernetes probes and load balancers.
//
// # Metrics
//
// /metrics serves the Server's own Prometheus registry (not the global
// one) through promhttp, with the Go runtime's and the process's
// collectors and these. With WithName, every series carries the job's
// name as the label job_name (not job, which Prometheus sets from its
// scrape configuration); Registerer adds a job's own metrics to the same
// registry with the same label.
//
//	microbatch_streaming_batch_interval_seconds                 gauge      the batch interval
//	microbatch_streaming_running                                gauge      1 while the context is active, else 0
//	microbatch_streaming_start_time_seconds                     gauge      when the context started (Unix time; absent before)
//	microbatch_streaming_batches_completed_total                counter    finished batches, failed ones included
//	microbatch_streaming_batches_failed_total                   counter    failed batches
//	microbatch_streaming_batches_active{status}                 gauge      batches "queued" or "processing"
//	microbatch_streaming_records_processed_total                counter    records of finished batches
//	microbatch_streaming_output_operations_completed_total      counter    finished output operations, failed ones included
//	microbatch_streaming_output_operations_failed_total         counter    failed output operations
//	microbatch_streaming_last_batch_time_seconds                gauge      the last finished batch's time (Unix time)
//	microbatch_streaming_last_batch_records                     gauge      its records
//	microbatch_streaming_last_batch_input_rate                  gauge      its records / the batch interval, records per second
//	microbatch_streaming_last_batch_scheduling_delay_seconds    gauge      its scheduling delay
//	microbatch_streaming_last_batch_processing_time_seconds     gauge      its processing time
//	microbatch_streaming_last_batch_total_delay_seconds         gauge      its total delay
//	microbatch_streaming_scheduling_delay_seconds               histogram  scheduling delays of all finished batches
//	microbatch_streaming_processing_time_seconds                histogram  processing times of all finished batches
//	microbatch_streaming_total_delay_seconds                    histogram  total delays of all finished batches
//	microbatch_streaming_receivers{status}                      gauge      receivers "active" or "stopped"
//	microbatch_streaming_receiver_up{stream_id,name}            gauge      1 while the receiver runs, else 0
//	microbatch_streaming_receiver_errors_total{stream_id,name}  counter    errors the receiver reported
//	microbatch_streaming_output_operation_runs_total{operation,name,outcome}
//	                                                            counter    runs of each output operation, "ok" or "failed"
//	microbatch_streaming_output_records_rejected_total{operation,name,reason}
//	                                                            counter    records it rejected to the dead letters, by the
//	                                                                       reason word its error names (dstream.RejectReasonOf)
//	microbatch_streaming_output_records_total{operation,name}   counter    records its sink wrote, as the sink counts them
//	microbatch_streaming_output_rows_total{operation,name}      counter    rows its sink made visible (committed files, applied rows)
//	microbatch_streaming_output_bytes_total{operation,name}     counter    bytes its sink wrote to its store
//	microbatch_streaming_output_files_total{operation,name}     counter    files its sink made visible
//	                                                                       (the four from dstream.StatsReporter; 0 for an
//	                                                                       operation whose output does not count)
//	microbatch_streaming_input_lag_records{input,partition}     gauge      consumer lag: records of the source partition past
//	                                                                       the end of the last batch that knew it
//	microbatch_streaming_checkpoint_write_seconds{kind}         histogram  checkpoint writes, "meta" (each generated batch)
//	                                                                       or "state" (after a batch, every checkpoint interval)
//	microbatch_streaming_checkpoint_writes_failed_total{kind}   counter    checkpoint writes that failed
//	microbatch_streaming_partitions_owned{input}                gauge      partitions the input owns now (a consumer group's share)
//	microbatch_streaming_partition_events_total{input,event}    counter    partitions "assigned", "revoked" or "lost" in rebalances
//	microbatch_streaming_partition_restore_seconds              histogram  how long each assignment waited for the input's stores
//	                                                                       (files rolled forward, tables restored) before reading
//
// The last_batch gauges are absent until a batch has finished, and
// start_time_seconds until the context has started.
package ui
