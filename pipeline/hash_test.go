package pipeline

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"druid-migrate/internal/sample"
	"druid-migrate/mapping"
	"druid-migrate/sink"
	"druid-migrate/source"
)

// referenceHash is the payload-hash recipe v1 written plainly, with encoding/json: the hash of
// every checkpoint row already written. Hasher must give exactly this, or the next run would
// resend every user.
func referenceHash(t testing.TB, job string, p *sink.Payload) string {
	t.Helper()
	derived, err := pbkdf2.Key(sha256.New, p.Request.Object.Password,
		[]byte(hashVersion+"\x00"+job+"\x00"+p.Key), passwordIterations, sha256.Size)
	require.NoError(t, err)
	return recipe(t, job, p, 0, derived)
}

// recipe is the payload hash written plainly: an HMAC keyed by the job of the exact body, or,
// with a password, of the body without it, a separator, and the password's part.
func recipe(t testing.TB, job string, p *sink.Payload, separator byte, password []byte) string {
	t.Helper()
	k := sha256.Sum256([]byte(hashVersion + "\x00" + job))
	mac := hmac.New(sha256.New, k[:])
	if p.Request.Object.Password == "" {
		mac.Write(p.Body)
		return hex.EncodeToString(mac.Sum(nil))
	}
	req := p.Request
	req.Object.Password = ""
	body, err := json.Marshal(req)
	require.NoError(t, err)
	mac.Write(body)
	mac.Write([]byte{separator})
	mac.Write(password)
	return hex.EncodeToString(mac.Sum(nil))
}

// hashPayloads are payloads as Build makes them, one with a password, and one whose request
// holds what encoding/json escapes.
func hashPayloads(t testing.TB) []*sink.Payload {
	t.Helper()
	m, err := mapping.Compile(nil, sample.Header, mapping.Options{AppID: "app"})
	require.NoError(t, err)
	var ps []*sink.Payload
	for i := 1; i <= 3; i++ {
		p, err := m.Build(source.Record{Line: i + 1, Values: sample.Row(i, "")})
		require.NoError(t, err)
		ps = append(ps, p)
	}
	tricky := "<ñ>&\u2028\"\\\x01\xff"
	confirmed := true
	req := sink.Request{
		Actor: sink.Actor{ID: "app", ObjectType: sink.ObjectTypeApplication},
		Verb:  "update",
		Object: sink.User{
			ObjectType: sink.ObjectTypeUser, ObjectID: "d-1", Password: "pw " + tricky,
			IDs: map[string]sink.ID{
				"email": {ObjectType: sink.ObjectTypeUserID, Value: "a@b.co", Confirmed: &confirmed},
				tricky:  {ObjectType: sink.ObjectTypeUserID, Value: tricky},
			},
			Datas: map[string]sink.Data{"name": {ObjectType: sink.ObjectTypeUserData, Value: tricky}},
			Assertions: &sink.Assertions{ObjectType: sink.ObjectTypeAssertions, TotalItems: 1, Items: []sink.Assertion{
				{ObjectType: sink.ObjectTypeAssertion, Type: "terms", Typology: sink.TypologyUser, Value: true},
			}},
		},
		Source: sink.Device{ID: "pc", ObjectType: sink.ObjectTypeDevice},
	}
	body, err := json.Marshal(req)
	require.NoError(t, err)
	ps = append(ps, &sink.Payload{Key: "k-" + tricky, Request: req, Body: body})
	noPassword := req
	noPassword.Object.Password = ""
	body, err = json.Marshal(noPassword)
	require.NoError(t, err)
	return append(ps, &sink.Payload{Key: "k-2", Request: noPassword, Body: body})
}

func TestHashIsTheRecipe(t *testing.T) {
	t.Parallel()
	h := NewHasher("job-1", nil)
	for i, p := range hashPayloads(t) {
		for range 2 { // the second time with a pooled, already used HMAC
			got, err := h.Hash(p)
			require.NoError(t, err)
			require.Equal(t, referenceHash(t, "job-1", p), got, "payload %d", i)
		}
	}
}

// TestHashIsStable pins hashes computed before the encoder and the HMAC pooling were written:
// a change here means every user of every job would be sent again.
func TestHashIsStable(t *testing.T) {
	t.Parallel()
	ps := hashPayloads(t)
	h := NewHasher("golden", nil)
	for i, want := range map[int]string{
		0: "9c60dce35995ad866ba86c45dd6fea70a050c4b78754b37c592938f162f6cf10", // sample user 1
		3: "1bb295b5a7d39545e57f33338ffc0e82e4cfa714d94b6afec9e2eae22fe0c62d", // with a password
		4: "354421974db5a7f1632a767c18443f482b371aae91b13e8df468e3109b9bde79",
	} {
		got, err := h.Hash(ps[i])
		require.NoError(t, err)
		require.Equal(t, want, got, "payload %d", i)
	}
}

// TestHashIsSafeForConcurrentUse hashes on several goroutines at once (run with -race): each
// borrows its own HMAC, and every hash is the one computed alone.
func TestHashIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	h := NewHasher("job", nil)
	ps := hashPayloads(t)
	want := make([]string, len(ps))
	for i, p := range ps {
		want[i] = referenceHash(t, "job", p)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			for n := range 50 {
				i := (g + n) % len(ps)
				got, err := h.Hash(ps[i])
				if err != nil || got != want[i] {
					errs <- "goroutine " + strconv.Itoa(g) + ", payload " + strconv.Itoa(i) + ": " + got
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func BenchmarkHash(b *testing.B) {
	h := NewHasher("bench", nil)
	p := hashPayloads(b)[0]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(p); err != nil {
			b.Fatal(err)
		}
	}
}

// keyedReference is the recipe with a hash key, written plainly: a payload with a password is
// an HMAC of its exact bytes keyed by the job's key, derived from the operator's.
func keyedReference(t testing.TB, job string, key []byte, p *sink.Payload) string {
	t.Helper()
	if p.Request.Object.Password == "" {
		return referenceHash(t, job, p)
	}
	jk := hmac.New(sha256.New, key)
	jk.Write([]byte(hashVersion + "\x00password-key\x00" + job))
	mac := hmac.New(sha256.New, jk.Sum(nil))
	mac.Write(p.Body)
	return hex.EncodeToString(mac.Sum(nil))
}

// TestHashKeyKeysThePasswordsPart: with a hash key a password enters the hash through an HMAC
// keyed by it; a payload without a password hashes as it always did, so a key added to a job
// resends only the users with a password; another key, or none, gives another hash.
func TestHashKeyKeysThePasswordsPart(t *testing.T) {
	t.Parallel()
	key, other := []byte("operator-key-1"), []byte("operator-key-2")
	h := NewHasher("job", key)
	for i, p := range hashPayloads(t) {
		for range 2 { // the second time with pooled, already used HMACs
			got, err := h.Hash(p)
			require.NoError(t, err)
			require.Equal(t, keyedReference(t, "job", key, p), got, "payload %d", i)
			unkeyed, err := NewHasher("job", nil).Hash(p)
			require.NoError(t, err)
			otherKey, err := NewHasher("job", other).Hash(p)
			require.NoError(t, err)
			if p.Request.Object.Password == "" {
				require.Equal(t, unkeyed, got, "payload %d: no password, no change", i)
				require.Equal(t, otherKey, got)
			} else {
				require.NotEqual(t, unkeyed, got, "payload %d: the key changes a password's hash", i)
				require.NotEqual(t, otherKey, got, "payload %d: so does another key", i)
			}
		}
	}
	changed := *hashPayloads(t)[3]
	changed.Request.Object.Password += "!"
	var err error
	changed.Body, err = json.Marshal(changed.Request)
	require.NoError(t, err)
	a, err := h.Hash(hashPayloads(t)[3])
	require.NoError(t, err)
	b, err := h.Hash(&changed)
	require.NoError(t, err)
	require.NotEqual(t, a, b, "a changed password changes the hash")
}

func TestHashKeyFingerprintNamesTheKeyWithoutShowingIt(t *testing.T) {
	t.Parallel()
	require.Equal(t, "pbkdf2", HashKeyFingerprint(nil))
	fp := HashKeyFingerprint([]byte("operator-key-1"))
	require.Equal(t, fp, HashKeyFingerprint([]byte("operator-key-1")))
	require.NotEqual(t, fp, HashKeyFingerprint([]byte("operator-key-2")))
	require.NotContains(t, fp, "operator-key")
}

// BenchmarkHashPassword is a record with a password: PBKDF2, against a hash key.
func BenchmarkHashPassword(b *testing.B) {
	p := hashPayloads(b)[3]
	for name, key := range map[string][]byte{"pbkdf2": nil, "hash-key": []byte("operator-key")} {
		b.Run(name, func(b *testing.B) {
			h := NewHasher("bench", key)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.Hash(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
