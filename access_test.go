package sessionjwt

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// requestTo builds a request the way Go's server parses one off the wire, so spellings such as "//admin"
// or "/%61dmin" reach the middleware exactly as they would inside Traefik.
func requestTo(t *testing.T, method, target string) *http.Request {
	t.Helper()
	u, err := url.ParseRequestURI(target)
	if err != nil {
		t.Fatalf("ParseRequestURI(%q): %v", target, err)
	}
	req := httptest.NewRequest(method, "http://example.test/", nil)
	req.URL = u
	req.RequestURI = target
	return req
}

func TestPublicPathsMatchOnlyCanonicalSpellings(t *testing.T) {
	public, err := newPublicPaths([]string{"/health", "/static/*", "/public/*", "/"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		target string
		want   bool
	}{
		{"/health", true},
		{"/health?token=x", true}, // the query never takes part
		{"/", true},
		{"/static/app.css", true},
		{"/static/", true},
		{"/static/a/b/c.js", true},
		{"/static/my%20file.css", true}, // ordinary percent-encoding decodes first
		{"/static//app.css", true},      // still under /static/ either way it is read
		{"/health/", false},
		{"/healthz", false},
		{"/static", false},
		{"/staticx/app.css", false},
		{"/admin", false},
		{"/admin?x=/public/", false},
		{"/admin?/health", false},
		{"/public/../admin", false},
		{"/public/%2e%2e/admin", false},
		{"/public%2F..%2Fadmin", false},
		{"/public/..;/admin", false},
		{"/public/x/../../admin", false},
		{"/static/../../admin", false},
		{"//admin", false},
		{"/%61dmin", false},
		{"/admin;x", false},
		{"/health;x", false},
		{"/health%00", false},
		{"/public/%252e%252e/admin", false},
		{"/public/..%5cadmin", false},
		{"/public\\..\\admin", false},
		{"/public/x#/../../admin", false},
		{"/admin/../health", false}, // public cleaned, but not as written: a backend may not clean
		{"/./health", false},
	}
	for _, tt := range tests {
		req := requestTo(t, http.MethodGet, tt.target)
		if got := public.match(req.URL.Path); got != tt.want {
			t.Errorf("%q (path %q): public = %v, want %v", tt.target, req.URL.Path, got, tt.want)
		}
	}
}

func TestNewPublicPathsRejectsUncleanEntries(t *testing.T) {
	good := []string{"/", "/*", "/health", "/health/", "/static/*", "/a/b/*"}
	for _, e := range good {
		if _, err := newPublicPaths([]string{e}); err != nil {
			t.Errorf("%q: %v", e, err)
		}
	}
	bad := []string{"", "health", "*", "/static*", "/static/*/x", "/a/../b", "/a//b", "/a/./b", "/a;b", "/a%2fb", "/a?b", "/a#b", "/a\\b"}
	for _, e := range bad {
		if _, err := newPublicPaths([]string{e}); err == nil || !strings.Contains(err.Error(), "publicPaths[0]") {
			t.Errorf("%q: err = %v, want one naming publicPaths[0]", e, err)
		}
	}
}

func TestIsPreflight(t *testing.T) {
	tests := []struct {
		method, origin, requestMethod string
		want                          bool
	}{
		{"OPTIONS", "https://app.example", "POST", true},
		{"OPTIONS", "", "POST", false},
		{"OPTIONS", "https://app.example", "", false},
		{"GET", "https://app.example", "POST", false},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(tt.method, "http://example.test/api", nil)
		if tt.origin != "" {
			req.Header.Set("Origin", tt.origin)
		}
		if tt.requestMethod != "" {
			req.Header.Set("Access-Control-Request-Method", tt.requestMethod)
		}
		if got := isPreflight(req); got != tt.want {
			t.Errorf("%+v: isPreflight = %v", tt, got)
		}
	}
}

func TestIsNavigation(t *testing.T) {
	const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
	tests := []struct {
		name    string
		method  string
		headers map[string]string
		want    bool
	}{
		{"top-level navigation", "GET", map[string]string{"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Accept": browserAccept}, true},
		{"iframe navigation", "GET", map[string]string{"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe"}, true},
		{"HEAD navigation", "HEAD", map[string]string{"Sec-Fetch-Mode": "navigate"}, true},
		{"fetch asking for HTML", "GET", map[string]string{"Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty", "Accept": "text/html"}, false},
		{"XHR", "GET", map[string]string{"Sec-Fetch-Mode": "cors", "Accept": "application/json"}, false},
		{"image", "GET", map[string]string{"Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}, false},
		{"form POST", "POST", map[string]string{"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}, false},
		{"websocket", "GET", map[string]string{"Sec-Fetch-Mode": "websocket", "Upgrade": "websocket", "Accept": browserAccept}, false},
		{"upgrade without fetch metadata", "GET", map[string]string{"Upgrade": "websocket", "Accept": "text/html"}, false},
		{"old browser", "GET", map[string]string{"Accept": browserAccept}, true},
		{"html preferred by q", "GET", map[string]string{"Accept": "application/json;q=0.5, text/html"}, true},
		{"json preferred", "GET", map[string]string{"Accept": "text/html;q=0.5, application/json"}, false},
		{"html refused", "GET", map[string]string{"Accept": "text/html;q=0, */*"}, false},
		{"API client", "GET", map[string]string{"Accept": "application/json"}, false},
		{"axios", "GET", map[string]string{"Accept": "application/json, text/plain, */*"}, false},
		{"curl", "GET", map[string]string{"Accept": "*/*"}, false},
		{"no headers", "GET", nil, false},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(tt.method, "http://example.test/app", nil)
		for k, v := range tt.headers {
			req.Header.Set(k, v)
		}
		if got := isNavigation(req); got != tt.want {
			t.Errorf("%s: isNavigation = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// The return path must always be read by a browser as a path on the same origin.
func TestLoginLocationStaysOnOrigin(t *testing.T) {
	tests := []struct {
		login, target, wantNext string
	}{
		{"/login", "/app/page?tab=2", "/app/page?tab=2"},
		{"/login", "/", "/"},
		{"/login", "//evil.example/x", "/evil.example/x"},
		{"/login", "///evil.example", "/evil.example"},
		{"/login", "/\\evil.example", "/%5Cevil.example"},
		{"/login", "/%2F%2Fevil.example", "/%2F%2Fevil.example"},
		{"/login", "/a?next=https://evil.example", "/a?next=https://evil.example"},
		{"https://auth.example/login?app=ui", "/app", "/app"},
	}
	for _, tt := range tests {
		login, err := parseLoginURL(tt.login)
		if err != nil {
			t.Fatal(err)
		}
		loc, err := url.Parse(loginLocation(login, "next", requestTo(t, http.MethodGet, tt.target)))
		if err != nil {
			t.Fatalf("%s: %v", tt.target, err)
		}
		next := loc.Query().Get("next")
		if next != tt.wantNext {
			t.Errorf("%s: next = %q, want %q", tt.target, next, tt.wantNext)
		}
		// Whatever the spelling, a browser resolving next against the page stays on the page's origin.
		base, _ := url.Parse("https://app.example/login")
		if r, err := base.Parse(next); err != nil || r.Host != "app.example" || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
			t.Errorf("%s: next %q would leave the origin (%v)", tt.target, next, r)
		}
		if strings.HasPrefix(tt.login, "https:") && (loc.Host != "auth.example" || loc.Query().Get("app") != "ui") {
			t.Errorf("%s: location %q lost the login URL's host or query", tt.target, loc)
		}
	}
}

func TestParseLoginURL(t *testing.T) {
	good := []string{"/login", "/auth/login?app=ui", "https://auth.example/login", "http://localhost:8080/login"}
	for _, s := range good {
		if _, err := parseLoginURL(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	bad := []string{"login", "//evil.example", "/\\evil.example", "javascript:alert(1)", "ftp://x/login",
		"https:///login", "https://user:pw@auth.example/login", "/login#x", "/login\r\nX: y", ""}
	for _, s := range bad {
		if _, err := parseLoginURL(s); err == nil {
			t.Errorf("%q: accepted", s)
		}
	}
}
