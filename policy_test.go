package sessionjwt

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The access-policy rules through New and ServeHTTP, against the real test Redis.

const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

// policyCase is one request and what must come of it.
type policyCase struct {
	name    string
	method  string
	target  string
	session string            // a session id to send a signed cookie for, "" for none
	headers map[string]string // request headers
	status  int
	backend string // Authorization the backend sees; "-" when it must not be called
}

func runPolicyCases(t *testing.T, h http.Handler, next *backend, cases []policyCase) {
	t.Helper()
	for _, tc := range cases {
		method := tc.method
		if method == "" {
			method = http.MethodGet
		}
		req := requestTo(t, method, tc.target)
		if tc.session != "" {
			req.AddCookie(&http.Cookie{Name: "session_uuid", Value: signedCookie(t, h, tc.session)})
		}
		req.Header.Set("Authorization", "Bearer client-token")
		for k, v := range tc.headers {
			req.Header.Set(k, v)
		}
		before, _ := next.seen()
		rec := serve(h, req)
		after, got := next.seen()
		if rec.Code != tc.status {
			t.Errorf("%s: status %d, want %d (body %q)", tc.name, rec.Code, tc.status, rec.Body.String())
		}
		if tc.backend == "-" {
			if after != before {
				t.Errorf("%s: the backend was called", tc.name)
			}
			continue
		}
		if after != before+1 || got.Get("Authorization") != tc.backend {
			t.Errorf("%s: backend calls %d, Authorization %q; want 1, %q", tc.name, after-before, got.Get("Authorization"), tc.backend)
		}
	}
}

func TestPublicPathsAndPreflight(t *testing.T) {
	id := randomID(t)
	storeSession(t, id, testJWT)
	preflight := map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
	for _, policy := range []string{"reject", "login"} {
		h, next := newTestMiddleware(t, func(c *Config) {
			c.Unauthenticated = policy
			c.LoginURL = "/login"
			if policy != "login" {
				c.LoginURL = ""
			}
			c.PublicPaths = []string{"/health", "/static/*"}
		})
		nav := map[string]string{"Sec-Fetch-Mode": "navigate", "Accept": browserAccept}
		protected := http.StatusUnauthorized
		if policy == "login" {
			protected = http.StatusFound
		}
		runPolicyCases(t, h, next, []policyCase{
			{name: policy + ": public, no session", target: "/health", headers: nav, status: 200, backend: ""},
			{name: policy + ": public prefix", target: "/static/app.js?v=1", headers: nav, status: 200, backend: ""},
			{name: policy + ": public, session swapped", target: "/static/app.js", session: id, status: 200, backend: "Bearer " + testJWT},
			{name: policy + ": public, unknown session", target: "/health", session: randomID(t), status: 200, backend: ""},
			{name: policy + ": protected", target: "/admin", headers: nav, status: protected, backend: "-"},
			{name: policy + ": dot-dot out of public", target: "/static/../admin", headers: nav, status: protected, backend: "-"},
			{name: policy + ": encoded", target: "/%68ealth/../admin", headers: nav, status: protected, backend: "-"},
			{name: policy + ": path parameter", target: "/static/..;/admin", headers: nav, status: protected, backend: "-"},
			{name: policy + ": double slash", target: "//admin", headers: nav, status: protected, backend: "-"},
			{name: policy + ": query", target: "/admin?x=/static/", headers: nav, status: protected, backend: "-"},
			{name: policy + ": preflight", method: "OPTIONS", target: "/admin", headers: preflight, status: 200, backend: ""},
			{name: policy + ": OPTIONS without CORS headers", method: "OPTIONS", target: "/admin", status: 401, backend: "-"},
			{name: policy + ": session", target: "/admin", session: id, status: 200, backend: "Bearer " + testJWT},
		})
	}

	// pass keeps the client's header on public paths as everywhere; strip strips it everywhere. A preflight
	// goes on without it under both.
	for _, policy := range []string{"pass", "strip"} {
		h, next := newTestMiddleware(t, func(c *Config) {
			c.Unauthenticated = policy
			c.PublicPaths = []string{"/health"}
		})
		want := "Bearer client-token"
		if policy == "strip" {
			want = ""
		}
		runPolicyCases(t, h, next, []policyCase{
			{name: policy + ": public", target: "/health", status: 200, backend: want},
			{name: policy + ": preflight", method: "OPTIONS", target: "/x", headers: preflight, status: 200, backend: ""},
		})
	}
}

// A CORS preflight never reaches the backend with credentials the gateway vouches for (browsers send
// none): under preflight: anonymous it goes on without a session lookup and stripped of cookie, token
// and every header the gateway sets; under preflight: authenticate it is checked like a GET.
func TestPreflight(t *testing.T) {
	member := randomID(t)
	storeSession(t, member, makeJWT(`{"sub":"user-7","scopes":["read"]}`))
	preflight := map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "GET",
		"X-User-Id": "admin"}
	for _, mode := range []string{"anonymous", "authenticate"} {
		h, next := newTestMiddleware(t, func(c *Config) {
			c.Unauthenticated = "reject"
			c.Preflight = mode
			c.RequiredScopes = []string{"admin"}
			c.ClaimHeaders = map[string]string{"sub": "X-User-Id"}
		})
		cases := []struct {
			name    string
			session string
			status  int // anonymous, authenticate
			status2 int
		}{
			{"no session", "", 200, 401},
			{"a member's session, lacking admin", member, 200, 403},
			{"an unknown session", randomID(t), 200, 401},
		}
		for _, tc := range cases {
			req := requestTo(t, http.MethodOptions, "/admin/users")
			if tc.session != "" {
				req.AddCookie(&http.Cookie{Name: "session_uuid", Value: signedCookie(t, h, tc.session)})
			}
			req.Header.Set("Authorization", "Bearer client-token")
			for k, v := range preflight {
				req.Header.Set(k, v)
			}
			before, _ := next.seen()
			rec := serve(h, req)
			after, got := next.seen()
			name := mode + "/" + tc.name
			want := tc.status
			if mode == "authenticate" {
				want = tc.status2
			}
			if rec.Code != want {
				t.Errorf("%s: status %d, want %d", name, rec.Code, want)
			}
			if want != 200 {
				if after != before {
					t.Errorf("%s: the backend was called", name)
				}
				continue
			}
			if after != before+1 {
				t.Fatalf("%s: the backend was not called", name)
			}
			for _, hdr := range []string{"Authorization", "Cookie", "X-User-Id"} {
				if v := got.Values(hdr); len(v) > 0 {
					t.Errorf("%s: backend saw %s %q", name, hdr, v)
				}
			}
			if got.Get("Access-Control-Request-Method") != "GET" || got.Get("Origin") == "" {
				t.Errorf("%s: the preflight's own headers did not reach the backend", name)
			}
		}
	}
}

// Public paths do not depend on Redis: with Redis down they are forwarded as without a session.
func TestPublicPathsWhenRedisIsDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close()
	captureLog(t)
	h, next := newTestMiddleware(t, func(c *Config) {
		c.RedisURL = "redis://" + deadAddr
		c.Unauthenticated = "reject"
		c.PublicPaths = []string{"/health"}
	})
	runPolicyCases(t, h, next, []policyCase{
		{name: "public", target: "/health", session: randomID(t), status: 200, backend: ""},
		{name: "protected", target: "/admin", session: randomID(t), status: 503, backend: "-"},
	})
}

func TestLoginRedirect(t *testing.T) {
	nav := map[string]string{"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Accept": browserAccept}
	tests := []struct {
		name, loginURL, param, target string
		headers                       map[string]string
		wantLocation                  string // "" for a 401
	}{
		{"navigation", "/login", "", "/app/orders?page=2", nav, "/login?next=%2Fapp%2Forders%3Fpage%3D2"},
		{"old browser", "/login", "", "/app", map[string]string{"Accept": browserAccept}, "/login?next=%2Fapp"},
		{"custom param, absolute URL with query", "https://auth.example/login?app=ui", "return_to", "/app", nav,
			"https://auth.example/login?app=ui&return_to=%2Fapp"},
		{"return path that looks like a host", "/login", "", "//evil.example/x", nav, "/login?next=%2Fevil.example%2Fx"},
		{"fetch", "/login", "", "/api/orders", map[string]string{"Sec-Fetch-Mode": "cors", "Accept": "application/json"}, ""},
		{"API client", "/login", "", "/api/orders", map[string]string{"Accept": "application/json"}, ""},
		{"websocket", "/login", "", "/ws", map[string]string{"Sec-Fetch-Mode": "websocket", "Upgrade": "websocket", "Connection": "Upgrade"}, ""},
		{"form post", "/login", "", "/app", map[string]string{"Sec-Fetch-Mode": "navigate", "X-Method": "POST"}, ""},
	}
	for _, tt := range tests {
		h, next := newTestMiddleware(t, func(c *Config) {
			c.Unauthenticated = "login"
			c.LoginURL = tt.loginURL
			if tt.param != "" {
				c.LoginParam = tt.param
			}
		})
		method := http.MethodGet
		if tt.headers["X-Method"] != "" {
			method = tt.headers["X-Method"]
		}
		req := requestTo(t, method, tt.target)
		for k, v := range tt.headers {
			req.Header.Set(k, v)
		}
		rec := serve(h, req)
		if calls, _ := next.seen(); calls != 0 {
			t.Errorf("%s: backend called", tt.name)
		}
		if tt.wantLocation == "" {
			if rec.Code != http.StatusUnauthorized || rec.Header().Get("Location") != "" {
				t.Errorf("%s: status %d, Location %q; want 401 without Location", tt.name, rec.Code, rec.Header().Get("Location"))
			}
			continue
		}
		if rec.Code != http.StatusFound || rec.Header().Get("Location") != tt.wantLocation {
			t.Errorf("%s: status %d, Location %q; want 302 to %q", tt.name, rec.Code, rec.Header().Get("Location"), tt.wantLocation)
		}
		if rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s: a redirect to login may be cached", tt.name)
		}
	}
}

// A relative login page is reachable without a session, or browsers would loop.
func TestLoginPageItselfIsPublic(t *testing.T) {
	h, next := newTestMiddleware(t, func(c *Config) {
		c.Unauthenticated = "login"
		c.LoginURL = "/auth/login?app=ui"
	})
	runPolicyCases(t, h, next, []policyCase{
		{name: "login page", target: "/auth/login?next=%2Fapp", headers: map[string]string{"Sec-Fetch-Mode": "navigate"}, status: 200, backend: ""},
		{name: "beside it", target: "/auth/other", headers: map[string]string{"Sec-Fetch-Mode": "navigate"}, status: 302, backend: "-"},
	})
}

func TestRealmInChallenge(t *testing.T) {
	h, _ := newTestMiddleware(t, func(c *Config) { c.Unauthenticated = "reject"; c.Realm = "orders api" })
	rec := serve(h, requestTo(t, http.MethodGet, "/orders"))
	if got := rec.Header().Get("WWW-Authenticate"); rec.Code != 401 || got != `Bearer realm="orders api"` {
		t.Errorf("status %d, WWW-Authenticate %q", rec.Code, got)
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

// A stored JWT that has expired, or is not a JWT, does not authenticate.
func TestExpiredOrUndecodableJWTDoesNotAuthenticate(t *testing.T) {
	expired, fresh, opaque := randomID(t), randomID(t), randomID(t)
	storeSession(t, expired, makeJWT(`{"sub":"u1","exp":`+strconv.FormatInt(time.Now().Unix()-5, 10)+`}`))
	freshJWT := makeJWT(`{"sub":"u1","exp":` + strconv.FormatInt(time.Now().Unix()+300, 10) + `}`)
	storeSession(t, fresh, freshJWT)
	storeSession(t, opaque, "opaque-token-not-a-jwt")
	h, next := newTestMiddleware(t, func(c *Config) { c.Unauthenticated = "reject" })
	runPolicyCases(t, h, next, []policyCase{
		{name: "expired", target: "/api", session: expired, status: 401, backend: "-"},
		{name: "not a JWT", target: "/api", session: opaque, status: 401, backend: "-"},
		{name: "fresh", target: "/api", session: fresh, status: 200, backend: "Bearer " + freshJWT},
	})
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

// The example from the readme: an API router requiring support:mobile and level 3, a UI router
// redirecting to /login, /health and /static/* public.
func TestReadmeAccessExample(t *testing.T) {
	support, user := randomID(t), randomID(t)
	supportJWT := makeJWT(`{"sub":"s1","scopes":"support:mobile,user:all","level":"3.1"}`)
	storeSession(t, support, supportJWT)
	storeSession(t, user, makeJWT(`{"sub":"u1","scopes":"user:all","level":"2"}`))
	api, apiNext := newTestMiddleware(t, func(c *Config) {
		c.Unauthenticated = "reject"
		c.Realm = "api"
		c.PublicPaths = []string{"/health"}
		c.RequiredScopes = []string{"support:mobile"}
		c.MinimumLevel = "3"
		c.ClaimHeaders = map[string]string{"sub": "X-User-Id"}
	})
	ui, uiNext := newTestMiddleware(t, func(c *Config) {
		c.Unauthenticated = "login"
		c.LoginURL = "/login"
		c.PublicPaths = []string{"/health", "/static/*"}
	})
	nav := map[string]string{"Sec-Fetch-Mode": "navigate"}
	runPolicyCases(t, api, apiNext, []policyCase{
		{name: "api: support", target: "/api/tickets", session: support, status: 200, backend: "Bearer " + supportJWT},
		{name: "api: user", target: "/api/tickets", session: user, status: 403, backend: "-"},
		{name: "api: nobody", target: "/api/tickets", headers: nav, status: 401, backend: "-"},
		{name: "api: health", target: "/health", status: 200, backend: ""},
	})
	runPolicyCases(t, ui, uiNext, []policyCase{
		{name: "ui: user", target: "/app", session: user, status: 200, backend: "Bearer " + makeJWT(`{"sub":"u1","scopes":"user:all","level":"2"}`)},
		{name: "ui: nobody", target: "/app", headers: nav, status: 302, backend: "-"},
		{name: "ui: static", target: "/static/app.css", headers: nav, status: 200, backend: ""},
		{name: "ui: login page", target: "/login?next=%2Fapp", headers: nav, status: 200, backend: ""},
	})
	// The redirect names where to come back to, and that is a path on this origin.
	req := requestTo(t, http.MethodGet, "/app/orders?id=3")
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	loc, _ := url.Parse(serve(ui, req).Header().Get("Location"))
	if loc.Path != "/login" || loc.Query().Get("next") != "/app/orders?id=3" {
		t.Errorf("Location %q", loc)
	}
}
