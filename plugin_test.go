package sessionjwt

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

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
		storeSession(t, mw.cookies.keyPrefix+id, testJWT)
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
	s := mw.cookies.signer
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
