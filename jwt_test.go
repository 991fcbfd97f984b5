package sessionjwt

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// jwtFixtures is testdata/jwt.json, written by tools/fixtures/jwt_fixtures.py with the real PyJWT.
type jwtFixtures struct {
	Now        int64             `json:"now"`
	Issuer     string            `json:"issuer"`
	Audience   string            `json:"audience"`
	HMACSecret string            `json:"hmacSecret"`
	JWKS       json.RawMessage   `json:"jwks"`
	PEM        map[string]string `json:"pem"`
	Cases      []struct {
		Name  string `json:"name"`
		Token string `json:"token"`
		Want  string `json:"want"`
	} `json:"cases"`
}

func loadJWTFixtures(t testing.TB) jwtFixtures {
	t.Helper()
	b, err := os.ReadFile("testdata/jwt.json")
	if err != nil {
		t.Fatal(err)
	}
	var f jwtFixtures
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func fixtureVerifier(t testing.TB, f jwtFixtures, keys func(c *JWTConfig)) *jwtVerifier {
	t.Helper()
	c := CreateConfig().JWT
	c.HMACSecret = f.HMACSecret
	c.Issuers = []string{f.Issuer}
	c.Audiences = []string{"another-api", f.Audience}
	keys(&c)
	v, err := newJWTVerifier(&c)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Every PyJWT-made token gets the verdict the fixtures record, with the keys as a JWKS and as PEM.
func TestVerifyPyJWTFixtures(t *testing.T) {
	f := loadJWTFixtures(t)
	now := time.Unix(f.Now, 0)
	byJWKS := fixtureVerifier(t, f, func(c *JWTConfig) { c.JWKS = string(f.JWKS) })
	byPEM := fixtureVerifier(t, f, func(c *JWTConfig) {
		for _, name := range []string{"rsa", "p256", "p384", "p521", "ed25519"} {
			c.PublicKeys = append(c.PublicKeys, f.PEM[name])
		}
	})
	if len(f.Cases) < 40 {
		t.Fatalf("only %d cases in testdata/jwt.json", len(f.Cases))
	}
	for _, tc := range f.Cases {
		for _, v := range []struct {
			keys string
			v    *jwtVerifier
		}{{"JWKS", byJWKS}, {"PEM", byPEM}} {
			want := tc.Want
			if v.keys == "PEM" && want == "unknown_key" {
				want = "" // PEM keys carry no kid: every key of the right type is tried, and the right one fits
			}
			claims, reason := verifyJWT(v.v, tc.Token, now)
			if reason != want {
				t.Errorf("%s (%s): reason %q, want %q", tc.Name, v.keys, reason, want)
			}
			if reason == "" && string(claims["sub"]) != `"user-1"` {
				t.Errorf("%s (%s): claims %v", tc.Name, v.keys, claims)
			}
		}
	}
}

// The allow-list is the last word: a valid RS256 token fails when only ES256 is allowed, and a verifier
// without an HMAC secret never accepts HS256, whatever key the header names.
func TestAlgorithmAllowList(t *testing.T) {
	f := loadJWTFixtures(t)
	now := time.Unix(f.Now, 0)
	tokens := map[string]string{}
	for _, tc := range f.Cases {
		tokens[tc.Name] = tc.Token
	}
	onlyES := fixtureVerifier(t, f, func(c *JWTConfig) { c.JWKS = string(f.JWKS); c.Algorithms = []string{"ES256"} })
	if _, reason := verifyJWT(onlyES, tokens["RS256"], now); reason != reasonAlgorithm {
		t.Errorf("RS256 with only ES256 allowed: %q", reason)
	}
	if _, reason := verifyJWT(onlyES, tokens["ES256"], now); reason != "" {
		t.Errorf("ES256 with ES256 allowed: %q", reason)
	}
	noSecret := fixtureVerifier(t, f, func(c *JWTConfig) { c.HMACSecret = ""; c.JWKS = string(f.JWKS) })
	for _, name := range []string{"HS256", "HS256 keyed with the RSA public key PEM"} {
		if _, reason := verifyJWT(noSecret, tokens[name], now); reason != reasonAlgorithm {
			t.Errorf("%s without an HMAC secret: %q", name, reason)
		}
	}
}

func TestJWTConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(c *JWTConfig)
		wantErr string
	}{
		{"alg none", func(c *JWTConfig) { c.JWKS = `{"keys":[]}`; c.Algorithms = []string{"none"} }, "jwt.jwks"},
		{"unknown alg", func(c *JWTConfig) { c.HMACSecret = strings.Repeat("k", 32); c.Algorithms = []string{"none"} }, `jwt.algorithms[0] "none"`},
		{"HS without secret", func(c *JWTConfig) { c.PublicKeys = []string{testPEM(t)}; c.Algorithms = []string{"HS256"} }, "needs jwt.hmacSecret"},
		{"short secret", func(c *JWTConfig) { c.HMACSecret = "short" }, "at least 32 bytes"},
		{"bad PEM", func(c *JWTConfig) { c.PublicKeys = []string{"not a key"} }, "jwt.publicKeys[0]"},
		{"private key PEM", func(c *JWTConfig) {
			c.PublicKeys = []string{"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}
		}, "not a public key"},
		{"missing key file", func(c *JWTConfig) { c.PublicKeyFiles = []string{"/nonexistent/key.pem"} }, "jwt.publicKeyFiles[0]"},
		{"JWKS URL", func(c *JWTConfig) { c.JWKSURLs = []string{"ftp://idp/keys"} }, "jwt.jwksURLs[0]"},
		{"leeway", func(c *JWTConfig) { c.HMACSecret = strings.Repeat("k", 32); c.Leeway = "-1s" }, "jwt.leeway"},
		{"timeout", func(c *JWTConfig) { c.HMACSecret = strings.Repeat("k", 32); c.JWKSTimeout = "0s" }, "jwt.jwksTimeout"},
		{"verifyStored without keys", func(c *JWTConfig) { c.VerifyStored = true }, "jwt.verifyStored needs keys"},
	}
	for _, tt := range tests {
		cfg := CreateConfig()
		cfg.SecretKey = "x"
		tt.edit(&cfg.JWT)
		_, err := New(context.Background(), &backend{}, cfg, "bad")
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: err = %v, want one containing %q", tt.name, err, tt.wantErr)
		}
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

func hs256(secret, payload string) string {
	input := b64url.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + b64url.EncodeToString([]byte(payload))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(input))
	return input + "." + b64url.EncodeToString(mac.Sum(nil))
}

func future() string { return strconv.FormatInt(time.Now().Unix()+3600, 10) }

// jwksServer serves a JWKS it can change, counting fetches; hang makes it never answer.
type jwksServer struct {
	url     string
	fetches atomic.Int32
	mu      sync.Mutex
	body    string
	hang    chan struct{}
}

func newJWKSServer(t *testing.T, body string) *jwksServer {
	j := &jwksServer{body: body}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		j.fetches.Add(1)
		j.mu.Lock()
		body, hang := j.body, j.hang
		j.mu.Unlock()
		if hang != nil {
			select {
			case <-hang:
			case <-req.Context().Done():
			}
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		rw.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	j.url = srv.URL + "/.well-known/jwks.json"
	return j
}

func (j *jwksServer) serve(body string) {
	j.mu.Lock()
	j.body = body
	j.mu.Unlock()
}

// Through ServeHTTP: client JWTs verified against a JWKS URL that is fetched lazily, rotated keys picked
// up, unknown-kid storms bounded, and claims feeding the requirements and claim headers.
func TestClientJWTWithJWKSURL(t *testing.T) {
	first, second := newEdSigner(t, "k1"), newEdSigner(t, "k2")
	j := newJWKSServer(t, `{"keys":[`+first.jwk()+`]}`)
	h, next := newTestMiddleware(t, func(c *Config) {
		c.Unauthenticated = "reject"
		c.JWT.JWKSURLs = []string{j.url}
		c.JWT.Issuers = []string{"https://idp.example"}
		c.JWT.JWKSMinInterval = "2s"
		c.RequiredScopes = []string{"orders:read"}
		c.ClaimHeaders = map[string]string{"sub": "X-User-Id"}
	})
	if got := j.fetches.Load(); got != 0 {
		t.Fatalf("New fetched the JWKS %d times; it must wait for the first request", got)
	}
	call := func(token string) (int, http.Header, string) {
		req := requestWithCookie("", "")
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-User-Id", "spoofed")
		rec := serve(h, req)
		_, got := next.seen()
		return rec.Code, got, rec.Header().Get("WWW-Authenticate")
	}
	claims := `{"sub":"client-7","iss":"https://idp.example","exp":` + future() + `,"scopes":"orders:read"}`
	token := first.sign(claims)
	if status, got, _ := call(token); status != 200 || got.Get("Authorization") != "Bearer "+token || got.Get("X-User-Id") != "client-7" {
		t.Fatalf("valid client JWT: status %d, backend saw %v", status, got)
	}
	if got := j.fetches.Load(); got != 1 {
		t.Errorf("%d JWKS fetches after the first request, want 1", got)
	}
	// Requirements apply to client JWTs as to sessions.
	if status, _, _ := call(first.sign(`{"sub":"c","iss":"https://idp.example","exp":` + future() + `}`)); status != 403 {
		t.Errorf("a client JWT without the scope: status %d, want 403", status)
	}
	// Refusals say why.
	expired := first.sign(`{"sub":"c","iss":"https://idp.example","exp":1000}`)
	if status, _, challenge := call(expired); status != 401 || challenge != `Bearer realm="sessionjwt", error="invalid_token", error_description="expired"` {
		t.Errorf("expired: status %d, WWW-Authenticate %q", status, challenge)
	}

	// Rotation: a token with a new kid makes the JWKS be fetched again, once (past the minimum interval).
	time.Sleep(2100 * time.Millisecond)
	j.serve(`{"keys":[` + first.jwk() + `,` + second.jwk() + `]}`)
	rotated := second.sign(claims)
	var ok atomic.Int32
	concurrently(50, func(i int) {
		req := requestWithCookie("", "")
		req.Header.Set("Authorization", "Bearer "+rotated)
		if serve(h, req).Code == 200 {
			ok.Add(1)
		}
	})
	if ok.Load() != 50 || j.fetches.Load() != 2 {
		t.Errorf("after rotation: %d of 50 requests passed, %d fetches in all; want 50 and 2", ok.Load(), j.fetches.Load())
	}
	// An unknown-kid storm within the minimum interval fetches nothing more.
	stranger := newEdSigner(t, "unknown").sign(claims)
	for i := 0; i < 100; i++ {
		if status, _, challenge := call(stranger); status != 401 || !strings.Contains(challenge, "unknown_key") {
			t.Fatalf("unknown kid: status %d, %q", status, challenge)
		}
	}
	if got := j.fetches.Load(); got != 2 {
		t.Errorf("100 unknown-kid requests made %d fetches in all, want 2", got)
	}
}

// A JWKS endpoint that never answers holds a request no longer than jwksTimeout, and later requests
// within the minimum interval do not wait for it again.
func TestHangingJWKSEndpoint(t *testing.T) {
	j := newJWKSServer(t, "")
	j.hang = make(chan struct{})
	t.Cleanup(func() { close(j.hang) })
	log := captureLog(t)
	h, _ := newTestMiddleware(t, func(c *Config) {
		c.Unauthenticated = "reject"
		c.JWT.JWKSURLs = []string{j.url}
		c.JWT.JWKSTimeout = "300ms"
	})
	token := newEdSigner(t, "k").sign(`{"exp":` + future() + `}`)
	for i := 0; i < 3; i++ {
		req := requestWithCookie("", "")
		req.Header.Set("Authorization", "Bearer "+token)
		start := time.Now()
		rec := serve(h, req)
		// One bound for the whole request, however many waits it has: the first fetch, then the unknown kid's.
		if elapsed := time.Since(start); rec.Code != 401 || elapsed > 300*time.Millisecond+time.Second {
			t.Fatalf("request %d: status %d after %v", i, rec.Code, elapsed)
		}
	}
	if got := j.fetches.Load(); got != 1 {
		t.Errorf("%d fetches of a hanging endpoint, want 1", got)
	}
	waitFor(t, 3*time.Second, "the failed fetch to be logged", func() bool { return strings.Contains(log.String(), "fetching the JWKS") })
}

// A client JWT the gateway refused never reaches the backend: not under the default policy (strip), and
// not under pass either, which forwards the request without it. The readme promises backends only ever
// see a JWT the gateway trusts.
func TestRefusedClientJWTIsNeverForwarded(t *testing.T) {
	signer, stranger := newEdSigner(t, "k"), newEdSigner(t, "k")
	admin := `{"sub":"admin","exp":` + future() + `}`
	b64 := base64.RawURLEncoding.EncodeToString
	tokens := map[string]string{
		"alg none":      b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64([]byte(admin)) + ".",
		"bad signature": stranger.sign(admin),
		"expired":       signer.sign(`{"sub":"admin","exp":1000}`),
		"not base64":    "a.b.c",
	}
	for _, policy := range []string{"", "pass", "strip"} {
		h, next := newTestMiddleware(t, func(c *Config) {
			if policy != "" {
				c.Unauthenticated = policy
			}
			c.JWT.JWKS = `{"keys":[` + signer.jwk() + `]}`
		})
		for name, token := range tokens {
			req := requestWithCookie("", "")
			req.Header.Set("Authorization", "Bearer "+token)
			rec := serve(h, req)
			calls, got := next.seen()
			if rec.Code != 200 || calls == 0 || len(got.Values("Authorization")) != 0 {
				t.Errorf("policy %q, %s: status %d, backend saw Authorization %q; want it forwarded without",
					policy, name, rec.Code, got.Values("Authorization"))
			}
		}
		// The token that verifies still goes through.
		req := requestWithCookie("", "")
		good := signer.sign(admin)
		req.Header.Set("Authorization", "Bearer "+good)
		if rec := serve(h, req); rec.Code != 200 {
			t.Fatalf("policy %q: a valid token got %d", policy, rec.Code)
		}
		if _, got := next.seen(); got.Get("Authorization") != "Bearer "+good {
			t.Errorf("policy %q: a valid token was not forwarded", policy)
		}
	}
}

// Several JWKS endpoints that never answer hold a request for one jwksTimeout in all, not one per URL.
func TestJWKSWaitIsOneDeadline(t *testing.T) {
	// Not in a loop: under Yaegi, closures made in a loop body share its variables.
	urls := []string{hangingJWKSURL(t), hangingJWKSURL(t), hangingJWKSURL(t)}
	captureLog(t)
	h, _ := newTestMiddleware(t, func(c *Config) {
		c.Unauthenticated = "reject"
		c.JWT.JWKSURLs = urls
		c.JWT.JWKSTimeout = "1s"
	})
	req := requestWithCookie("", "")
	req.Header.Set("Authorization", "Bearer "+newEdSigner(t, "k").sign(`{"exp":`+future()+`}`))
	start := time.Now()
	rec := serve(h, req)
	// One wait of 1 s for the three fetches together (a wait per URL would be 3 s).
	if elapsed := time.Since(start); rec.Code != 401 || elapsed >= 2*time.Second {
		t.Fatalf("status %d after %v; want 401 within one jwksTimeout", rec.Code, elapsed)
	}
}

// hangingJWKSURL serves a JWKS endpoint that answers nothing until the test ends.
func hangingJWKSURL(t *testing.T) string {
	j := newJWKSServer(t, "")
	j.hang = make(chan struct{})
	t.Cleanup(func() { close(j.hang) })
	return j.url
}

// Opaque bearer tokens (seed 001): looked up under bearerKeyPrefix; seed 001's order of checks.
func TestOpaqueBearerTokens(t *testing.T) {
	token := "tok-" + randomID(t)
	storeSession(t, "access:"+token, testJWT)
	storeSession(t, "refresh:"+token+"r", testJWT)
	for _, policy := range []string{"reject", "pass"} {
		h, next := newTestMiddleware(t, func(c *Config) {
			c.Unauthenticated = policy
			c.BearerKeyPrefix = "access:"
		})
		tests := []struct {
			name    string
			headers []string
			status  int    // under reject
			code    string // the error in the body under reject
		}{
			{"valid", []string{"Bearer " + token}, 200, ""},
			{"scheme in other case", []string{"bearer " + token}, 200, ""},
			{"no header", nil, 401, "unauthenticated"},
			{"wrong scheme", []string{"Token " + token}, 400, "invalid_request"},
			{"no token", []string{"Bearer"}, 400, "invalid_request"},
			{"empty token", []string{"Bearer "}, 400, "invalid_request"},
			{"three parts", []string{"Bearer " + token + " x"}, 400, "invalid_request"},
			{"two headers", []string{"Bearer " + token, "Bearer " + token}, 400, "invalid_request"},
			{"unknown token", []string{"Bearer nope"}, 401, "invalid_token"},
			{"refresh token", []string{"Bearer " + token + "r"}, 401, "invalid_token"},
			{"too long", []string{"Bearer " + strings.Repeat("a", 5000)}, 401, "invalid_token"},
		}
		for _, tt := range tests {
			req := requestWithCookie("", "")
			for _, v := range tt.headers {
				req.Header.Add("Authorization", v)
			}
			before, _ := next.seen()
			rec := serve(h, req)
			after, got := next.seen()
			name := policy + "/" + tt.name
			if tt.status == 200 {
				if rec.Code != 200 || strings.Join(got.Values("Authorization"), "|") != "Bearer "+testJWT {
					t.Errorf("%s: status %d, backend saw %q", name, rec.Code, got.Values("Authorization"))
				}
				continue
			}
			if policy == "pass" {
				// Forwarded, but never with a token the gateway checked and refused.
				if rec.Code != 200 || after != before+1 || len(got.Values("Authorization")) != 0 {
					t.Errorf("%s: status %d, backend saw %q; want the request passed without it", name, rec.Code, got.Values("Authorization"))
				}
				continue
			}
			if rec.Code != tt.status || after != before {
				t.Errorf("%s: status %d (backend called %v), want %d", name, rec.Code, after != before, tt.status)
			}
			checkJSONError(t, name, rec.Header(), rec.Body.Bytes(), tt.code)
		}
	}
}

// jwt.verifyStored: JWTs from Redis must verify too, and HS256 client tokens work with a secret.
func TestVerifyStoredAndHMAC(t *testing.T) {
	secret := strings.Repeat("s", 32)
	good, forged := randomID(t), randomID(t)
	goodJWT := hs256(secret, `{"sub":"u1","exp":`+future()+`}`)
	storeSession(t, good, goodJWT)
	storeSession(t, forged, hs256(strings.Repeat("x", 32), `{"sub":"u1","exp":`+future()+`}`))
	h, next := newTestMiddleware(t, func(c *Config) {
		c.Unauthenticated = "reject"
		c.JWT.HMACSecret = secret
		c.JWT.VerifyStored = true
	})
	captureLog(t)
	runPolicyCases(t, h, next, []policyCase{
		{name: "stored JWT that verifies", target: "/api", session: good, status: 200, backend: "Bearer " + goodJWT},
		{name: "stored JWT that does not", target: "/api", session: forged, status: 401, backend: "-"},
	})
	req := requestWithCookie("", "")
	req.Header.Set("Authorization", "Bearer "+goodJWT)
	if rec := serve(h, req); rec.Code != 200 {
		t.Errorf("HS256 client token: status %d", rec.Code)
	}
}

// Middlewares share a cache by Redis and cache settings; one that verifies stored JWTs never trusts an
// entry that another one, which does not, put there: it uses a cache of its own.
func TestVerifyStoredWithASharedCache(t *testing.T) {
	secret := strings.Repeat("s", 32)
	forged := randomID(t)
	storeSession(t, forged, hs256(strings.Repeat("x", 32), `{"sub":"u1","exp":`+future()+`}`))
	trusting, _ := newTestMiddleware(t, func(c *Config) { c.CacheTTL = "1m" })
	verifying, next := newTestMiddleware(t, func(c *Config) {
		c.CacheTTL = "1m"
		c.Unauthenticated = "reject"
		c.JWT.HMACSecret = secret
		c.JWT.VerifyStored = true
	})
	if mt, mv := trusting.(*SessionJWT), verifying.(*SessionJWT); mt.cache == mv.cache {
		t.Error("a middleware that verifies stored JWTs shares a cache with one that does not")
	}
	captureLog(t)
	if rec := serve(trusting, requestWithCookie("session_uuid", signedCookie(t, trusting, forged))); rec.Code != 200 {
		t.Fatalf("the trusting middleware: status %d", rec.Code)
	}
	runPolicyCases(t, verifying, next, []policyCase{
		{name: "cached by the other middleware, forged", target: "/api", session: forged, status: 401, backend: "-"},
	})
}

// Opaque tokens use the session cache too.
func TestOpaqueTokenCached(t *testing.T) {
	token := "tok-" + randomID(t)
	storeSession(t, "access:"+token, testJWT)
	h, _ := newTestMiddleware(t, func(c *Config) {
		c.Unauthenticated = "reject"
		c.BearerKeyPrefix = "access:"
		c.CacheTTL = "1m"
	})
	call := func() int {
		req := requestWithCookie("", "")
		req.Header.Set("Authorization", "Bearer "+token)
		return serve(h, req).Code
	}
	if call() != 200 {
		t.Fatal("first request refused")
	}
	dialAdmin(t, "tcp", testEnv(t, "SESSIONJWT_TEST_REDIS")).do("DEL", "access:"+token)
	if got := call(); got != 200 {
		t.Errorf("a cached opaque token: status %d, want 200 from the cache", got)
	}
}

// New fetches nothing. Once a request has fetched a JWKS URL, the janitor refetches it every jwksRefresh
// without requests, until no request has asked for it in jwksKeptFor intervals: then it drops it. No
// goroutine per New: Traefik v2 never cancels New's ctx.
func TestJWKSRefreshedWhileInUse(t *testing.T) {
	signer := newEdSigner(t, "k")
	j := newJWKSServer(t, `{"keys":[`+signer.jwk()+`]}`)
	h, _ := newTestMiddleware(t, func(c *Config) {
		c.Unauthenticated = "reject"
		c.JWT.JWKSURLs = []string{j.url}
		c.JWT.JWKSRefresh = "100ms"
		c.JWT.JWKSMinInterval = "50ms"
	})
	time.Sleep(2 * sweepInterval)
	if got := j.fetches.Load(); got != 0 {
		t.Fatalf("New fetched the JWKS %d times", got)
	}
	req := requestWithCookie("", "")
	req.Header.Set("Authorization", "Bearer "+signer.sign(`{"exp":`+future()+`}`))
	if rec := serve(h, req); rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	waitFor(t, 5*time.Second, "two refreshes without requests", func() bool { return j.fetches.Load() >= 3 })
	waitFor(t, 10*time.Second, "the unused URL to be dropped", func() bool {
		jwksMu.Lock()
		defer jwksMu.Unlock()
		return jwksCaches[j.url] == nil
	})
	time.Sleep(sweepInterval) // a fetch started just before may still land
	stopped := j.fetches.Load()
	time.Sleep(3 * sweepInterval)
	if got := j.fetches.Load(); got != stopped {
		t.Errorf("%d fetches of a dropped URL, want none", got-stopped)
	}
}
