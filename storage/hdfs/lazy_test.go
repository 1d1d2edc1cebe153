package hdfs

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/microbatch-go/microbatch/storage"
)

// Naming an hdfs:// URI whose NameNode does not answer is not an error:
// using it is, with the address and the cause, so that a job's start-up
// check reports the outage rather than its graph's construction.
func TestOpenUnreachableNameNodeFailsOnUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	fsys, dir, err := storage.Open("hdfs://" + addr + "/data/out?user=test")
	if err != nil {
		t.Fatalf("storage.Open of an unreachable NameNode: %v; want the error on use", err)
	}
	if dir != "/data/out" {
		t.Errorf("path %q", dir)
	}
	for _, op := range []struct {
		name string
		do   func() error
	}{
		{"MkdirAll", func() error { return fsys.MkdirAll(context.Background(), dir) }},
		{"List", func() error { _, err := fsys.List(context.Background(), dir); return err }},
		{"Create", func() error { _, err := fsys.Create(context.Background(), dir+"/x"); return err }},
	} {
		err := op.do()
		if err == nil || !strings.Contains(err.Error(), "connecting to "+addr) {
			t.Errorf("%s: %v; want a connection error naming %s", op.name, err, addr)
		}
	}
	if _, _, err := storage.Open("hdfs://" + addr + "/x?replication=zero"); err == nil {
		t.Error("a bad URI parameter is accepted")
	}
}
