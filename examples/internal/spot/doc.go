// Package spot holds what Apache Spot's ingest path needs on both of its
// sides, the collector (examples/spot-collector) and the streaming listener
// (examples/spot-listener): the Avro chunk format of the Kafka messages,
// the mapping of stock nfdump's CSV onto Spot's flow layout, the hour and
// size split of the collector, and the flow, dns and proxy rows of Spot's
// Hive tables with their parsers and DDL.
//
// The facts (column names, types, formats) are those of apache/incubator-spot's
// spot-ingest and spot-setup; the code is written here.
package spot
