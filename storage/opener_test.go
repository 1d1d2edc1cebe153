package storage_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/microbatch-go/microbatch/storage"
)

func TestOpener(t *testing.T) {
	var got []*storage.Opener
	storage.RegisterOpener("openertest", func(u *url.URL, o *storage.Opener) (storage.FS, error) {
		got = append(got, o)
		return storage.Local(), nil
	})
	storage.Register("plaintest", func(u *url.URL) (storage.FS, error) { return storage.Local(), nil })

	o := &storage.Opener{Kerberos: "a client", KerberosServicePrincipal: "nn/_HOST"}
	if _, p, err := o.Open("openertest://h/x"); err != nil || p != "/x" {
		t.Fatalf("Opener.Open: %q, %v", p, err)
	}
	if _, _, err := storage.Open("openertest://h/x"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := (*storage.Opener)(nil).Open("openertest://h/x"); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != o || got[1] == nil || got[1].Kerberos != nil || got[2] == nil || got[2].Kerberos != nil {
		t.Errorf("the driver got %+v", got)
	}
	// A driver that takes no credentials refuses them rather than
	// ignore them; without credentials it opens as usual.
	if _, _, err := o.Open("plaintest://h/x"); err == nil || !strings.Contains(err.Error(), "takes no Kerberos credentials") {
		t.Errorf("Kerberos with a plain driver: %v", err)
	}
	if _, _, err := (&storage.Opener{}).Open("plaintest://h/x"); err != nil {
		t.Error(err)
	}
	if fsys, p, err := o.Open("local/dir"); err != nil || fsys != storage.Local() || p != "local/dir" {
		t.Errorf("a plain path: %v %q %v", fsys, p, err)
	}
}
