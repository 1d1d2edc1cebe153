package scaleout

import (
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/microbatch-go/microbatch/storage"
)

// openers records, by host, the Opener that the test driver of the
// scheme "scaleouttest" was given: scaleouttest://<host>/<local path>
// opens the local disk.
var openers sync.Map

func init() {
	storage.RegisterOpener("scaleouttest", func(u *url.URL, o *storage.Opener) (storage.FS, error) {
		openers.Store(u.Host, o)
		return storage.Local(), nil
	})
}

// OpenDeadFiles opens its directory through the job's Opener: the driver
// of the URI's scheme gets it, credentials and all, and the dead letters
// are written there.
func TestOpenDeadFilesOpener(t *testing.T) {
	dir := t.TempDir()
	o := &storage.Opener{Kerberos: "the job's client", KerberosServicePrincipal: "nn/_HOST"}
	d, err := OpenDeadFiles(o, "scaleouttest://with"+filepath.ToSlash(dir))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := openers.Load("with"); got != o {
		t.Errorf("the driver got the Opener %v, want the job's %v", got, o)
	}
	if err := WriteDead(t.Context(), d, []letter{{1, 5, "x"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(DeadFileName(dir, "t", 1, 5)); err != nil {
		t.Errorf("no dead-letter file: %v", err)
	}
	// A nil Opener opens as storage.Open: the driver gets the zero one.
	if _, err := OpenDeadFiles(nil, "scaleouttest://without"+filepath.ToSlash(dir)); err != nil {
		t.Fatal(err)
	}
	if got, _ := openers.Load("without"); got == nil || *got.(*storage.Opener) != (storage.Opener{}) {
		t.Errorf("with a nil Opener the driver got %v, want the zero Opener", got)
	}
}
