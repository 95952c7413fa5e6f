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
// bytes, keyed by the job, except that a payload with a password is hashed only by a function
// nobody can compute without a secret, or only at a cost: with a hash key (--hash-key-file,
// DRUID_HASH_KEY, or else the client secret), an HMAC-SHA-256 of its exact bytes keyed by a key
// derived from it and the job, fast and useless without the key; without one, the payload
// without its password and the password through PBKDF2 salted by job and user key, which costs
// each record about 0.2 ms. Either
// way the checkpoint never holds anything from which a password could be read back or checked
// cheaply, and a different password still changes the hash.
//
// A Hasher is safe for concurrent use. It hashes every record of a run, skipped users included,
// so each goroutine borrows a keyed HMAC and its scratch from a pool rather than making them
// for every record.
type Hasher struct {
	job     string
	key     []byte    // the job's: keys the HMAC of the payload
	passKey []byte    // derived from the operator's hash key and the job; nil: PBKDF2
	state   sync.Pool // of *hashState
}

// hashState is one goroutine's HMAC, keyed for the job, and the scratch of one Hash call.
type hashState struct {
	mac  hash.Hash
	pass hash.Hash // keyed by passKey, when there is one
	body []byte    // the payload encoded without its password
	sum  [sha256.Size]byte
	hex  [2 * sha256.Size]byte
}

// maxPooledBody keeps a stray huge payload from pinning its buffer in the pool for the run.
const maxPooledBody = 64 << 10

// NewHasher returns the Hasher of a job. hashKey, when not empty, keys the passwords' part of
// the hash; without it passwords go through PBKDF2.
func NewHasher(job string, hashKey []byte) *Hasher {
	k := sha256.Sum256([]byte(hashVersion + "\x00" + job))
	h := &Hasher{job: job, key: k[:]}
	if len(hashKey) > 0 {
		// The job's own key, so that one operator key gives each job hashes of its own.
		m := hmac.New(sha256.New, hashKey)
		m.Write([]byte(hashVersion + "\x00password-key\x00" + job))
		h.passKey = m.Sum(nil)
	}
	h.state.New = func() any {
		s := &hashState{mac: hmac.New(sha256.New, h.key)}
		if h.passKey != nil {
			s.pass = hmac.New(sha256.New, h.passKey)
		}
		return s
	}
	return h
}

// HashKeyFingerprint names a hash key without revealing it, for the checkpoint to say whether a
// job's runs hash with the same key: hex of the first 8 bytes of an HMAC of a fixed text keyed by
// it, or "pbkdf2" without a key.
func HashKeyFingerprint(hashKey []byte) string {
	if len(hashKey) == 0 {
		return "pbkdf2"
	}
	mac := hmac.New(sha256.New, hashKey)
	mac.Write([]byte(hashVersion + "\x00fingerprint"))
	return "hmac:" + hex.EncodeToString(mac.Sum(nil)[:8])
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
	if h.passKey != nil {
		// Keyed by a secret, the exact bytes sent, password and all, are safe to MAC: nobody
		// without the key can test a password against the hash. No re-encoding, one pass.
		pm := s.pass
		pm.Reset()
		pm.Write(p.Body)
		hex.Encode(s.hex[:], pm.Sum(s.sum[:0]))
		return string(s.hex[:]), nil
	}
	salt := hashVersion + "\x00" + h.job + "\x00" + p.Key
	req := p.Request
	req.Object.Password = ""
	s.body = sink.AppendRequest(s.body[:0], &req) // the bytes json.Marshal(req) gives
	mac.Write(s.body)
	derived, err := pbkdf2.Key(sha256.New, p.Request.Object.Password, []byte(salt), passwordIterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
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
