package sessionjwt

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
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
