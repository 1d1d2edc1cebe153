package dstream

import (
	"hash/maphash"
	"math/bits"
)

// stateTable is the keyed state of one MapWithState partition: an
// open-addressing hash table with linear probing, keyed by the hash that
// the operator's partitioning already computed (maphash.Comparable with
// the context's seed), so a record's key is hashed once per batch.
//
// Its memory is a control byte, a key and a state per slot (and a time
// only in a table with timeouts), the slots from 53 to 80 % full: the
// table grows by half when it reaches 80 %. A Go map[K]S costs the same
// 17 bytes a slot for (int64, int64) keys and states, but doubles, so
// its slots are from 44 to 87 % full.
//
// The control byte of a slot is slotEmpty, slotDeleted (a tombstone left
// by a deletion, which probes pass over) or slotFull with 7 bits of the
// hash, compared before the key. The slot of a hash is its position by
// multiplication (the high half of hash × capacity), so any capacity
// works; the fingerprint comes from other bits than the partition (the
// hash modulo the partition count) and the position, so that it still
// tells the keys of one neighbourhood apart.
type stateTable[K comparable, S any] struct {
	seed  maphash.Seed
	ctrl  []uint8
	slots []stateSlot[K, S]
	// times holds the batch time of each slot's last data, only for
	// tables with timeouts (nil otherwise).
	times []int64
	timed bool
	live  int // full slots
	used  int // full and deleted slots: the table grows or is cleaned before used exceeds limit
	limit int
}

// stateSlot is a key and its state.
type stateSlot[K comparable, S any] struct {
	key K
	val S
}

// Control bytes of stateTable.
const (
	slotEmpty   = 0x00
	slotDeleted = 0x01
	slotFull    = 0x80 // | 7 bits of the hash
)

const (
	stateTableMinCap = 8
	// stateTableLoadNum/stateTableLoadDen is the most a table is filled
	// (full and deleted slots) before it grows or is cleaned.
	stateTableLoadNum, stateTableLoadDen = 4, 5
)

// newStateTable returns an empty table hashing with seed, which keeps a
// time per key if timed.
func newStateTable[K comparable, S any](seed maphash.Seed, timed bool) *stateTable[K, S] {
	return &stateTable[K, S]{seed: seed, timed: timed}
}

// hash returns the hash of k, the one find and insert take.
func (t *stateTable[K, S]) hash(k K) uint64 { return maphash.Comparable(t.seed, k) }

// fingerprint returns the control byte of a full slot holding a key of
// hash h: bits 8 to 14 of h, which neither the partition (h modulo a
// small count) nor the position (the high bits) decide.
func fingerprint(h uint64) uint8 { return slotFull | uint8(h>>8)&0x7f }

// home returns the first slot a key of hash h probes.
func (t *stateTable[K, S]) home(h uint64) int {
	hi, _ := bits.Mul64(h, uint64(len(t.ctrl)))
	return int(hi)
}

// len returns the number of keys.
func (t *stateTable[K, S]) len() int { return t.live }

// find returns the slot holding k, whose hash is h, and true; or, if k is
// absent, the slot where insert should put it and false.
func (t *stateTable[K, S]) find(h uint64, k K) (int, bool) {
	n := len(t.ctrl)
	if n == 0 {
		return -1, false
	}
	fp := fingerprint(h)
	free := -1
	for i := t.home(h); ; {
		switch c := t.ctrl[i]; c {
		case fp:
			if t.slots[i].key == k {
				return i, true
			}
		case slotEmpty:
			if free < 0 {
				free = i
			}
			return free, false
		case slotDeleted:
			if free < 0 {
				free = i
			}
		}
		if i++; i == n {
			i = 0
		}
	}
}

// insert puts k, absent, with hash h, state v and time at, in slot i as
// returned by find, and returns the slot it is in: another one if the
// table had to grow first.
func (t *stateTable[K, S]) insert(i int, h uint64, k K, v S, at int64) int {
	if i < 0 || t.ctrl[i] == slotEmpty && t.used >= t.limit {
		t.rehash(t.live + 1)
		i = t.free(h)
	}
	if t.ctrl[i] == slotEmpty {
		t.used++
	}
	t.ctrl[i] = fingerprint(h)
	t.slots[i] = stateSlot[K, S]{k, v}
	if t.timed {
		t.times[i] = at
	}
	t.live++
	return i
}

// set sets k's state to v and its time to at.
func (t *stateTable[K, S]) set(k K, v S, at int64) {
	h := t.hash(k)
	i, ok := t.find(h, k)
	if !ok {
		t.insert(i, h, k, v, at)
		return
	}
	t.slots[i].val = v
	if t.timed {
		t.times[i] = at
	}
}

// get returns k's state, if it has one.
func (t *stateTable[K, S]) get(k K) (S, bool) {
	if i, ok := t.find(t.hash(k), k); ok {
		return t.slots[i].val, true
	}
	var zero S
	return zero, false
}

// remove deletes k's state, if it has one.
func (t *stateTable[K, S]) remove(k K) {
	if i, ok := t.find(t.hash(k), k); ok {
		t.deleteAt(i)
	}
}

// deleteAt empties the full slot i. The slot becomes a tombstone unless
// no probe can pass over it (the next slot is empty), in which case it
// and the tombstones right before it become empty. Only slot i and slots
// before it change: a scan of the slots in order may delete the slot it
// is at.
func (t *stateTable[K, S]) deleteAt(i int) {
	n := len(t.ctrl)
	t.slots[i] = stateSlot[K, S]{} // let the key's and the state's memory go
	t.live--
	next := i + 1
	if next == n {
		next = 0
	}
	if t.ctrl[next] != slotEmpty {
		t.ctrl[i] = slotDeleted
		return
	}
	// No key's probe runs over an empty slot, so none runs over i, nor
	// over the tombstones right before i.
	for {
		t.ctrl[i] = slotEmpty
		t.used--
		if i--; i < 0 {
			i = n - 1
		}
		if t.ctrl[i] != slotDeleted {
			return
		}
	}
}

// free returns the first empty or deleted slot of h's probe.
func (t *stateTable[K, S]) free(h uint64) int {
	n := len(t.ctrl)
	i := t.home(h)
	for t.ctrl[i]&slotFull != 0 {
		if i++; i == n {
			i = 0
		}
	}
	return i
}

// rehash moves the keys into new slots, dropping the tombstones, with
// room for at least want keys: the same capacity if they fit in it
// below half the load limit, else half as large again (or more).
func (t *stateTable[K, S]) rehash(want int) {
	c := len(t.ctrl)
	if want > c*stateTableLoadNum/stateTableLoadDen/2 {
		c += c / 2
	}
	for c < stateTableMinCap || want > c*stateTableLoadNum/stateTableLoadDen {
		c = max(stateTableMinCap, c+c/2)
	}
	ctrl, slots, times := t.ctrl, t.slots, t.times
	t.ctrl = make([]uint8, c)
	t.slots = make([]stateSlot[K, S], c)
	if t.timed {
		t.times = make([]int64, c)
	}
	t.limit = c * stateTableLoadNum / stateTableLoadDen
	t.used = t.live
	for i, b := range ctrl {
		if b&slotFull == 0 {
			continue
		}
		h := t.hash(slots[i].key)
		j := t.free(h)
		t.ctrl[j] = fingerprint(h)
		t.slots[j] = slots[i]
		if t.timed {
			t.times[j] = times[i]
		}
	}
}
