// Package faults holds the failure tests of the example jobs run as
// programs (wordcount, spot-listener, iot-manager, devkafka): a
// dependency missing or unreachable at start, signals in every state
// (broker down, a rebalance waiting for a dead member, a sink retrying,
// HDFS slow), checkpoints in use or unusable, a full checkpoint disk and
// broker restarts. Each asserts what an operator sees: the exit status,
// how long the process took, and the one line that says why.
//
// The signal tests run each state once; FAULTS_RUNS=5 runs each five
// times, as the soak of these behaviours.
package faults
