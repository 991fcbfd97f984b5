package e2e

import (
	"net/http"
	"reflect"
	"testing"
)

// Session refresh and the session cache inside a real Traefik: sj-refresh (refreshBelow 1h, the refresh
// endpoint in this process) and sj-cached (cacheTTL 1m).

func TestSessionRefreshThroughTraefik(t *testing.T) {
	token := makeJWT(`{"sub":"refresh-user"}`)
	expiring := newSession(t, "", token) // EX 600: below refreshBelow
	forever := newSession(t, "", token)
	if _, err := h.redisDo("PERSIST", forever); err != nil {
		t.Fatal(err)
	}
	authMu.Lock()
	authCalls = nil
	authMu.Unlock()

	res, body := send(t, http.MethodGet, "/refresh/page", "Cookie", "session_uuid="+signCookie(t, secret, expiring))
	if res.StatusCode != http.StatusOK || backendSaw(t, body).Get("Authorization") != "Bearer "+token {
		t.Fatalf("status %d, body %s", res.StatusCode, body)
	}
	if got := res.Header.Values("Set-Cookie"); !reflect.DeepEqual(got, refreshCookies) {
		t.Errorf("the browser got Set-Cookie %q, want the auth service's %q", got, refreshCookies)
	}
	authMu.Lock()
	calls := append([]string(nil), authCalls...)
	authMu.Unlock()
	if want := []string{"POST /auth/v1/refresh Bearer " + token}; !reflect.DeepEqual(calls, want) {
		t.Errorf("the auth service got %q, want %q", calls, want)
	}

	// A key without expiry is never refreshed.
	res, _ = send(t, http.MethodGet, "/refresh/page", "Cookie", "session_uuid="+signCookie(t, secret, forever))
	if res.StatusCode != http.StatusOK || len(res.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("a session without expiry: status %d, Set-Cookie %q", res.StatusCode, res.Header.Values("Set-Cookie"))
	}
}

func TestSessionCacheThroughTraefik(t *testing.T) {
	token := makeJWT(`{"sub":"cached-user"}`)
	id := newSession(t, "", token)
	cookie := "session_uuid=" + signCookie(t, secret, id)
	if _, body := send(t, http.MethodGet, "/cached/a", "Cookie", cookie); backendSaw(t, body).Get("Authorization") != "Bearer "+token {
		t.Fatalf("first request: %s", body)
	}
	if _, err := h.redisDo("DEL", id); err != nil {
		t.Fatal(err)
	}
	// The cached middleware still knows the session (the documented trade-off); an uncached one does not.
	if _, body := send(t, http.MethodGet, "/cached/b", "Cookie", cookie); backendSaw(t, body).Get("Authorization") != "Bearer "+token {
		t.Errorf("a cached session was not served from the cache: %s", body)
	}
	if _, body := send(t, http.MethodGet, "/strip/b", "Cookie", cookie); backendSaw(t, body).Get("Authorization") != "" {
		t.Errorf("an uncached middleware still found a deleted session: %s", body)
	}
}
