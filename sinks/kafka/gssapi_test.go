package kafkasink

import (
	"slices"
	"testing"

	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/krbtest"
	"github.com/microbatch-go/microbatch/security"
)

// The sink writes to a cluster that requires SASL GSSAPI, logged in from
// a keytab with the options of package security, plainly and in
// transactions; the brokers verified the principal's ticket with their
// KDC-issued service key.
func TestWriteGSSAPI(t *testing.T) {
	realm := krbtest.Start(t)
	c := kafkatest.NewGSSAPI(t, map[string]int32{"out": 2, "out-txn": 2}, realm)
	principal, keytab := c.GSSAPI.User(t, "writer")
	sec := security.Kafka{SASL: security.SASL{Mechanism: "GSSAPI", Kerberos: security.Kerberos{Krb5Conf: realm.Krb5Conf(), Principal: principal, Keytab: keytab}}}
	kopts, err := sec.KafkaOptions()
	if err != nil {
		t.Fatalf("KafkaOptions: %v", err)
	}
	for _, tc := range []struct {
		topic string
		txn   bool
	}{{"out", false}, {"out-txn", true}} {
		t.Run(tc.topic, func(t *testing.T) {
			opts := []Option{Brokers(c.Addrs...), ClientOptions(kopts...)}
			if tc.txn {
				opts = append(opts, Transactional("gssapi-txn", nil))
			}
			j := newQueueJob[string](t, tc.topic, opts...)
			j.q.Push([]string{"a", "b", "c"})
			j.q.Push([]string{"d"})
			j.start()
			j.mustStep()
			j.mustStep()
			checkValues(t, "read_committed", readTopic(t, c, tc.topic, true), "a", "b", "c", "d")
		})
	}
	if !slices.Contains(c.GSSAPI.Authenticated(), principal) {
		t.Errorf("the brokers authenticated %v, want %s", c.GSSAPI.Authenticated(), principal)
	}
}
