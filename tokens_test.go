package sessionjwt

import (
	"encoding/base64"
	"strings"
	"testing"
)

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

// Opaque bearer tokens: looked up under bearerKeyPrefix, checked in flask-stateless-auth's order.
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

// Opaque tokens use the session cache too (invalidation_test.go: and its invalidation).
func TestOpaqueTokenCached(t *testing.T) {
	token := "tok-" + randomID(t)
	storeSession(t, "access:"+token, testJWT)
	h, _ := newTestMiddleware(t, func(c *Config) {
		c.Unauthenticated = "reject"
		c.BearerKeyPrefix = "access:"
		c.CacheTTL = "1m"
		c.CacheInvalidation = invalidationTTL // served from the cache even once the key is gone
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
