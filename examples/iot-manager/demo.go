package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/microbatch-go/microbatch/internal/kudutest"
)

// The demo's topic has demoPartitions partitions, and its batches are
// demoBatch long unless -batch says otherwise.
const (
	demoPartitions = 4
	demoBatch      = 2 * time.Second
	demoRotate     = 10 * time.Second // -demo's -rotate-interval, unless a -rotate flag is given
)

// demo is what -demo runs besides the manager: an in-process broker fed
// by an event generator and, without -kudu-masters, the in-process Kudu
// test server.
type demo struct {
	opts     options // the manager's options, pointed at the demo's services
	dir      string  // the output directory the demo created, or ""
	broker   *kfake.Cluster
	kudu     *kudutest.Cluster
	client   *kgo.Client
	cancel   context.CancelFunc
	done     chan struct{}
	produced atomic.Int64
}

// startDemo starts the demo's services and returns them, with o changed
// to use them.
func startDemo(o options, stderr io.Writer, logger *slog.Logger) (_ *demo, err error) {
	d := &demo{opts: o, done: make(chan struct{})}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	if d.broker, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(demoPartitions, o.topic)); err != nil {
		return nil, fmt.Errorf("demo broker: %w", err)
	}
	addr := d.broker.ListenAddrs()[0]
	d.opts.brokers = []string{addr}
	if len(o.kuduMasters) == 0 {
		if d.kudu, err = kudutest.Start(); err != nil {
			return nil, fmt.Errorf("demo Kudu server: %w", err)
		}
		d.opts.kuduMasters = d.kudu.MasterAddrs()
	}
	if o.hdfsOut == "" {
		if d.dir, err = os.MkdirTemp("", "iot-manager-demo-"); err != nil {
			return nil, fmt.Errorf("demo output: %w", err)
		}
		d.opts.hdfsOut = filepath.Join(d.dir, "events")
		if o.deadLetter == "" {
			d.opts.deadLetter = filepath.Join(d.dir, "dead")
		}
	}
	if d.client, err = kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(o.topic), kgo.ProducerLinger(5*time.Millisecond)); err != nil {
		return nil, fmt.Errorf("demo producer: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go func() {
		defer close(d.done)
		d.generate(ctx, o.rate, logger)
	}()

	fmt.Fprintf(stderr, "demo: in-process Kafka broker at %s, topic %q (%d partitions), %d events/s\n", addr, o.topic, demoPartitions, o.rate)
	if d.kudu != nil {
		fmt.Fprintf(stderr, "demo: in-process Kudu test server at %s, table %q\n", strings.Join(d.opts.kuduMasters, ","), o.kuduTable)
	}
	fmt.Fprintf(stderr, "demo: Parquet under %s\n", d.opts.hdfsOut)
	if d.opts.deadLetter != "" {
		fmt.Fprintf(stderr, "demo: dead letters under %s\n", d.opts.deadLetter)
	}
	fmt.Fprintf(stderr, "demo: about 3 in 100 messages are bad on purpose (2 not Avro, 1 cut short), to show the dead-letter path: their dead letters are expected, not failures\n")
	return d, nil
}

// stop stops the generator and the services and says what was written.
func (d *demo) stop(stderr io.Writer) {
	d.cancel()
	<-d.done
	fmt.Fprintf(stderr, "demo: produced %d messages\n", d.produced.Load())
	if d.kudu != nil {
		fmt.Fprintf(stderr, "demo: the Kudu table %s held %d rows (the test server keeps them in memory only)\n",
			d.opts.kuduTable, len(d.kudu.Rows(d.opts.kuduTable)))
	}
	fmt.Fprintf(stderr, "demo: the events are in %s; read them with DuckDB:\n", d.opts.hdfsOut)
	fmt.Fprintf(stderr, "  SELECT source, day, count(*) FROM read_parquet('%s/**/*.parquet', hive_partitioning = true, hive_types_autocast = false) GROUP BY ALL;\n",
		filepath.ToSlash(d.opts.hdfsOut))
	d.close()
}

func (d *demo) close() {
	if d.client != nil {
		d.client.Close()
	}
	if d.broker != nil {
		d.broker.Close()
	}
	if d.kudu != nil {
		d.kudu.Close()
	}
}

// generate produces about rate messages per second until ctx ends.
func (d *demo) generate(ctx context.Context, rate int, logger *slog.Logger) {
	g := newGenerator(uint64(time.Now().UnixNano()))
	const ticks = 10 // per second
	ticker := time.NewTicker(time.Second / ticks)
	defer ticker.Stop()
	owed := 0.0
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		owed += float64(rate) / ticks
		for ; owed >= 1; owed-- {
			v, err := g.message(time.Now())
			if err != nil {
				logger.Error("demo generator", "err", err)
				return
			}
			d.client.Produce(ctx, &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
				if err == nil {
					d.produced.Add(1)
				}
			})
		}
	}
}

// generator makes the demo's events: Torino's 5T open data (traffic
// speed and flow per road, free places per car park), street lamps that
// switch, and traffic news, as in the samples; about one in twenty is an
// event that cannot be a Kudu row, and about one in fifty is a message
// that is not an event at all.
type generator struct {
	rng    *rand.Rand
	n      int
	lastTS time.Time // of the last message
}

func newGenerator(seed uint64) *generator { return &generator{rng: rand.New(rand.NewPCG(seed, 7))} }

type road struct {
	name, lcd  string
	lat, lng   float64
	speedLimit float64
}

var demoRoads = []road{
	{"Corso Francia", "40200", 45.07625, 7.63957, 50},
	{"Corso Vittorio Emanuele II", "40310", 45.06280, 7.67612, 50},
	{"Via Nizza", "40420", 45.05321, 7.67100, 40},
	{"Corso Regina Margherita", "40530", 45.07900, 7.66800, 50},
	{"Corso Unione Sovietica", "40640", 45.03100, 7.63700, 70},
}

type carPark struct {
	id, name string
	lat, lng float64
	places   int
}

var demoCarParks = []carPark{
	{"PortaNuova", "Porta Nuova", 45.06235, 7.67849, 300},
	{"Lingotto", "Lingotto", 45.03154, 7.66301, 900},
	{"Vinzaglio", "Vinzaglio", 45.07008, 7.66735, 250},
}

func strPtr(s string) *string { return &s }

// message returns the next message value, for an event at now, or a
// millisecond after the last one: events of one sensor at the same
// millisecond would be one Kudu row.
func (g *generator) message(now time.Time) ([]byte, error) {
	g.n++
	now = now.Truncate(time.Millisecond)
	if !now.After(g.lastTS) {
		now = g.lastTS.Add(time.Millisecond)
	}
	g.lastTS = now
	r := g.rng.IntN(100)
	switch {
	case r < 2: // not Avro at all
		b := make([]byte, 8+g.rng.IntN(40))
		for i := range b {
			b[i] = byte(g.rng.IntN(256))
		}
		return append([]byte("\xff\xff"), b...), nil // an invalid varint length for the id
	case r < 3: // a datum cut short
		v, err := EncodeEvent(g.event(now, 50))
		if err != nil {
			return nil, err
		}
		return v[:len(v)/2], nil
	}
	return EncodeEvent(g.event(now, r))
}

// event makes an event; r in [0, 100) picks its kind.
func (g *generator) event(now time.Time, r int) *Event {
	ts := now.UnixMilli()
	e := &Event{Version: 1, TS: ts, EventCertainty: 1}
	switch {
	case r < 60: // 5T traffic: speed or flow on a road
		rd := demoRoads[g.rng.IntN(len(demoRoads))]
		metric, subtype, value := "speed", "SPEED", fmt.Sprintf("%.2f", rd.speedLimit*(0.3+0.8*g.rng.Float64()))
		if g.rng.IntN(2) == 0 {
			metric, subtype, value = "flow", "FLOW", fmt.Sprintf("%.2f", 200+1400*g.rng.Float64())
		}
		road := strings.ReplaceAll(rd.name, " ", "_")
		e.ID = fmt.Sprintf("TorinoTrafficConverter.%s.%d.%s.%d", strings.ToUpper(metric[:1])+metric[1:], ts, rd.lcd, g.n)
		e.TemporalGranularity = strPtr("minute")
		e.EventSubtypeID = strPtr(subtype + "_" + road + "_TO")
		e.Source = "http://opendata.5t.torino.it/get_fdt"
		e.Location = fmt.Sprintf("%.5f:%.5f", rd.lat, rd.lng)
		e.Body = fmt.Appendf(nil, `<FDT_data lcd1="%s" Road_LCD="%s" Road_name="%s" offset="150" lat="%.5f" lng="%.5f" direction="positive" accuracy="100" period="5"><speedflow %s="%s"/></FDT_data>`,
			rd.lcd, rd.lcd, rd.name, rd.lat, rd.lng, metric, value)
		e.Attributes = []Attribute{{"FDT_data", rd.lcd}, {"Road_LCD", rd.lcd}, {"Road_name", rd.name}, {"offset", "150"},
			{"direction", "positive"}, {"accuracy", "100"}, {"period", "5"},
			{"tags", "FDT_data,Road_LCD,Road_name,offset,direction,accuracy,period"}, {"metric", metric}, {"value", value}}
	case r < 75: // 5T parking: free places
		cp := demoCarParks[g.rng.IntN(len(demoCarParks))]
		free := g.rng.IntN(cp.places + 1)
		e.ID = fmt.Sprintf("TorinoParkingConverter.%d.%s.%d", ts, cp.id, g.n)
		e.EventSubtypeID = strPtr("FREE_" + cp.id)
		e.Source = "http://opendata.5t.torino.it/get_pk"
		e.Location = fmt.Sprintf("%.5f:%.5f", cp.lat, cp.lng)
		e.Body = fmt.Appendf(nil, `<PK_data Name="%s" status="0" Free="%d" tendence="%d" lat="%.5f" lng="%.5f"/>`, cp.name, free, g.rng.IntN(3)-1, cp.lat, cp.lng)
		e.Attributes = []Attribute{{"name", cp.name}, {"status", "0"}, {"tendence", fmt.Sprint(g.rng.IntN(3) - 1)},
			{"metric", "free"}, {"value", fmt.Sprint(free)}, {"tags", "name,status,tendence"}}
	case r < 88: // a street lamp switching (change of state)
		lamp := fmt.Sprintf("%04d", 1+g.rng.IntN(60))
		on := g.rng.IntN(2)
		e.ID = fmt.Sprintf("sensor-%s-state-%d-%d", lamp, ts, g.n)
		e.TemporalGranularity = strPtr("second")
		e.EventCertainty = 0.9 + 0.1*g.rng.Float64()
		e.EventTypeID = typeChange
		e.EventSubtypeID = strPtr("STATE_lamp_" + lamp)
		e.EventAnnotation = strPtr([]string{"lamp switched off at dawn", "lamp switched on by twilight sensor"}[on])
		e.Source = "http://domain/sensor/lamp-" + lamp
		e.Location = fmt.Sprintf("45.%05d:7.%05d", 4000+g.rng.IntN(5000), 6000+g.rng.IntN(5000))
		e.Attributes = []Attribute{{"metric", "state"}, {"value", fmt.Sprint(on)}, {"previous_value", fmt.Sprint(1 - on)}}
	case r < 95: // traffic news (generic)
		kind := []string{"accident", "roadworks", "queue"}[g.rng.IntN(3)]
		e.ID = fmt.Sprintf("infoblu-evt-%x-%d", g.rng.Uint32(), g.n)
		e.EventCertainty = 0.8
		e.EventTypeID = typeGeneric
		e.EventAnnotation = strPtr(fmt.Sprintf("%s on A4 Torino-Milano", kind))
		e.Source = "http://services.infoblu.it/BITW/data"
		e.Location = "45.1324:7.8851"
		e.Body = fmt.Appendf(nil, `{"type":%q,"road":"A4","direction":"Milano","queue_km":%d}`, kind, g.rng.IntN(5))
		e.Attributes = []Attribute{{"road", "A4"}, {"kind", kind}, {"severity", fmt.Sprint(1 + g.rng.IntN(3))}}
	default: // a metric the Kudu path refuses
		e.ID = fmt.Sprintf("wrongmetric-%d-%d", ts, g.n)
		e.EventSubtypeID = strPtr("SPEED_Via_Cernaia_TO")
		e.Source = "http://domain/sensor/url"
		e.Location = "45.0703:7.6700"
		switch g.rng.IntN(3) {
		case 0:
			e.EventAnnotation = strPtr("metric without value attribute")
		case 1:
			e.Attributes = []Attribute{{"value", "n/a"}}
		default:
			e.EventSubtypeID = nil
			e.Attributes = []Attribute{{"value", "100"}}
		}
	}
	return e
}
