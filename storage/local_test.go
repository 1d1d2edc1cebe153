package storage_test

import (
	"testing"

	"github.com/microbatch-go/microbatch/storage"
	"github.com/microbatch-go/microbatch/storage/storagetest"
)

func TestLocalConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) (storage.FS, string) {
		return storage.Local(), t.TempDir()
	})
}
