// Package spote2e holds the end-to-end tests of Apache Spot's ingest path
// on this framework: packet captures generated here are turned into real
// nfcapd files by nfpcapd (flow) or read by tshark (dns), proxy logs are
// written here; the spot-collector binary converts, chunks and publishes
// them to a Kafka-protocol broker (kfake); the spot-listener binary turns
// the chunks into Parquet partitioned as Spot's Hive tables; DuckDB reads
// the result and it is compared with nfdump's own output, the generated
// traffic and the log lines. The package has no code outside its tests.
package spote2e
