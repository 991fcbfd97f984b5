package sessionjwt

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestRequirements(t *testing.T) {
	tests := []struct {
		name    string
		cfg     func(c *Config)
		payload string
		want    string // "" when allowed, else what the denial names
	}{
		{"scopes as comma string (apijwt2)", func(c *Config) { c.RequiredScopes = []string{"support:mobile"} }, `{"scopes":"support:mobile,user:all"}`, ""},
		{"scopes as space string (OAuth)", func(c *Config) { c.RequiredScopes = []string{"user:all", "support:mobile"} }, `{"scope":"support:mobile user:all"}`, ""},
		{"scopes as array", func(c *Config) { c.RequiredScopes = []string{"support:mobile"} }, `{"scopes":["user:all","support:mobile"]}`, ""},
		{"scopes with both separators", func(c *Config) { c.RequiredScopes = []string{"b"} }, `{"scopes":"a, b ,c"}`, ""},
		{"scope missing", func(c *Config) { c.RequiredScopes = []string{"support:mobile", "admin", "user:all"} }, `{"scopes":"user:all"}`, "scopes support:mobile admin"},
		{"scope prefix is not the scope", func(c *Config) { c.RequiredScopes = []string{"support"} }, `{"scopes":"support:mobile"}`, "scopes support"},
		{"no scopes claim", func(c *Config) { c.RequiredScopes = []string{"a"} }, `{"sub":"u1"}`, "scopes a"},
		{"scopes claim an object", func(c *Config) { c.RequiredScopes = []string{"a"} }, `{"scopes":{"a":true}}`, "scopes a"},
		{"level number", func(c *Config) { c.MinimumLevel = "3" }, `{"level":3}`, ""},
		{"level string", func(c *Config) { c.MinimumLevel = "3" }, `{"level":"3.1"}`, ""},
		{"level fraction", func(c *Config) { c.MinimumLevel = "3.1" }, `{"level":3.1}`, ""},
		{"level fraction as string", func(c *Config) { c.MinimumLevel = "3.1" }, `{"level":"3.1"}`, ""},
		{"level too low", func(c *Config) { c.MinimumLevel = "3" }, `{"level":2}`, "level"},
		{"level string too low", func(c *Config) { c.MinimumLevel = "3.5" }, `{"level":"3.1"}`, "level"},
		{"level missing", func(c *Config) { c.MinimumLevel = "0" }, `{"sub":"u1"}`, "level"},
		{"level garbage", func(c *Config) { c.MinimumLevel = "1" }, `{"level":"high"}`, "level"},
		{"level NaN", func(c *Config) { c.MinimumLevel = "1" }, `{"level":"NaN"}`, "level"},
		{"level bool", func(c *Config) { c.MinimumLevel = "1" }, `{"level":true}`, "level"},
		{"claim string", func(c *Config) { c.RequiredClaims = map[string][]string{"key": {"support", "admin"}} }, `{"key":"admin"}`, ""},
		{"claim in array", func(c *Config) { c.RequiredClaims = map[string][]string{"roles": {"admin"}} }, `{"roles":["user","admin"]}`, ""},
		{"claim number", func(c *Config) { c.RequiredClaims = map[string][]string{"tenant": {"42"}} }, `{"tenant":42}`, ""},
		{"claim bool", func(c *Config) { c.RequiredClaims = map[string][]string{"dnt": {"false"}} }, `{"dnt":false}`, ""},
		{"claim wrong", func(c *Config) { c.RequiredClaims = map[string][]string{"key": {"admin"}} }, `{"key":"user"}`, "claim key"},
		{"claim missing", func(c *Config) { c.RequiredClaims = map[string][]string{"key": {"admin"}} }, `{"sub":"admin"}`, "claim key"},
		{"claim case matters", func(c *Config) { c.RequiredClaims = map[string][]string{"key": {"admin"}} }, `{"key":"Admin"}`, "claim key"},
		{"claim object", func(c *Config) { c.RequiredClaims = map[string][]string{"key": {"admin"}} }, `{"key":{"admin":1}}`, "claim key"},
		{"everything", func(c *Config) {
			c.RequiredScopes = []string{"support:mobile"}
			c.MinimumLevel = "3"
			c.RequiredClaims = map[string][]string{"key": {"support"}}
		}, `{"scopes":"support:mobile","level":"3.5","key":"support"}`, ""},
	}
	for _, tt := range tests {
		cfg := CreateConfig()
		tt.cfg(cfg)
		r, err := newRequirements(cfg)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got := ""
		if d := r.check(decodedClaims(t, tt.payload)); d != nil {
			switch {
			case len(d.missingScopes) > 0:
				got = "scopes " + strings.Join(d.missingScopes, " ")
			case d.level:
				got = "level"
			default:
				got = "claim " + d.claim
			}
		}
		if got != tt.want {
			t.Errorf("%s: denial %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestSetClaimHeaders(t *testing.T) {
	mapped := []claimHeader{
		{"sub", "X-User-Id"}, {"scopes", "X-User-Scopes"}, {"roles", "X-User-Roles"}, {"level", "X-User-Level"},
		{"id", "X-Numeric-Id"}, {"name", "X-User-Name"}, {"evil", "X-Evil"}, {"obj", "X-Obj"}, {"absent", "X-Absent"},
	}
	claims := decodedClaims(t, `{"sub":"u-1","scopes":"a,b","roles":["x","y"],"level":3.1,"id":12345678901234567890,`+
		`"name":"José","evil":"a\r\nX-Injected: 1","obj":{"a":1}}`)
	h := http.Header{}
	setClaimHeaders(h, mapped, claims)
	want := map[string]string{
		"X-User-Id": "u-1", "X-User-Scopes": "a,b", "X-User-Roles": "x,y", "X-User-Level": "3.1",
		"X-Numeric-Id": "12345678901234567890", "X-User-Name": "José",
	}
	for k, v := range want {
		if got := h.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want [%q]", k, got, v)
		}
	}
	if len(h) != len(want) {
		t.Errorf("headers %v, want exactly %v", h, want)
	}
}

func TestRequirementsAnswer403(t *testing.T) {
	strong, weak, noScope := randomID(t), randomID(t), randomID(t)
	storeSession(t, strong, makeJWT(`{"sub":"u1","scopes":"support:mobile,user:all","level":"3.1"}`))
	storeSession(t, weak, makeJWT(`{"sub":"u2","scopes":"support:mobile","level":2}`))
	storeSession(t, noScope, makeJWT(`{"sub":"u3","level":4}`))
	h, next := newTestMiddleware(t, func(c *Config) {
		c.Unauthenticated = "login"
		c.LoginURL = "/login"
		c.PublicPaths = []string{"/health"}
		c.RequiredScopes = []string{"support:mobile", "user:all"}
		c.MinimumLevel = "3"
	})
	nav := map[string]string{"Sec-Fetch-Mode": "navigate"}
	runPolicyCases(t, h, next, []policyCase{
		{name: "allowed", target: "/api", session: strong, status: 200, backend: "Bearer " + makeJWT(`{"sub":"u1","scopes":"support:mobile,user:all","level":"3.1"}`)},
		{name: "scope missing, navigation: 403, never a redirect", target: "/api", session: weak, headers: nav, status: 403, backend: "-"},
		{name: "level too low", target: "/api", session: noScope, status: 403, backend: "-"},
		{name: "public path forwards anyway", target: "/health", session: weak, status: 200, backend: "Bearer " + makeJWT(`{"sub":"u2","scopes":"support:mobile","level":2}`)},
	})

	tests := []struct {
		session   string
		body      map[string]interface{}
		challenge string
	}{
		{weak, map[string]interface{}{"error": "insufficient_scope", "missing_scopes": []interface{}{"user:all"}},
			`Bearer realm="sessionjwt", error="insufficient_scope", scope="support:mobile user:all"`},
		{noScope, map[string]interface{}{"error": "insufficient_scope", "missing_scopes": []interface{}{"support:mobile", "user:all"}},
			`Bearer realm="sessionjwt", error="insufficient_scope", scope="support:mobile user:all"`},
	}
	for _, tt := range tests {
		req := requestTo(t, http.MethodGet, "/api")
		req.AddCookie(&http.Cookie{Name: "session_uuid", Value: signedCookie(t, h, tt.session)})
		rec := serve(h, req)
		var body map[string]interface{}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || !reflect.DeepEqual(body, tt.body) {
			t.Errorf("403 body %q, want %v", rec.Body.String(), tt.body)
		}
		if got := rec.Header().Get("WWW-Authenticate"); got != tt.challenge {
			t.Errorf("WWW-Authenticate %q, want %q", got, tt.challenge)
		}
		if strings.Contains(rec.Body.String(), "u2") || strings.Contains(rec.Body.String(), "u3") {
			t.Errorf("the 403 body reveals the token's claims: %q", rec.Body.String())
		}
	}

	// Level and claim denials name the requirement.
	h2, _ := newTestMiddleware(t, func(c *Config) {
		c.MinimumLevel = "3"
		c.RequiredClaims = map[string][]string{"key": {"admin"}}
	})
	for session, want := range map[string]string{weak: `{"error":"insufficient_level","minimum_level":3}`, strong: `{"claim":"key","error":"claim_not_allowed"}`} {
		req := requestTo(t, http.MethodGet, "/api")
		req.AddCookie(&http.Cookie{Name: "session_uuid", Value: signedCookie(t, h2, session)})
		rec := serve(h2, req)
		if rec.Code != 403 || strings.TrimSpace(rec.Body.String()) != want {
			t.Errorf("status %d body %q, want 403 %s", rec.Code, rec.Body.String(), want)
		}
	}
}

func TestClaimHeaders(t *testing.T) {
	id := randomID(t)
	storeSession(t, id, makeJWT(`{"sub":"user-7","scopes":["a","b"],"email":"u7@example.test"}`))
	spoof := map[string]string{"X-User-Id": "admin", "X-User-Scopes": "everything", "x-user-email": "ceo@example.test"}
	for _, policy := range []string{"pass", "strip"} {
		h, next := newTestMiddleware(t, func(c *Config) {
			c.Unauthenticated = policy
			c.PublicPaths = []string{"/health"}
			c.ClaimHeaders = map[string]string{"sub": "X-User-Id", "scopes": "x-user-scopes", "email": "X-User-Email", "absent": "X-Absent"}
		})
		tests := []struct {
			name    string
			target  string
			session string
			want    map[string]string
		}{
			{"authenticated", "/api", id, map[string]string{"X-User-Id": "user-7", "X-User-Scopes": "a,b", "X-User-Email": "u7@example.test"}},
			{"unauthenticated", "/api", "", map[string]string{}},
			{"unknown session", "/api", randomID(t), map[string]string{}},
			{"public path", "/health", "", map[string]string{}},
		}
		for _, tt := range tests {
			req := requestTo(t, http.MethodGet, tt.target)
			if tt.session != "" {
				req.AddCookie(&http.Cookie{Name: "session_uuid", Value: signedCookie(t, h, tt.session)})
			}
			for k, v := range spoof {
				// Twice, as a client repeating the header would; Go's server canonicalizes the name.
				req.Header.Add(k, v)
				req.Header.Add(k, v+"-again")
			}
			req.Header.Set("X-Absent", "spoofed")
			serve(h, req)
			_, got := next.seen()
			for _, hdr := range []string{"X-User-Id", "X-User-Scopes", "X-User-Email", "X-Absent"} {
				want := []string(nil)
				if v, ok := tt.want[hdr]; ok {
					want = []string{v}
				}
				if v := got.Values(hdr); !reflect.DeepEqual(v, want) {
					t.Errorf("%s/%s: backend saw %s %q, want %q", policy, tt.name, hdr, v, want)
				}
			}
		}
	}
}
