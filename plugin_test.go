package sessionjwt

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const testJWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJl"

// storeSession puts jwt in the plain test Redis under key and returns a function removing it.
func storeSession(t *testing.T, key, jwt string) {
	t.Helper()
	admin := dialAdmin(t, "tcp", testEnv(t, "SESSIONJWT_TEST_REDIS"))
	admin.do("SET", key, jwt, "EX", "300")
}

func TestSwapsSessionForJWT(t *testing.T) {
	h, next := newTestMiddleware(t, nil)
	id := randomID(t)
	storeSession(t, id, testJWT)

	req := requestWithCookie("session_uuid", signedCookie(t, h, id))
	// A client's own copies, in every spelling, must not survive.
	req.Header.Add("Authorization", "Bearer forged-1")
	req.Header.Add("authorization", "Bearer forged-2")
	rec := serve(h, req)
	calls, got := next.seen()
	if rec.Code != http.StatusOK || calls != 1 {
		t.Fatalf("status %d, backend calls %d", rec.Code, calls)
	}
	if v := got.Values("Authorization"); len(v) != 1 || v[0] != "Bearer "+testJWT {
		t.Fatalf("backend saw Authorization %q, want exactly [Bearer <jwt>]", v)
	}
}

// The cookie as the seed's auth service writes it: itsdangerous Signer(secret, digest_method=sha256).
func TestAcceptsCookieSignedByItsdangerous(t *testing.T) {
	var seed fixture
	for _, f := range loadFixtures(t) {
		if f.Name == "seed/valid" {
			seed = f
		}
	}
	h, next := newTestMiddleware(t, func(c *Config) { c.SecretKey = seed.Secrets[0] })
	storeSession(t, seed.Value, testJWT)
	serve(h, requestWithCookie("session_uuid", seed.Signed))
	if _, got := next.seen(); got.Get("Authorization") != "Bearer "+testJWT {
		t.Fatalf("backend saw Authorization %q", got.Get("Authorization"))
	}
}

func TestHeaderNameTypePrefixAndRotation(t *testing.T) {
	tests := []struct {
		name       string
		edit       func(*Config)
		header     string
		wantHeader string
	}{
		{"custom header and type", func(c *Config) { c.HeaderName = "x-jwt"; c.HeaderType = "JWT" }, "X-Jwt", "JWT " + testJWT},
		{"no type", func(c *Config) { c.HeaderType = "" }, "Authorization", testJWT},
		{"key prefix", func(c *Config) { c.RedisKeyPrefix = "session:" }, "Authorization", "Bearer " + testJWT},
		{"rotation", func(c *Config) { c.SecretKey = ""; c.SecretKeys = []string{"older", testSecret} }, "Authorization", "Bearer " + testJWT},
	}
	for _, tt := range tests {
		h, next := newTestMiddleware(t, tt.edit)
		id := randomID(t)
		mw := h.(*SessionJWT)
		storeSession(t, mw.keyPrefix+id, testJWT)
		req := requestWithCookie("session_uuid", signedCookie(t, h, id))
		req.Header.Set(tt.header, "forged")
		serve(h, req)
		if _, got := next.seen(); strings.Join(got.Values(tt.header), "|") != tt.wantHeader {
			t.Errorf("%s: backend saw %s %q, want %q", tt.name, tt.header, got.Values(tt.header), tt.wantHeader)
		}
	}
}

func TestMaxAge(t *testing.T) {
	h, next := newTestMiddleware(t, func(c *Config) { c.MaxAge = "1h" })
	id := randomID(t)
	storeSession(t, id, testJWT)
	mw := h.(*SessionJWT)
	s := mw.signer
	tests := []struct {
		name string
		age  time.Duration
		want string
	}{
		{"fresh", time.Minute, "Bearer " + testJWT},
		{"expired", 2 * time.Hour, ""},
		{"future beyond skew", -time.Minute, ""},
	}
	for _, tt := range tests {
		cookie := signForTest(s, id, time.Now().Add(-tt.age).Unix())
		serve(h, requestWithCookie("session_uuid", cookie))
		if _, got := next.seen(); got.Get("Authorization") != tt.want {
			t.Errorf("%s: backend saw Authorization %q, want %q", tt.name, got.Get("Authorization"), tt.want)
		}
	}
}

// Every way a request can fail to authenticate, under every unauthenticated policy.
func TestUnauthenticatedPolicies(t *testing.T) {
	known, badValue, unknown := randomID(t), randomID(t), randomID(t)
	storeSession(t, known, testJWT)
	storeSession(t, badValue, testJWT+"\r\nX-Injected: 1")

	other, _ := newSigner([]string{"other"}, "itsdangerous.Signer", "django-concat", "sha256", ".", 0)
	// cookieFor returns the cookie a request of the named kind carries, "" for none.
	cookieFor := func(kind string, h http.Handler) string {
		switch kind {
		case "tampered":
			return signedCookie(t, h, known) + "x"
		case "wrong key":
			return signForTest(other, known, 0)
		case "unsigned":
			return known
		case "unknown session":
			return signedCookie(t, h, unknown)
		case "CR/LF in stored value":
			return signedCookie(t, h, badValue)
		}
		return ""
	}
	requests := []string{"no cookie", "tampered", "wrong key", "unsigned", "unknown session", "CR/LF in stored value"}
	policies := []struct {
		policy     string
		status     int
		backendGet string // Authorization the backend sees, "-" when it is not called
	}{
		{"pass", http.StatusOK, "Bearer client-token"},
		{"strip", http.StatusOK, ""},
		{"reject", http.StatusUnauthorized, "-"},
		{"login", http.StatusUnauthorized, "-"}, // none of these requests is a browser navigation
	}
	buf := captureLog(t)
	for _, p := range policies {
		for _, r := range requests {
			h, next := newTestMiddleware(t, func(c *Config) {
				c.Unauthenticated = p.policy
				if p.policy == "login" {
					c.LoginURL = "/login"
				}
			})
			req := requestWithCookie("", "")
			if cookie := cookieFor(r, h); cookie != "" {
				req.AddCookie(&http.Cookie{Name: "session_uuid", Value: cookie})
			}
			req.Header.Set("Authorization", "Bearer client-token")
			rec := serve(h, req)
			calls, got := next.seen()
			name := p.policy + "/" + r
			if rec.Code != p.status {
				t.Errorf("%s: status %d, want %d", name, rec.Code, p.status)
			}
			if p.backendGet == "-" {
				if calls != 0 {
					t.Errorf("%s: the backend was called", name)
				}
				checkJSONError(t, name, rec.Header(), rec.Body.Bytes(), "unauthenticated")
				if rec.Header().Get("WWW-Authenticate") == "" {
					t.Errorf("%s: 401 without WWW-Authenticate", name)
				}
				continue
			}
			if calls != 1 || got.Get("Authorization") != p.backendGet {
				t.Errorf("%s: backend calls %d, Authorization %q; want 1, %q", name, calls, got.Get("Authorization"), p.backendGet)
			}
			if got.Get("X-Injected") != "" {
				t.Errorf("%s: a stored CR/LF injected a header", name)
			}
		}
	}
	if !strings.Contains(buf.String(), "not a single line of printable ASCII") {
		t.Errorf("a bad stored value was not logged; log:\n%s", buf.String())
	}
	if strings.Contains(buf.String(), badValue) || strings.Contains(buf.String(), testJWT) {
		t.Errorf("the log reveals a session id or token:\n%s", buf.String())
	}
}

func checkJSONError(t *testing.T, name string, h http.Header, body []byte, want string) {
	t.Helper()
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", name, ct)
	}
	var v map[string]string
	if err := json.Unmarshal(body, &v); err != nil || v["error"] != want || len(v) != 1 {
		t.Errorf("%s: body %q, want {\"error\": %q}", name, body, want)
	}
}

func TestHeaderSafe(t *testing.T) {
	tests := []struct {
		v    string
		want bool
	}{
		{testJWT, true},
		{"a b", true},
		{"", false},
		{"a\r\nb", false},
		{"a\nb", false},
		{"tab\there", false},
		{"nul\x00", false},
		{"del\x7f", false},
		{"é", false},
		{"\xff", false},
		{strings.Repeat("x", 100) + "\x01", false},
		{"~ !", true},
		{"a\x80", false},
	}
	for _, tt := range tests {
		if got := headerSafe(tt.v); got != tt.want {
			t.Errorf("headerSafe(%q) = %v, want %v", tt.v, got, tt.want)
		}
	}
}

func TestRedisFailurePolicies(t *testing.T) {
	// A port nothing listens on: every lookup fails at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close()

	tests := []struct {
		redisFailure, unauthenticated string
		status                        int
		backend                       string
	}{
		{"reject", "pass", http.StatusServiceUnavailable, "-"},
		{"pass", "pass", http.StatusOK, "Bearer client-token"},
		{"pass", "strip", http.StatusOK, ""},
		{"pass", "reject", http.StatusUnauthorized, "-"},
	}
	captureLog(t)
	for _, tt := range tests {
		name := tt.redisFailure + "/" + tt.unauthenticated
		h, next := newTestMiddleware(t, func(c *Config) {
			c.RedisURL = "redis://" + deadAddr
			c.RedisFailure = tt.redisFailure
			c.Unauthenticated = tt.unauthenticated
		})
		req := requestWithCookie("session_uuid", signedCookie(t, h, randomID(t)))
		req.Header.Set("Authorization", "Bearer client-token")
		rec := serve(h, req)
		calls, got := next.seen()
		if rec.Code != tt.status {
			t.Errorf("%s: status %d, want %d", name, rec.Code, tt.status)
		}
		if tt.backend == "-" {
			if calls != 0 {
				t.Errorf("%s: backend called", name)
			}
			continue
		}
		if calls != 1 || got.Get("Authorization") != tt.backend {
			t.Errorf("%s: backend calls %d with Authorization %q, want %q", name, calls, got.Get("Authorization"), tt.backend)
		}
	}
	h, _ := newTestMiddleware(t, func(c *Config) { c.RedisURL = "redis://" + deadAddr })
	rec := serve(h, requestWithCookie("session_uuid", signedCookie(t, h, randomID(t))))
	checkJSONError(t, "503", rec.Header(), rec.Body.Bytes(), "session store unavailable")
}

// Traefik calls New per router and on every reload: all those instances must share one pool.
func TestManyNewCallsShareOnePool(t *testing.T) {
	addr := testEnv(t, "SESSIONJWT_TEST_REDIS")
	admin := dialAdmin(t, "tcp", addr)
	const db, size = 6, 4
	id := randomID(t)
	admin.do("SELECT", strconv.Itoa(db))
	admin.do("SET", id, testJWT, "EX", "60")

	var handlers []http.Handler
	for i := 0; i < 50; i++ {
		h, _ := newTestMiddleware(t, func(c *Config) {
			c.RedisURL = "redis://" + addr + "/" + strconv.Itoa(db)
			c.RedisPoolSize = size
		})
		handlers = append(handlers, h)
	}
	cookie := signedCookie(t, handlers[0], id)
	var failures atomic.Int64
	concurrently(200, func(i int) {
		rec := serve(handlers[i%len(handlers)], requestWithCookie("session_uuid", cookie))
		if rec.Code != http.StatusOK {
			failures.Add(1)
		}
	})
	if failures.Load() != 0 {
		t.Fatalf("%d requests failed", failures.Load())
	}
	if n := admin.clientsNamed(db); n < 1 || n > size {
		t.Fatalf("50 middlewares opened %d connections, want 1..%d", n, size)
	}
}

// Reloads that change Redis settings leave no connections behind: changing only redisTimeout reuses the
// pool, and a pool of replaced settings (here the pool size) closes its connections once idle for
// redisIdleTimeout and is retired; the live pool keeps what its traffic needs.
func TestReloadsLeaveNoConnections(t *testing.T) {
	addr := testEnv(t, "SESSIONJWT_TEST_REDIS")
	admin := dialAdmin(t, "tcp", addr)
	const db = 8
	id := randomID(t)
	admin.do("SELECT", strconv.Itoa(db))
	admin.do("SET", id, testJWT, "EX", "60")
	reload := func(timeout string, size int) http.Handler {
		h, _ := newTestMiddleware(t, func(c *Config) {
			c.RedisURL = "redis://" + addr + "/" + strconv.Itoa(db)
			c.RedisTimeout = timeout
			c.RedisPoolSize = size
			c.RedisIdleTimeout = "300ms"
		})
		cookie := signedCookie(t, h, id)
		concurrently(8, func(i int) { serve(h, requestWithCookie("session_uuid", cookie)) })
		return h
	}
	for i := 0; i < 6; i++ {
		reload(strconv.Itoa(300+i)+"ms", 4)
	}
	if n := admin.clientsNamed(db); n < 1 || n > 4 {
		t.Fatalf("6 reloads changing redisTimeout left %d connections, want 1..4 (one pool)", n)
	}
	var live http.Handler
	for _, size := range []int{3, 2, 3, 1} { // the last 3 reuses the first 3's pool
		live = reload("300ms", size)
	}
	cookie := signedCookie(t, live, id)
	liveMiddleware := live.(*SessionJWT)
	pool := liveMiddleware.store
	replaced := func() int {
		poolsMu.Lock()
		defer poolsMu.Unlock()
		n := 0
		for _, p := range livePools {
			if p != pool && p.opts.address == addr && p.opts.db == db {
				n++
			}
		}
		return n
	}
	waitFor(t, 10*time.Second, "the replaced pools' connections to close and the pools to retire", func() bool {
		serve(live, requestWithCookie("session_uuid", cookie)) // the live configuration's traffic
		return admin.clientsNamed(db) == 1 && replaced() == 0
	})
	poolsMu.Lock()
	retired := pool.retired
	poolsMu.Unlock()
	if retired {
		t.Fatal("the live pool was retired")
	}

	// A middleware idle for long enough sees its pool retired; when traffic comes back, the pool is back
	// on the janitor's list (its connections are swept again) and in pools for the next New.
	waitFor(t, 10*time.Second, "the idle live pool to retire", func() bool {
		poolsMu.Lock()
		defer poolsMu.Unlock()
		return pool.retired
	})
	if rec := serve(live, requestWithCookie("session_uuid", cookie)); rec.Code != http.StatusOK {
		t.Fatalf("after its pool retired: status %d", rec.Code)
	}
	poolsMu.Lock()
	back := !pool.retired && pools[pool.key] == pool
	poolsMu.Unlock()
	if !back {
		t.Error("a retired pool in use again was not adopted back")
	}
	waitFor(t, 10*time.Second, "its connection to close again once idle", func() bool { return admin.clientsNamed(db) == 0 })
}

// New validates every key and names it; it never dials.
func TestNewRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	emptyFile := filepath.Join(dir, "empty")
	os.WriteFile(emptyFile, []byte("\n"), 0o600)
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"no secret", func(c *Config) { c.SecretKey = "" }, "one of secretKey, secretKeys, secretKeyFile is required"},
		{"two secrets", func(c *Config) { c.SecretKeys = []string{"a"} }, "set only one of"},
		{"empty rotated secret", func(c *Config) { c.SecretKey = ""; c.SecretKeys = []string{"a", ""} }, "secretKeys[1] is empty"},
		{"missing secret file", func(c *Config) { c.SecretKey = ""; c.SecretKeyFile = filepath.Join(dir, "nope") }, "secretKeyFile"},
		{"empty secret file", func(c *Config) { c.SecretKey = ""; c.SecretKeyFile = emptyFile }, "secretKeyFile"},
		{"cookie name", func(c *Config) { c.CookieName = "a b" }, "cookieName"},
		{"empty cookie name", func(c *Config) { c.CookieName = "" }, "cookieName"},
		{"algorithm", func(c *Config) { c.SignatureAlgorithm = "md5" }, `signatureAlgorithm "md5" is not one of sha1, sha224, sha256, sha384, sha512`},
		{"derivation", func(c *Config) { c.KeyDerivation = "pbkdf2" }, "keyDerivation"},
		{"separator", func(c *Config) { c.Separator = "x" }, "separator"},
		{"maxAge", func(c *Config) { c.MaxAge = "1 day" }, "maxAge"},
		{"maxAge negative", func(c *Config) { c.MaxAge = "-1h" }, "maxAge"},
		{"redis scheme", func(c *Config) { c.RedisURL = "http://localhost" }, "redisURL scheme"},
		{"redis url", func(c *Config) { c.RedisURL = "redis://:pw@host:port" }, "redisURL"},
		{"redis db", func(c *Config) { c.RedisURL = "redis://localhost/x" }, "redisURL database"},
		{"redis query", func(c *Config) { c.RedisURL = "redis://localhost/0?password=x" }, "redisURL"},
		{"unix query", func(c *Config) { c.RedisURL = "unix:///tmp/r.sock?pw=x" }, "redisURL"},
		{"unix no path", func(c *Config) { c.RedisURL = "unix://host" }, "redisURL"},
		{"password file", func(c *Config) { c.RedisPasswordFile = filepath.Join(dir, "nope") }, "redisPasswordFile"},
		{"CA file", func(c *Config) { c.RedisCAFile = filepath.Join(dir, "nope") }, "redisCAFile"},
		{"CA without TLS", func(c *Config) { c.RedisCAFile = emptyFile }, "redisCAFile"},
		{"timeout", func(c *Config) { c.RedisTimeout = "500" }, "redisTimeout"},
		{"zero timeout", func(c *Config) { c.RedisTimeout = "0s" }, "redisTimeout"},
		{"pool size", func(c *Config) { c.RedisPoolSize = 0 }, "redisPoolSize"},
		{"header name", func(c *Config) { c.HeaderName = "X Bad" }, "headerName"},
		{"header type", func(c *Config) { c.HeaderType = "Bearer\r\nX: y" }, "headerType"},
		{"unauthenticated", func(c *Config) { c.Unauthenticated = "deny" }, `unauthenticated "deny" is not one of pass, strip, reject, login`},
		{"login without URL", func(c *Config) { c.Unauthenticated = "login" }, "loginURL is required"},
		{"login URL scheme", func(c *Config) { c.Unauthenticated = "login"; c.LoginURL = "javascript:alert(1)" }, "loginURL"},
		{"login URL host only", func(c *Config) { c.Unauthenticated = "login"; c.LoginURL = "//evil.example/login" }, "loginURL"},
		{"login URL backslash", func(c *Config) { c.Unauthenticated = "login"; c.LoginURL = "/\\evil.example" }, "loginURL"},
		{"login URL relative", func(c *Config) { c.Unauthenticated = "login"; c.LoginURL = "login" }, "loginURL"},
		{"login URL unused", func(c *Config) { c.LoginURL = "/login" }, "loginURL is set but unauthenticated"},
		{"login param", func(c *Config) { c.Unauthenticated = "login"; c.LoginURL = "/login"; c.LoginParam = "a b" }, "loginParam"},
		{"realm quote", func(c *Config) { c.Realm = `a"b` }, "realm"},
		{"realm empty", func(c *Config) { c.Realm = "" }, "realm"},
		{"public path relative", func(c *Config) { c.PublicPaths = []string{"/ok", "health"} }, `publicPaths[1] "health"`},
		{"public path dots", func(c *Config) { c.PublicPaths = []string{"/static/../admin"} }, "publicPaths[0]"},
		{"public path star inside", func(c *Config) { c.PublicPaths = []string{"/static/*.css"} }, "publicPaths[0]"},
		{"public path query", func(c *Config) { c.PublicPaths = []string{"/health?x"} }, "publicPaths[0]"},
		{"scope with comma", func(c *Config) { c.RequiredScopes = []string{"a,b"} }, "requiredScopes[0]"},
		{"empty scope", func(c *Config) { c.RequiredScopes = []string{""} }, "requiredScopes[0]"},
		{"level", func(c *Config) { c.MinimumLevel = "high" }, `minimumLevel "high"`},
		{"required claim no values", func(c *Config) { c.RequiredClaims = map[string][]string{"role": {}} }, `requiredClaims "role"`},
		{"claim header name", func(c *Config) { c.ClaimHeaders = map[string]string{"sub": "X User"} }, `claimHeaders "sub"`},
		{"claim header is the JWT header", func(c *Config) { c.ClaimHeaders = map[string]string{"sub": "authorization"} }, `claimHeaders "sub"`},
		{"claim header twice", func(c *Config) { c.ClaimHeaders = map[string]string{"sub": "X-User", "email": "x-user"} }, "both map to header X-User"},
		{"redisFailure", func(c *Config) { c.RedisFailure = "strip" }, `redisFailure "strip" is not one of reject, pass`},
	}
	for _, tt := range tests {
		cfg := CreateConfig()
		cfg.SecretKey = "s3cr3t-value"
		tt.edit(cfg)
		_, err := New(context.Background(), &backend{}, cfg, "bad")
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "sessionjwt: ") {
			t.Errorf("%s: err = %v, want one starting sessionjwt: and containing %q", tt.name, err, tt.wantErr)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t-value") || strings.Contains(err.Error(), "pw@") {
			t.Errorf("%s: the error reveals a secret: %v", tt.name, err)
		}
	}
}

func TestSecretAndPasswordFiles(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	os.WriteFile(secretFile, []byte(testSecret+"\n"), 0o600)
	authAddr := testEnv(t, "SESSIONJWT_TEST_REDIS_AUTH")
	passFile := filepath.Join(dir, "redis-password")
	os.WriteFile(passFile, []byte(testEnv(t, "SESSIONJWT_TEST_REDIS_AUTH_PASSWORD")+"\r\n"), 0o600)

	h, next := newTestMiddleware(t, func(c *Config) {
		c.SecretKey = ""
		c.SecretKeyFile = secretFile
		c.RedisURL = "redis://:overridden@" + authAddr + "/1"
		c.RedisPasswordFile = passFile
	})
	id := randomID(t)
	admin := dialAdmin(t, "tcp", authAddr, testEnv(t, "SESSIONJWT_TEST_REDIS_AUTH_PASSWORD"))
	admin.do("SELECT", "1")
	admin.do("SET", id, testJWT, "EX", "60")
	rec := serve(h, requestWithCookie("session_uuid", signedCookie(t, h, id)))
	if _, got := next.seen(); rec.Code != http.StatusOK || got.Get("Authorization") != "Bearer "+testJWT {
		t.Fatalf("status %d, Authorization %q", rec.Code, got.Get("Authorization"))
	}
}

// Traefik's catalog calls New on .traefik.yml's testData with no network: it must succeed without dialing.
func TestNewWithTestDataDoesNoNetworkIO(t *testing.T) {
	var accepted atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	cfg := CreateConfig()
	applyTestData(t, cfg)
	cfg.RedisURL = "redis://" + ln.Addr().String() + "/0"
	for i := 0; i < 3; i++ {
		if _, err := New(context.Background(), &backend{}, cfg, "catalog"); err != nil {
			t.Fatalf("New on testData: %v", err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if n := accepted.Load(); n != 0 {
		t.Fatalf("New opened %d connections", n)
	}
}

// applyTestData decodes .traefik.yml's flat testData block into cfg, as Traefik would.
func applyTestData(t *testing.T, cfg *Config) {
	t.Helper()
	raw, err := os.ReadFile(".traefik.yml")
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]interface{}{}
	inTestData := false
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "testData:") {
			inTestData = true
			continue
		}
		if !inTestData || strings.TrimSpace(line) == "" {
			continue
		}
		if !strings.HasPrefix(line, "  ") {
			break
		}
		kv := strings.SplitN(strings.TrimSpace(line), ":", 2)
		if len(kv) != 2 {
			t.Fatalf("testData line %q is not key: value", line)
		}
		v := strings.TrimSpace(kv[1])
		if n, err := strconv.Atoi(v); err == nil {
			values[kv[0]] = n
		} else {
			values[kv[0]] = v
		}
	}
	if len(values) == 0 {
		t.Fatal(".traefik.yml has no testData")
	}
	b, _ := json.Marshal(values)
	if err := json.Unmarshal(b, cfg); err != nil {
		t.Fatal(err)
	}
}

// Nothing secret reaches a response or a log line, whatever happens.
func TestNoSecretsInResponsesOrLogs(t *testing.T) {
	buf := captureLog(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	id := randomID(t)
	for _, url := range []string{"redis://user:hunter2@" + dead, "redis://" + testEnv(t, "SESSIONJWT_TEST_REDIS")} {
		for _, policy := range []string{"reject", "pass"} {
			h, _ := newTestMiddleware(t, func(c *Config) { c.RedisURL = url; c.Unauthenticated = policy })
			cookie := signedCookie(t, h, id)
			for _, c := range []string{cookie, cookie + "x"} {
				rec := serve(h, requestWithCookie("session_uuid", c))
				for _, secret := range []string{testSecret, "hunter2", id, c} {
					if strings.Contains(rec.Body.String(), secret) || strings.Contains(buf.String(), secret) {
						t.Fatalf("%q leaked: body %q, log %q", secret, rec.Body.String(), buf.String())
					}
				}
			}
		}
	}
}
