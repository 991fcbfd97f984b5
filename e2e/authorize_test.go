package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Delegated authorization inside a real Traefik: the sj-ta-* middlewares ask the tinyauth stand-in
// (backend_test.go) about every request.

func TestTinyauthThroughTraefik(t *testing.T) {
	cases := []struct {
		name, path, caller string
		status             int
		body               string
	}{
		{"allowed, with the caller's identity", "/ta-api/apples/fred", "alice", 200, ""},
		{"a known caller without the permission", "/ta-api/apples/wilma", "alice", 403, `{"error":"not_permitted"}`},
		{"a caller tinyauth does not know", "/ta-api/apples/fred", "mallory", 401, `{"error":"unauthenticated"}`},
		{"a path with two readings", "/ta-api/apples/fr%2Fed", "alice", 400, `{"error":"invalid_path"}`},
		{"the service down", "/ta-down/x", "alice", 503, `{"error":"authorization service unavailable"}`},
		{"the service answering HTML", "/ta-garbage/x", "alice", 503, `{"error":"authorization service unavailable"}`},
		{"bypass", "/ta-bypass/x", "", 200, ""},
	}
	for _, c := range cases {
		cookie := ""
		if c.caller != "" {
			cookie = "tinysess=" + c.caller
		}
		res, body := send(t, http.MethodGet, c.path, "Cookie", cookie, "Accept", "application/json", "X-Identity", "forged")
		if res.StatusCode != c.status || (c.body != "" && strings.TrimSpace(body) != c.body) {
			t.Errorf("%s: status %d, body %q; want %d %s", c.name, res.StatusCode, body, c.status, c.body)
			continue
		}
		if c.status != 200 {
			continue
		}
		want := []string{"alice"}
		if c.caller == "" {
			want = nil
		}
		if got := backendSaw(t, body).Values("X-Identity"); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: backend saw X-Identity %q, want %q", c.name, got, want)
		}
	}

	// Slow past the timeout: 503 at the timeout, never a hang.
	start := time.Now()
	res, body := send(t, http.MethodGet, "/ta-slow/x", "Cookie", "tinysess=alice")
	if elapsed := time.Since(start); res.StatusCode != 503 || elapsed > 2*time.Second {
		t.Errorf("slow service: status %d after %v, body %q", res.StatusCode, elapsed, body)
	}

	// The browser: a session tinyauth does not allow into the web interface goes to the login page.
	session := "session_uuid=" + signCookie(t, secret, newSession(t, "", makeJWT(`{"sub":"x"}`)))
	res, _ = send(t, http.MethodGet, "/ta-ui/page", "Cookie", session+"; tinysess=mallory",
		"Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document", "Accept", "text/html")
	loc, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || loc == nil || loc.Path != "/ta-ui/login" {
		t.Errorf("navigation refused by tinyauth: status %d, Location %q", res.StatusCode, res.Header.Get("Location"))
	}
	res, body = send(t, http.MethodGet, "/ta-ui/page", "Cookie", session+"; tinysess=alice", "Accept", "text/html")
	if res.StatusCode != 200 {
		t.Errorf("web interface for alice: status %d, body %q", res.StatusCode, body)
	}
}
