package sessionjwt

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests run the same files under `go test` and `yaegi test`. Neither may start processes (no os/exec
// under Yaegi), so scripts/test-servers.sh starts the Redis servers and passes their addresses here.

// testEnv returns a variable set by scripts/test-servers.sh. A missing one fails the test: run `make test`.
func testEnv(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run `make test`, which starts the test Redis servers (scripts/test-servers.sh)", name)
	}
	return v
}

const testSecret = "plugin-test-secret"

// Outage lines from the many deliberately failing pools would bury test output; tests that check the log
// capture it with captureLog.
func init() { logOutput = io.Discard }

// randomID returns a fresh session id, so runs and tests never see each other's keys.
func randomID(t testing.TB) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// signForTest signs value like itsdangerous' Signer with the given signer's newest key. It is checked
// against the real library's fixtures in TestSignForTestMatchesItsdangerous.
func signForTest(s *signer, value string, timestamp int64) string {
	if s.timestamped {
		var raw []byte
		for ts := uint64(timestamp); ts > 0; ts >>= 8 {
			raw = append([]byte{byte(ts)}, raw...)
		}
		value = value + s.sep + b64.EncodeToString(raw)
	}
	h := hmac.New(s.newHash, s.keys[0])
	h.Write([]byte(value))
	return value + s.sep + b64.EncodeToString(h.Sum(nil))
}

// do runs any command on a pooled connection, for tests that arrange state through a pool (TLS).
func (p *redisPool) do(deadline time.Time, args ...string) (interface{}, error) {
	return roundTrip(p, string(appendCommand(nil, args)), 1, deadline)
}

// makeJWT builds a JWT-shaped token around a JSON payload. JWTs from our own Redis are decoded, not
// verified, so the signature part is arbitrary.
func makeJWT(payload string) string {
	return "eyJhbGciOiJIUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".c2lnbmF0dXJl"
}

// adminConn is a direct connection for arranging and inspecting Redis state in tests.
type adminConn struct {
	t testing.TB
	c *respConn
}

func dialAdmin(t testing.TB, network, address string, auth ...string) *adminConn {
	t.Helper()
	nc, err := net.DialTimeout(network, address, 2*time.Second)
	if err != nil {
		t.Fatalf("dial test redis %s: %v", address, err)
	}
	a := &adminConn{t: t, c: newRespConn(nc)}
	t.Cleanup(a.c.close)
	if len(auth) > 0 {
		a.do(append([]string{"AUTH"}, auth...)...)
	}
	return a
}

func (a *adminConn) do(args ...string) interface{} {
	a.t.Helper()
	reply, err := exchange(a.c, string(appendCommand(nil, args)), 1, time.Now().Add(2*time.Second))
	if err != nil {
		a.t.Fatalf("redis %s: %v", args[0], err)
	}
	return reply
}

// clientsNamed counts connections named sessionjwt (our pools set that name) on database db.
func (a *adminConn) clientsNamed(db int) int {
	a.t.Helper()
	list, ok := a.do("CLIENT", "LIST").([]byte)
	if !ok {
		a.t.Fatal("CLIENT LIST did not answer a bulk string")
	}
	n := 0
	for _, line := range strings.Split(string(list), "\n") {
		if strings.Contains(line, " name=sessionjwt ") && strings.Contains(line, " db="+strconv.Itoa(db)+" ") {
			n++
		}
	}
	return n
}

// backend records what the next handler received.
type backend struct {
	mu     sync.Mutex
	calls  int
	header http.Header
}

func (b *backend) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	b.mu.Lock()
	b.calls++
	b.header = req.Header.Clone()
	b.mu.Unlock()
	rw.WriteHeader(http.StatusOK)
}

func (b *backend) seen() (int, http.Header) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls, b.header
}

// newTestMiddleware builds the middleware for the plain test Redis with the defaults plus edit.
func newTestMiddleware(t testing.TB, edit func(*Config)) (http.Handler, *backend) {
	t.Helper()
	cfg := CreateConfig()
	cfg.SecretKey = testSecret
	cfg.RedisURL = "redis://" + testEnv(t, "SESSIONJWT_TEST_REDIS") + "/0"
	// The cache is on by default; tests not about it run without, as a cached session would answer for
	// Redis in what they check. Those about it set cacheTTL (cache_test.go, invalidation_test.go).
	cfg.CacheTTL = "0s"
	if edit != nil {
		edit(cfg)
	}
	next := &backend{}
	h, err := New(context.Background(), next, cfg, "test")
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h, next
}

// signedCookie signs sessionID with the middleware's signer.
func signedCookie(t testing.TB, h http.Handler, sessionID string) string {
	t.Helper()
	mw := h.(*SessionJWT)
	return signForTest(mw.cookies.signer, sessionID, time.Now().Unix())
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func requestWithCookie(name, value string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "http://example.test/api/things?x=1", nil)
	if name != "" {
		req.AddCookie(&http.Cookie{Name: name, Value: value})
	}
	return req
}

// captureLog sends log lines to a buffer for the rest of the test.
func captureLog(t testing.TB) *syncBuffer {
	buf := &syncBuffer{}
	logMu.Lock()
	old := logOutput
	logOutput = buf
	logMu.Unlock()
	t.Cleanup(func() {
		logMu.Lock()
		logOutput = old
		logMu.Unlock()
	})
	return buf
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// concurrently runs fn(0) to fn(n-1) in n goroutines and waits for them all. The go statement starts a
// named function: Yaegi v0.16.1 was seen (once in about 25 runs) to panic with "call of nil function"
// when go started a function literal in a loop, as in traefik/yaegi#1663.
func concurrently(n int, fn func(i int)) {
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		go runConcurrently(&wg, fn, i)
	}
	wg.Wait()
}

func runConcurrently(wg *sync.WaitGroup, fn func(i int), i int) {
	defer wg.Done()
	fn(i)
}

// waitFor polls cond until it holds or the limit passes.
func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testPEM(t *testing.T) string {
	return loadJWTFixtures(t).PEM["rsa"]
}

// edSigner signs test JWTs with a fresh Ed25519 key, at the real clock.
type edSigner struct {
	kid  string
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
}

func newEdSigner(t testing.TB, kid string) *edSigner {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &edSigner{kid: kid, priv: priv, pub: pub}
}

func (s *edSigner) jwk() string {
	return `{"kty":"OKP","crv":"Ed25519","kid":"` + s.kid + `","x":"` + b64url.EncodeToString(s.pub) + `"}`
}

func (s *edSigner) sign(payload string) string {
	input := b64url.EncodeToString([]byte(`{"alg":"EdDSA","kid":"`+s.kid+`"}`)) + "." + b64url.EncodeToString([]byte(payload))
	return input + "." + b64url.EncodeToString(ed25519.Sign(s.priv, []byte(input)))
}

// keySigner signs test JWTs with a fresh RS256 or ES256 key, as an identity provider does.
type keySigner struct {
	kid string
	rsa *rsa.PrivateKey   // RS256
	ec  *ecdsa.PrivateKey // ES256
}

func newRSASigner(t testing.TB, kid string) *keySigner {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &keySigner{kid: kid, rsa: k}
}

func newECSigner(t testing.TB, kid string) *keySigner {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &keySigner{kid: kid, ec: k}
}

func (s *keySigner) jwk() string {
	if s.rsa != nil {
		e := big.NewInt(int64(s.rsa.E)).Bytes()
		return `{"kty":"RSA","kid":"` + s.kid + `","n":"` + b64url.EncodeToString(s.rsa.N.Bytes()) + `","e":"` + b64url.EncodeToString(e) + `"}`
	}
	x := make([]byte, 32)
	y := make([]byte, 32)
	s.ec.X.FillBytes(x)
	s.ec.Y.FillBytes(y)
	return `{"kty":"EC","crv":"P-256","kid":"` + s.kid + `","x":"` + b64url.EncodeToString(x) + `","y":"` + b64url.EncodeToString(y) + `"}`
}

func (s *keySigner) sign(payload string) string {
	alg := "ES256"
	if s.rsa != nil {
		alg = "RS256"
	}
	input := b64url.EncodeToString([]byte(`{"alg":"`+alg+`","kid":"`+s.kid+`"}`)) + "." + b64url.EncodeToString([]byte(payload))
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	if s.rsa != nil {
		var err error
		if sig, err = rsa.SignPKCS1v15(rand.Reader, s.rsa, crypto.SHA256, digest[:]); err != nil {
			panic(err)
		}
	} else {
		r, ss, err := ecdsa.Sign(rand.Reader, s.ec, digest[:])
		if err != nil {
			panic(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		ss.FillBytes(sig[32:])
	}
	return input + "." + b64url.EncodeToString(sig)
}

func hs256(secret, payload string) string {
	input := b64url.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + b64url.EncodeToString([]byte(payload))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(input))
	return input + "." + b64url.EncodeToString(mac.Sum(nil))
}

func future() string { return strconv.FormatInt(time.Now().Unix()+3600, 10) }

const testJWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJl"

// storeSession puts jwt in the plain test Redis under key and returns a function removing it.
func storeSession(t *testing.T, key, jwt string) {
	t.Helper()
	admin := dialAdmin(t, "tcp", testEnv(t, "SESSIONJWT_TEST_REDIS"))
	admin.do("SET", key, jwt, "EX", "300")
}

// poolStore is a store reading the one pool p, for tests of the Redis client below the middleware.
func poolStore(p *redisPool) *sessionStore { return &sessionStore{redis: p} }
