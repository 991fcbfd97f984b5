package sessionjwt

import (
	"strconv"
	"testing"
	"time"
)

// Requests remember a cookie value that verified, with its session's key, and nothing else.
func TestVerifiedCookiesRemembersOnlyValidValues(t *testing.T) {
	h, next := newTestMiddleware(t, func(c *Config) { c.Unauthenticated = policyReject })
	mw := h.(*SessionJWT)
	m := mw.cookies
	id := randomID(t)
	storeSession(t, id, testJWT)
	good := signForTest(m.signer, id, 0)
	for i := 0; i < 3; i++ {
		if rec := serve(h, requestWithCookie("session_uuid", good)); rec.Code != 200 {
			t.Fatalf("request %d: status %d", i, rec.Code)
		}
		if _, got := next.seen(); got.Get("Authorization") != "Bearer "+testJWT {
			t.Fatalf("request %d: Authorization %q", i, got.Get("Authorization"))
		}
	}
	// A character inside the signature, not its last one: the last of 43 base64 characters carries only
	// four bits, and decoders (Go's and Python's alike) ignore the other two.
	i := len(good) - 5
	c := "A"
	if good[i] == 'A' {
		c = "B"
	}
	flipped := good[:i] + c + good[i+1:]
	for _, bad := range []string{good + "x", id, flipped} {
		if rec := serve(h, requestWithCookie("session_uuid", bad)); rec.Code != 401 {
			t.Fatalf("%q: status %d", bad, rec.Code)
		}
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if e, n := m.verified[good], len(m.verified); n != 1 || e.key != m.keyPrefix+id || e.expires != noExpiry {
		t.Fatalf("%d entries, %+v for the valid cookie; want only it, remembered for good", n, e)
	}
}

// A remembered timestamped cookie stops verifying when it would have expired: remembered until the second
// after signing time plus maxAge, as itsdangerous counts, and refused by a request from then on.
func TestVerifiedCookiesExpireWithTheirTimestamp(t *testing.T) {
	h, _ := newTestMiddleware(t, func(c *Config) { c.MaxAge = "2s"; c.Unauthenticated = policyReject })
	mw := h.(*SessionJWT)
	m := mw.cookies
	signedAt := time.Now().Unix()
	id := randomID(t)
	storeSession(t, id, testJWT)
	cookie := signForTest(m.signer, id, signedAt)
	if verifyCookie(m, cookie, time.Unix(signedAt, 0).UnixNano()) == "" {
		t.Fatal("fresh cookie refused")
	}
	m.mu.RLock()
	expires := m.verified[cookie].expires
	m.mu.RUnlock()
	if want := time.Unix(signedAt+3, 0).UnixNano(); expires != want {
		t.Fatalf("remembered until %d, want %d (signed + maxAge + 1 s)", expires, want)
	}
	if rec := serve(h, requestWithCookie("session_uuid", cookie)); rec.Code != 200 {
		t.Fatalf("remembered cookie: status %d", rec.Code)
	}
	time.Sleep(time.Until(time.Unix(0, expires)))
	if rec := serve(h, requestWithCookie("session_uuid", cookie)); rec.Code != 401 {
		t.Fatalf("a remembered cookie outlived maxAge: status %d", rec.Code)
	}
}

func TestVerifiedCookiesStayBounded(t *testing.T) {
	h, _ := newTestMiddleware(t, nil)
	mw := h.(*SessionJWT)
	m := mw.cookies
	now := time.Now().UnixNano()
	for i := 0; i < maxVerified+10; i++ {
		if verifyCookie(m, signForTest(m.signer, "s"+strconv.Itoa(i), 0), now) == "" {
			t.Fatal("refused")
		}
	}
	if n := len(m.verified); n > maxVerified {
		t.Fatalf("%d entries, bound %d", n, maxVerified)
	}
	long := signForTest(m.signer, string(make([]byte, maxVerifiedSize)), 0)
	before := len(m.verified)
	if verifyCookie(m, long, now) == "" || len(m.verified) != before {
		t.Fatal("an oversized cookie value was stored")
	}
}
