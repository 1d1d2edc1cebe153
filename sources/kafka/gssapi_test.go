package kafka_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/krbtest"
	"github.com/microbatch-go/microbatch/security"
	"github.com/microbatch-go/microbatch/sources/kafka"
)

// gssapiSec returns the security settings of a GSSAPI login with k, the
// realm's krb5.conf filled in.
func gssapiSec(realm *krbtest.Realm, k security.Kerberos) security.Kafka {
	k.Krb5Conf = realm.Krb5Conf()
	return security.Kafka{SASL: security.SASL{Mechanism: "GSSAPI", Kerberos: k}}
}

// The direct stream reads a cluster that requires SASL GSSAPI, logged in
// from a keytab and from a ticket cache that kinit filled: every record
// once, its offsets committed, and the brokers saw the principal's
// ticket, verified with their KDC-issued service key.
func TestDirectStreamGSSAPI(t *testing.T) {
	realm := krbtest.Start(t)
	c := kafkatest.NewGSSAPI(t, map[string]int32{"from-keytab": 3, "from-ccache": 3}, realm)
	principal, keytab := c.GSSAPI.User(t, "etl")
	for _, tc := range []struct {
		name, topic string
		krb         security.Kerberos
	}{
		{"keytab", "from-keytab", security.Kerberos{Principal: principal, Keytab: keytab}},
		{"ticket cache", "from-ccache", security.Kerberos{CCache: realm.Kinit(t, principal, keytab)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			group := "gssapi-" + tc.topic
			before := len(c.GSSAPI.Authenticated())
			want := produceN(c, tc.topic, 3, "e", 30)
			j := newJob(t, kafka.Subscribe(tc.topic), kafka.Brokers(c.Addrs...), kafka.Group(group), clientOptions(t, gssapiSec(realm, tc.krb)))
			j.start()
			j.stepUntil("the records", func() bool { return j.count() >= len(want) })
			checkOnce(t, j.records(), want)
			if err := j.step(); err != nil { // commits the ranges
				t.Fatal(err)
			}
			if err := j.ssc.Stop(context.Background(), dstream.Graceful); err != nil {
				t.Fatal(err)
			}
			ends := c.EndOffsets(tc.topic)[tc.topic]
			if got := c.Committed(group)[tc.topic]; !maps.Equal(got, ends) {
				t.Errorf("committed %v, want the ends %v", got, ends)
			}
			if !slices.Contains(c.GSSAPI.Authenticated()[before:], principal) {
				t.Errorf("the brokers authenticated %v, want %s", c.GSSAPI.Authenticated()[before:], principal)
			}
		})
	}
}

// A Kerberos login that cannot work fails Start within seconds, with one
// StartError naming the brokers and the cause in one line: a keytab of
// another principal, a keytab whose key the KDC has replaced since, an
// expired ticket cache, a principal of another realm, a service the KDC
// does not know.
func TestDirectStreamGSSAPIStartFailures(t *testing.T) {
	realm := krbtest.Start(t)
	c := kafkatest.NewGSSAPI(t, map[string]int32{"events": 1}, realm)
	etl, etlKT := c.GSSAPI.User(t, "etl")
	_, otherKT := c.GSSAPI.User(t, "other")
	stale, staleKT := c.GSSAPI.User(t, "stale")
	realm.Kadmin("cpw -randkey stale") // the keytab's key is now old
	short, shortKT := c.GSSAPI.User(t, "short")
	realm.Kadmin("modprinc -maxlife 2s short")
	expired := realm.Kinit(t, short, shortKT)
	for realm.Klist(expired) {
		time.Sleep(200 * time.Millisecond)
	}

	for _, tc := range []struct {
		name string
		sasl security.SASL
		want []string // in the cause, after "kafka brokers <addr>: "
	}{
		{"keytab of another principal", gssapiSec(realm, security.Kerberos{Principal: etl, Keytab: otherKT}).SASL,
			[]string{"SASL GSSAPI: ", "matching key not found in keytab", `"etl"`}},
		{"stale keytab", gssapiSec(realm, security.Kerberos{Principal: stale, Keytab: staleKT}).SASL,
			[]string{"SASL GSSAPI: ", "KDC_ERR_PREAUTH_FAILED"}},
		{"expired ticket", gssapiSec(realm, security.Kerberos{CCache: expired}).SASL,
			[]string{"SASL GSSAPI: ", "kerberos: the ticket in ticket cache ", " expired at "}},
		{"principal of another realm", gssapiSec(realm, security.Kerberos{Principal: "etl@ELSEWHERE.TEST", Keytab: etlKT}).SASL,
			[]string{"SASL GSSAPI: ", "no KDCs defined in configuration for realm ELSEWHERE.TEST"}},
		{"service unknown to the KDC", func() security.SASL {
			s := gssapiSec(realm, security.Kerberos{Principal: etl, Keytab: etlKT}).SASL
			s.ServiceName = "kafka-nowhere"
			return s
		}(), []string{"SASL GSSAPI: ", "KDC_ERR_S_PRINCIPAL_UNKNOWN"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ssc, err := dstream.NewContext(time.Second, dstream.WithLogger(quiet), dstream.WithClock(dstream.NewManualClock(time.UnixMilli(0))))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ssc.Stop(context.Background(), dstream.Hard) })
			ds := kafka.NewDirectStream(ssc, kafka.Subscribe("events"), kafka.Brokers(c.Addrs...), kafka.Group("g"), clientOptions(t, security.Kafka{SASL: tc.sasl}))
			ds.Stream().Print()
			began := time.Now()
			err = ssc.Start()
			took := time.Since(began)
			t.Logf("Start = %v", err)
			var se *dstream.StartError
			if !errors.As(err, &se) || se.Check != "kafka brokers "+c.Addrs[0] {
				t.Fatalf("Start = %v, want a StartError of kafka brokers %s", err, c.Addrs[0])
			}
			cause := strings.TrimPrefix(err.Error(), se.Check+": ")
			if !strings.HasPrefix(cause, tc.want[0]) {
				t.Errorf("Start = %q\nwant the cause to start with %q", err, tc.want[0])
			}
			for _, w := range tc.want[1:] {
				if !strings.Contains(cause, w) {
					t.Errorf("Start = %q\nwant the cause to name %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("the error is not one line: %q", err)
			}
			if took > 10*time.Second {
				t.Errorf("Start took %v, want within seconds", took)
			}
		})
	}
}
