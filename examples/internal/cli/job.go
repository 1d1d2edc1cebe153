package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/ui"
)

// RunJob runs ssc until ctx ends or, when duration is positive, for that
// long. When status is not nil it serves the status page on addr first,
// calls onURL with the page's address, and keeps it up until the job has
// stopped, not just until the signal that stops it.
func RunJob(ctx context.Context, ssc *dstream.Context, status *ui.Server, addr string, duration time.Duration, onURL func(url string)) error {
	if status != nil {
		uiCtx, stopUI := context.WithCancel(context.WithoutCancel(ctx))
		url, uiDone, err := status.Start(uiCtx, addr)
		if err != nil {
			stopUI()
			return fmt.Errorf("-ui: %w", err)
		}
		defer func() { stopUI(); <-uiDone }()
		onURL(url)
	}
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	return ssc.Run(ctx)
}
