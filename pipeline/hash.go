package pipeline

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"

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
type Hasher struct {
	job string
	key []byte
}

// NewHasher returns the Hasher of a job.
func NewHasher(job string) *Hasher {
	k := sha256.Sum256([]byte(hashVersion + "\x00" + job))
	return &Hasher{job: job, key: k[:]}
}

// Hash returns the payload hash of p, hex-encoded.
func (h *Hasher) Hash(p *sink.Payload) (string, error) {
	mac := hmac.New(sha256.New, h.key)
	if p.Request.Object.Password == "" {
		mac.Write(p.Body)
		return sum(mac), nil
	}
	salt := []byte(hashVersion + "\x00" + h.job + "\x00" + p.Key)
	derived, err := pbkdf2.Key(sha256.New, p.Request.Object.Password, salt, passwordIterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	req := p.Request
	req.Object.Password = ""
	body, err := json.Marshal(req)
	if err != nil {
		return "", fmt.Errorf("hash payload: %w", err)
	}
	mac.Write(body)
	mac.Write([]byte{0})
	mac.Write(derived)
	return sum(mac), nil
}

func sum(h hash.Hash) string {
	var b [sha256.Size]byte
	return hex.EncodeToString(h.Sum(b[:0]))
}
