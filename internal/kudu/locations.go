package kudu

import (
	"bytes"
	"context"
	"sort"
	"sync"
	"time"
)

// timeNow is the clock of the location cache.
var timeNow = time.Now

// tabletLoc is one cached tablet location: the partition key range
// [start, end) (empty end: unbounded) and the leader replica's address.
type tabletLoc struct {
	id         string
	start, end []byte
	leader     string // "" if no replica is LEADER
	expires    time.Time
}

func (l *tabletLoc) contains(key []byte) bool {
	return bytes.Compare(l.start, key) <= 0 && (len(l.end) == 0 || bytes.Compare(key, l.end) < 0)
}

// locationCache holds non-overlapping tablet locations sorted by start.
type locationCache struct {
	mu      sync.RWMutex
	entries []*tabletLoc
}

// lookup returns the unexpired entry containing key, or nil.
func (lc *locationCache) lookup(key []byte, now time.Time) *tabletLoc {
	lc.mu.RLock()
	defer lc.mu.RUnlock()
	// First entry with start > key, then step back.
	i := sort.Search(len(lc.entries), func(i int) bool { return bytes.Compare(lc.entries[i].start, key) > 0 })
	if i == 0 {
		return nil
	}
	e := lc.entries[i-1]
	if !e.contains(key) || now.After(e.expires) {
		return nil
	}
	return e
}

// insert adds locations, replacing cached entries they overlap.
func (lc *locationCache) insert(locs []*tabletLoc) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	for _, n := range locs {
		kept := lc.entries[:0:0]
		for _, e := range lc.entries {
			if !overlaps(e, n) {
				kept = append(kept, e)
			}
		}
		i := sort.Search(len(kept), func(i int) bool { return bytes.Compare(kept[i].start, n.start) > 0 })
		kept = append(kept, nil)
		copy(kept[i+1:], kept[i:])
		kept[i] = n
		lc.entries = kept
	}
}

func overlaps(a, b *tabletLoc) bool {
	aBeforeBEnd := len(b.end) == 0 || bytes.Compare(a.start, b.end) < 0
	bBeforeAEnd := len(a.end) == 0 || bytes.Compare(b.start, a.end) < 0
	return aBeforeBEnd && bBeforeAEnd
}

// invalidate drops the entry of a tablet.
func (lc *locationCache) invalidate(id string) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	for i, e := range lc.entries {
		if e.id == id {
			lc.entries = append(lc.entries[:i:i], lc.entries[i+1:]...)
			return
		}
	}
}

// locate returns the tablet whose partition range contains key, asking the
// master (GetTableLocations) on a cache miss. It returns an error wrapping
// ErrNonCoveredRange if no tablet covers key.
func (t *Table) locate(ctx context.Context, key []byte) (*tabletLoc, error) {
	if l := t.locs.lookup(key, timeNow()); l != nil {
		return l, nil
	}
	var req []byte
	req = appendMessageField(req, 1, tableIdentifier(t.id, ""))
	req = appendBytesField(req, 3, key)
	req = appendVarintField(req, 5, uint64(t.client.cfg.locationsPerCall))
	req = appendBoolField(req, 7, true) // intern_ts_infos_in_response
	body, err := t.client.masterCall(ctx, "GetTableLocations", req, nil)
	if err != nil {
		return nil, err
	}
	locs, err := parseTableLocations(body, timeNow())
	if err != nil {
		return nil, errorf("GetTableLocations response: %w", err)
	}
	t.locs.insert(locs)
	for _, l := range locs {
		if l.contains(key) {
			return l, nil
		}
	}
	return nil, ErrNonCoveredRange
}

// parseTableLocations decodes GetTableLocationsResponsePB:
// tablet_locations=2 {tablet_id=1, start_key=2, end_key=3 (deprecated),
// partition=6 {partition_key_start=2, partition_key_end=3},
// DEPRECATED_replicas=4 {ts_info=1, role=2}, interned_replicas=7
// {ts_info_idx=1, role=2}}, ts_infos=4 {permanent_uuid=1, rpc_addresses=2
// {host=1, port=2}}, ttl_millis=3 (default 1h).
func parseTableLocations(b []byte, now time.Time) ([]*tabletLoc, error) {
	type replica struct {
		idx    int    // interned index, or -1
		addr   string // from a DEPRECATED_replicas ts_info
		leader bool
	}
	type rawLoc struct {
		loc      *tabletLoc
		replicas []replica
	}
	var raws []rawLoc
	var tsAddrs []string
	ttl := uint64(3600000)
	err := walkFields(b, func(f field) error {
		switch f.num {
		case 1:
			eb, err := f.bytes()
			if err != nil {
				return err
			}
			merr, err := parseMasterError(eb)
			if err != nil {
				return err
			}
			return merr
		case 3:
			v, err := f.varint()
			ttl = v
			return err
		case 4:
			tb, err := f.bytes()
			if err != nil {
				return err
			}
			addr, err := parseTSInfo(tb)
			tsAddrs = append(tsAddrs, addr)
			return err
		case 2:
			lb, err := f.bytes()
			if err != nil {
				return err
			}
			r := rawLoc{loc: &tabletLoc{}}
			var haveID, havePartition bool
			var oldStart, oldEnd []byte
			err = walkFields(lb, func(g field) error {
				var err error
				switch g.num {
				case 1:
					r.loc.id, err = g.str()
					haveID = true
				case 2:
					oldStart, err = g.bytes()
				case 3:
					oldEnd, err = g.bytes()
				case 6:
					var pb []byte
					if pb, err = g.bytes(); err != nil {
						return err
					}
					havePartition = true
					err = walkFields(pb, func(h field) error {
						var err error
						switch h.num {
						case 1:
							_, err = h.varints()
						case 2:
							r.loc.start, err = h.bytes()
						case 3:
							r.loc.end, err = h.bytes()
						}
						return err
					})
				case 4, 7:
					var rb []byte
					if rb, err = g.bytes(); err != nil {
						return err
					}
					rep := replica{idx: -1}
					err = walkFields(rb, func(h field) error {
						var err error
						switch {
						case h.num == 1 && g.num == 7:
							var v uint64
							v, err = h.varint()
							if v > 1<<20 {
								return malformed("ts_info_idx %d", v)
							}
							rep.idx = int(v)
						case h.num == 1 && g.num == 4:
							var tb []byte
							if tb, err = h.bytes(); err == nil {
								rep.addr, err = parseTSInfo(tb)
							}
						case h.num == 2:
							var role int32
							role, err = h.int32v()
							rep.leader = role == roleLeader
						}
						return err
					})
					r.replicas = append(r.replicas, rep)
				}
				return err
			})
			if err != nil {
				return err
			}
			if !haveID {
				return malformed("tablet location without tablet_id")
			}
			if !havePartition {
				r.loc.start, r.loc.end = oldStart, oldEnd
			}
			raws = append(raws, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	expires := now.Add(time.Duration(ttl) * time.Millisecond)
	out := make([]*tabletLoc, 0, len(raws))
	for _, r := range raws {
		l := r.loc
		l.start = append([]byte{}, l.start...)
		l.end = append([]byte{}, l.end...)
		l.expires = expires
		for _, rep := range r.replicas {
			addr := rep.addr
			if rep.idx >= 0 {
				if rep.idx >= len(tsAddrs) {
					return nil, malformed("ts_info_idx %d of %d ts_infos", rep.idx, len(tsAddrs))
				}
				addr = tsAddrs[rep.idx]
			}
			if rep.leader && addr != "" {
				l.leader = addr
			}
		}
		out = append(out, l)
	}
	return out, nil
}

// parseTSInfo returns the first RPC address of a TSInfoPB ("" if none).
func parseTSInfo(b []byte) (string, error) {
	addr := ""
	err := walkFields(b, func(f field) error {
		if f.num != 2 || addr != "" {
			return nil
		}
		hb, err := f.bytes()
		if err != nil {
			return err
		}
		var host string
		var port uint64
		err = walkFields(hb, func(g field) error {
			var err error
			switch g.num {
			case 1:
				host, err = g.str()
			case 2:
				port, err = g.varint()
			}
			return err
		})
		if err != nil {
			return err
		}
		if port > 65535 {
			return malformed("port %d", port)
		}
		addr = hostPort(host, uint32(port))
		return nil
	})
	return addr, err
}
