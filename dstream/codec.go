package dstream

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"reflect"
)

// Codec encodes the state of stateful operators for checkpoints, and the
// blocks of receivers for the write-ahead log. Marshal is given a slice
// of the operator's own types (such as []Pair[K, S]) and Unmarshal a
// pointer to one. Implementations must be safe for concurrent use.
//
// The default is GobCodec, which handles the built-in types and structs
// with exported fields. Give an operator another one with the StateCodec
// option (StateSpec.Codec for MapWithState), or every operator one with
// WithStateCodec, for state types gob cannot encode.
type Codec interface {
	// Name identifies the codec in checkpoints: restoring a state written
	// by another codec is an error.
	Name() string
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// GobCodec is the default Codec: encoding/gob.
type GobCodec struct{}

// Name returns "gob".
func (GobCodec) Name() string { return "gob" }

// Marshal encodes v with encoding/gob.
func (GobCodec) Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Unmarshal decodes data into v, a pointer.
func (GobCodec) Unmarshal(data []byte, v any) error {
	return gob.NewDecoder(bytes.NewReader(data)).Decode(v)
}

// StateCodec sets the Codec that encodes the operator's state in
// checkpoints (UpdateStateByKey, and ReduceByKeyAndWindow with an inverse
// function). Default: the context's, GobCodec unless WithStateCodec.
func StateCodec(c Codec) OpOption {
	return opOptionFunc(func(cfg *opConfig) {
		if c == nil {
			cfg.errs = append(cfg.errs, fmt.Errorf("%w: nil StateCodec", ErrInvalidOption))
			return
		}
		cfg.codec = c
	})
}

// stateStore saves and restores the state of one stateful operator.
type stateStore interface {
	// save encodes the state; last is the batch time it is at (0: none).
	save(codec Codec) (data []byte, last int64, err error)
	// load replaces the state with one saved by save.
	load(codec Codec, data []byte, last int64) error
	// signature describes the state's types, to detect a changed operator.
	signature() string
}

// keyedStore is the stateStore of a keyedState. Entries are saved as W
// values, so that state kept with unexported fields can be encoded, and
// restored through the partitioner of this process (its hash seed differs
// from the one that saved them).
type keyedStore[K comparable, S, W any] struct {
	st   *keyedState[K, S]
	part partitioner[K]
	enc  func(K, S) W
	dec  func(W) (K, S)
}

func (k *keyedStore[K, S, W]) save(codec Codec) ([]byte, int64, error) {
	var out []W
	for _, m := range k.st.parts {
		for key, v := range m {
			out = append(out, k.enc(key, v))
		}
	}
	return marshalState(codec, out, k.st.parts != nil, k.st.last)
}

// marshalState encodes a stateful operator's records for a checkpoint and
// returns them with the time the state is at: last, or 0 for a state not
// started yet.
func marshalState[W any](codec Codec, out []W, started bool, last int64) ([]byte, int64, error) {
	if !started {
		last = 0
	}
	data, err := codec.Marshal(out)
	if err != nil {
		return nil, 0, fmt.Errorf("encoding the state with the %s codec (give the operator a StateCodec for types it cannot encode): %w", codec.Name(), err)
	}
	return data, last, nil
}

func (k *keyedStore[K, S, W]) load(codec Codec, data []byte, last int64) error {
	var in []W
	if err := codec.Unmarshal(data, &in); err != nil {
		return fmt.Errorf("decoding the state with the %s codec: %w", codec.Name(), err)
	}
	if last == 0 {
		k.st.parts, k.st.last = nil, 0
		return nil
	}
	k.st.reset(k.part.n)
	for _, w := range in {
		key, v := k.dec(w)
		j, err := k.part.index(key)
		if err != nil {
			k.st.parts = nil
			return fmt.Errorf("restoring the state: %w", err)
		}
		k.st.parts[j][key] = v
	}
	k.st.last = last
	return nil
}

func (k *keyedStore[K, S, W]) signature() string {
	return reflect.TypeFor[W]().String()
}

// pairStore is the keyedStore that saves entries as Pair[K, S].
func pairStore[K comparable, S any](st *keyedState[K, S], part partitioner[K]) *keyedStore[K, S, Pair[K, S]] {
	return &keyedStore[K, S, Pair[K, S]]{
		st:   st,
		part: part,
		enc:  func(k K, s S) Pair[K, S] { return Pair[K, S]{k, s} },
		dec:  func(p Pair[K, S]) (K, S) { return p.Key, p.Value },
	}
}
