package pipeline

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"sync"

	"druid-migrate/sink"
)

// hashVersion names the recipe below; changing the recipe must change it, so that old and new
// hashes never compare equal by accident.
const hashVersion = "druid-migrate/payload-hash/v1"

// passwordIterations makes a dictionary attack on a stored hash cost this many HMAC-SHA-256 per
// guess and per user, while a record that carries a password costs a fraction of a millisecond.
const passwordIterations = 1000

// Hasher computes payload hashes for one job. The hash is an HMAC-SHA-256 of the payload's exact
// bytes, keyed by the job, except that a password enters it only through PBKDF2 salted by job
// and user key: the checkpoint never holds anything from which a password could be read back or
// checked cheaply, and a different password still changes the hash.
//
// A Hasher is safe for concurrent use. It hashes every record of a run, skipped users included,
// so each goroutine borrows a keyed HMAC and its scratch from a pool rather than making them
// for every record.
type Hasher struct {
	job   string
	key   []byte
	state sync.Pool // of *hashState
}

// hashState is one goroutine's HMAC, keyed for the job, and the scratch of one Hash call.
type hashState struct {
	mac  hash.Hash
	body []byte // the payload encoded without its password
	sum  [sha256.Size]byte
	hex  [2 * sha256.Size]byte
}

// maxPooledBody keeps a stray huge payload from pinning its buffer in the pool for the run.
const maxPooledBody = 64 << 10

// NewHasher returns the Hasher of a job.
func NewHasher(job string) *Hasher {
	k := sha256.Sum256([]byte(hashVersion + "\x00" + job))
	h := &Hasher{job: job, key: k[:]}
	h.state.New = func() any { return &hashState{mac: hmac.New(sha256.New, h.key)} }
	return h
}

// Hash returns the payload hash of p, hex-encoded.
func (h *Hasher) Hash(p *sink.Payload) (string, error) {
	s := h.state.Get().(*hashState)
	defer h.put(s)
	mac := s.mac
	mac.Reset()
	if p.Request.Object.Password == "" {
		mac.Write(p.Body)
		return s.hexSum(), nil
	}
	salt := []byte(hashVersion + "\x00" + h.job + "\x00" + p.Key)
	derived, err := pbkdf2.Key(sha256.New, p.Request.Object.Password, salt, passwordIterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	req := p.Request
	req.Object.Password = ""
	s.body = sink.AppendRequest(s.body[:0], &req) // the bytes json.Marshal(req) gives
	mac.Write(s.body)
	mac.Write([]byte{0})
	mac.Write(derived)
	return s.hexSum(), nil
}

func (h *Hasher) put(s *hashState) {
	if cap(s.body) > maxPooledBody {
		s.body = nil
	}
	h.state.Put(s)
}

// hexSum returns the MAC written so far, hex-encoded.
func (s *hashState) hexSum() string {
	hex.Encode(s.hex[:], s.mac.Sum(s.sum[:0]))
	return string(s.hex[:])
}
