package sessionjwt

import (
	"strconv"
	"testing"
	"time"
)

func TestVerifiedCookiesRemembersOnlyValidValues(t *testing.T) {
	h, _ := newTestMiddleware(t, nil)
	m := h.(*SessionJWT)
	now := time.Now()
	good := signForTest(m.signer, "session-1", 0)
	for i := 0; i < 3; i++ {
		if id, ok := sessionFromCookie(m, good, now); !ok || id != "session-1" {
			t.Fatalf("call %d: %q, %v", i, id, ok)
		}
	}
	for _, bad := range []string{good + "x", "session-1", good[:len(good)-1] + "A"} {
		if _, ok := sessionFromCookie(m, bad, now); ok {
			t.Fatalf("%q verified", bad)
		}
	}
	if len(m.verified.entries) != 1 {
		t.Fatalf("%d entries, want only the valid cookie", len(m.verified.entries))
	}
}

// A remembered timestamped cookie stops verifying when it would have expired.
func TestVerifiedCookiesExpireWithTheirTimestamp(t *testing.T) {
	h, _ := newTestMiddleware(t, func(c *Config) { c.MaxAge = "1h" })
	m := h.(*SessionJWT)
	signedAt := time.Now().Add(-30 * time.Minute)
	cookie := signForTest(m.signer, "session-2", signedAt.Unix())
	if _, ok := sessionFromCookie(m, cookie, time.Now()); !ok {
		t.Fatal("fresh cookie refused")
	}
	if _, ok := sessionFromCookie(m, cookie, signedAt.Add(time.Hour)); !ok {
		t.Fatal("refused at exactly maxAge")
	}
	if _, ok := sessionFromCookie(m, cookie, signedAt.Add(time.Hour+time.Second)); ok {
		t.Fatal("a remembered cookie outlived maxAge")
	}
}

func TestVerifiedCookiesStayBounded(t *testing.T) {
	h, _ := newTestMiddleware(t, nil)
	m := h.(*SessionJWT)
	now := time.Now()
	for i := 0; i < maxVerified+10; i++ {
		if _, ok := sessionFromCookie(m, signForTest(m.signer, "s"+strconv.Itoa(i), 0), now); !ok {
			t.Fatal("refused")
		}
	}
	if n := len(m.verified.entries); n > maxVerified {
		t.Fatalf("%d entries, bound %d", n, maxVerified)
	}
	long := signForTest(m.signer, string(make([]byte, maxVerifiedSize)), 0)
	before := len(m.verified.entries)
	if _, ok := sessionFromCookie(m, long, now); !ok || len(m.verified.entries) != before {
		t.Fatal("an oversized cookie value was stored")
	}
}

func TestPrintableASCIIIsSpaceToTilde(t *testing.T) {
	want := ""
	for c := 0x20; c <= 0x7e; c++ {
		want += string(rune(c))
	}
	if printableASCII != want {
		t.Fatalf("printableASCII = %q", printableASCII)
	}
}
