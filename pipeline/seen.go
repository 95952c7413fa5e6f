package pipeline

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math/bits"
	"os"
	"time"
)

// Sizes of the repeated-key rule of an unordered source: its memory is fixed, whatever the
// number of users.
const (
	// keyFilterBytes sizes the Bloom filter of the keys seen: at a million keys about one new
	// key in 1,500 is a false candidate (a run of a million users holds some 200), which costs
	// a share of a scan and nothing else.
	keyFilterBytes = 4 << 20
	// holdRecords and holdBytes (of payload) bound the candidates held for confirmation.
	holdRecords = 1024
	holdBytes   = 1 << 20
	// holdDelay bounds how long a candidate waits for its confirmation while the run reads on.
	holdDelay = 250 * time.Millisecond
)

// keyFilterSize is the filter a run makes: keyFilterBytes, but tests make it tiny, so that
// nearly every key is a candidate.
var keyFilterSize = keyFilterBytes

// spillEntry is the size of one key in the spill file: its 64-bit hash and its line.
const spillEntry = 16

// repeats applies, in source order, the rule that a record whose key repeats an earlier
// record's is invalid (SPEC §3), in memory that does not grow with the users.
//
// From a source ordered by key it remembers only the last key (lastKey). Otherwise the 64-bit
// hash of every key goes into a fixed Bloom filter and, with its line, to a spill file. A key
// the filter has not seen is new for sure: its record is decided at once, as nearly every record
// is. A key it may have seen makes its record a candidate, held until one sequential scan of the
// spill confirms a batch of candidates: a candidate repeats exactly when an earlier entry of the
// spill holds its hash, and the first such entry is the line that holds the key. The result is
// the map's, up to a collision of 64-bit hashes; a false candidate is only delayed.
//
// Every record with a key passes through see, in source order; a held record reaches decide
// later than the records after it, but a key's first record is always the one found new (at
// once, or once confirmed), so it is the one sent. A source with many repeats holds each of them
// and pays a scan per holdRecords repeats: slower, never wrong.
type repeats struct {
	ordered *lastKey  // from a source ordered by key; nil otherwise
	spill   *keySpill // otherwise

	held     []heldRecord // candidates, in source order
	heldSize int          // bytes of their payloads
	maxHeld  int          // holdRecords; smaller in tests

	candidates, scans int // for the run's debug log: what the filter's false candidates cost
}

// heldRecord is a candidate: a record whose key the filter may have seen.
type heldRecord struct {
	m mapped
	c candidate
}

// verdict receives a record once the rule has decided it, as mapped.decide takes it.
type verdict func(m mapped, first int, repeat bool) error

func newRepeats(ordered bool, filterBytes int) (*repeats, error) {
	if ordered {
		return &repeats{ordered: &lastKey{}}, nil
	}
	s, err := newKeySpill(filterBytes)
	if err != nil {
		return nil, err
	}
	return &repeats{spill: s, maxHeld: holdRecords}, nil
}

// see applies the rule to m, the next record in source order that has a key: it passes m to
// decide at once, or holds it, confirming the held candidates once they are too many.
func (r *repeats) see(m mapped, decide verdict) error {
	if r.ordered != nil {
		first, repeat := r.ordered.add(m.key, m.line)
		return decide(m, first, repeat)
	}
	c, maybe, err := r.spill.add(m.key, m.line)
	if err != nil {
		return err
	}
	if !maybe {
		return decide(m, 0, false)
	}
	r.candidates++
	r.held = append(r.held, heldRecord{m: m, c: c})
	if m.payload != nil {
		r.heldSize += len(m.payload.Body)
	}
	if len(r.held) >= r.maxHeld || r.heldSize >= holdBytes {
		return r.settle(decide)
	}
	return nil
}

// pending is the number of candidates waiting for their confirmation.
func (r *repeats) pending() int { return len(r.held) }

// settle confirms every held candidate in one scan of the spill and passes each to decide, in
// source order.
func (r *repeats) settle(decide verdict) error {
	if len(r.held) == 0 {
		return nil
	}
	cands := make([]*candidate, len(r.held))
	for i := range r.held {
		cands[i] = &r.held[i].c
	}
	if err := r.spill.confirm(cands); err != nil {
		return err
	}
	r.scans++
	for _, h := range r.held {
		if err := decide(h.m, h.c.first, h.c.repeat); err != nil {
			return err
		}
	}
	clear(r.held) // the payloads are the workers' now
	r.held, r.heldSize = r.held[:0], 0
	return nil
}

// close removes the spill file; the held candidates, if any, are dropped: the next run sends
// them.
func (r *repeats) close() error {
	if r.spill == nil {
		return nil
	}
	return r.spill.close()
}

// candidate is a key the filter may have seen, to confirm against the spill.
type candidate struct {
	hash   uint64
	pos    int64 // its own entry in the spill: only the entries before it count
	first  int   // the line of the first entry with its hash, when repeat
	repeat bool
}

// keySpill is a Bloom filter of the key hashes seen, backed by the spill file that holds every
// one of them with its line, in the order seen.
type keySpill struct {
	seed   maphash.Seed
	filter []uint64 // blocks of 512 bits: one key's probes share a cache line
	shift  uint     // of a hash, to its block
	file   *os.File
	w      *bufio.Writer
	n      int64  // entries in the spill
	buf    []byte // a scan's read buffer
}

// newKeySpill makes a filter of filterBytes, a power of two of at least 64, and its spill file in
// os.TempDir.
func newKeySpill(filterBytes int) (*keySpill, error) {
	if filterBytes < 64 || filterBytes&(filterBytes-1) != 0 {
		return nil, fmt.Errorf("repeated keys: filter of %d bytes: not a power of two of at least 64", filterBytes)
	}
	f, err := os.CreateTemp("", "druid-migrate-keys-*")
	if err != nil {
		return nil, fmt.Errorf("repeated keys: spill file: %w", err)
	}
	// Unlinked at once where the system allows it (the open file lives on), so that not even a
	// kill -9 leaves it behind; close removes it otherwise.
	_ = os.Remove(f.Name())
	blocks := filterBytes / 64
	return &keySpill{
		seed:   maphash.MakeSeed(),
		filter: make([]uint64, filterBytes/8),
		shift:  uint(64 - bits.TrailingZeros(uint(blocks))),
		file:   f,
		w:      bufio.NewWriterSize(f, 64<<10),
	}, nil
}

// add appends key, seen on line, to the spill and says whether the filter may have seen it.
func (s *keySpill) add(key string, line int) (c candidate, maybe bool, err error) {
	h := maphash.String(s.seed, key)
	maybe = s.testAndSet(h)
	var e [spillEntry]byte
	binary.LittleEndian.PutUint64(e[:8], h)
	binary.LittleEndian.PutUint64(e[8:], uint64(line))
	if _, err := s.w.Write(e[:]); err != nil {
		return candidate{}, false, fmt.Errorf("repeated keys: write the spill file: %w", err)
	}
	c = candidate{hash: h, pos: s.n}
	s.n++
	return c, maybe, nil
}

// testAndSet sets the filter's three bits of h and says whether all were set already. The
// block comes from the hash's top bits, the bits within it from the bottom 27.
func (s *keySpill) testAndSet(h uint64) (seen bool) {
	block := s.filter[(h>>s.shift)*8:][:8] // h>>64 is 0: a filter of one block
	seen = true
	for i := range 3 {
		bit := h >> (9 * i) & 511
		w, m := bit>>6, uint64(1)<<(bit&63)
		if block[w]&m == 0 {
			seen = false
			block[w] |= m
		}
	}
	return seen
}

// confirm reads the spill once, from its start to the last candidate's entry, and marks each
// candidate that an earlier entry holds with the first line holding its hash.
func (s *keySpill) confirm(cands []*candidate) error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("repeated keys: write the spill file: %w", err)
	}
	// A bitmap of the candidates' hashes (bits 32 to 47, which neither the filter's block nor its
	// probes use) passes about one entry in sixty to the map, at most.
	var some [1024]uint64
	byHash := make(map[uint64][]*candidate, len(cands))
	var end int64
	for _, c := range cands {
		some[c.hash>>38&1023] |= 1 << (c.hash >> 32 & 63)
		byHash[c.hash] = append(byHash[c.hash], c)
		end = max(end, c.pos)
	}
	if s.buf == nil {
		s.buf = make([]byte, 4096*spillEntry)
	}
	for pos := int64(0); pos < end; {
		n := min(int64(len(s.buf)/spillEntry), end-pos)
		b := s.buf[:n*spillEntry]
		if _, err := s.file.ReadAt(b, pos*spillEntry); err != nil {
			return fmt.Errorf("repeated keys: read the spill file: %w", err)
		}
		for i := int64(0); i < n; i++ {
			e := b[i*spillEntry:]
			h := binary.LittleEndian.Uint64(e)
			if some[h>>38&1023]&(1<<(h>>32&63)) == 0 {
				continue
			}
			for _, c := range byHash[h] {
				if pos+i < c.pos && !c.repeat {
					c.first, c.repeat = int(binary.LittleEndian.Uint64(e[8:])), true
				}
			}
		}
		pos += n
	}
	return nil
}

func (s *keySpill) close() error {
	err := s.file.Close()
	if rmErr := os.Remove(s.file.Name()); rmErr != nil && !os.IsNotExist(rmErr) && err == nil {
		err = rmErr
	}
	if err != nil {
		return fmt.Errorf("repeated keys: spill file: %w", err)
	}
	return nil
}
