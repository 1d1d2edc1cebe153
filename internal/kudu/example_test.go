package kudu_test

import (
	"context"
	"errors"
	"log"

	"github.com/microbatch-go/microbatch/internal/kudu"
)

// Upserting a batch and handling per-row errors (not run: needs a cluster).
func Example() {
	ctx := context.Background()
	c, err := kudu.Open(ctx, []string{"kudu-master-1:7051", "kudu-master-2:7051"}, kudu.WithUser("etl"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	t, err := c.Table(ctx, "events")
	if errors.Is(err, kudu.ErrTableNotFound) {
		s, _ := kudu.NewSchema([]kudu.Column{
			{Name: "id", Type: kudu.TypeInt64, Key: true},
			{Name: "name", Type: kudu.TypeString, Nullable: true},
		})
		t, err = c.CreateTable(ctx, "events", s, kudu.PartitionSchema{
			Hash: []kudu.HashSchema{{Columns: []string{"id"}, NumBuckets: 4}},
		}, &kudu.CreateTableOptions{NumReplicas: 3})
	}
	if err != nil {
		log.Fatal(err)
	}

	var ops []*kudu.Operation
	for i := int64(0); i < 3; i++ {
		op := t.NewUpsert()
		op.Set("id", i)
		op.Set("name", "event")
		ops = append(ops, op)
	}
	rowErrs, err := c.Apply(ctx, t, ops)
	if err != nil {
		log.Fatal(err) // some requests failed as a whole: retry the batch
	}
	for _, re := range rowErrs {
		log.Printf("row %d rejected: %v", re.Index, re.Err)
	}
}
